package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imdsd/imdsd/internal/control"
)

// awsConfigFor renders the AWS config with the given roles for dev and ops.
func awsConfigFor(roles map[string]string) string {
	return `[profile base]
region = eu-west-1

[profile dev]
role_arn = ` + roles["dev"] + `
source_profile = base
region = eu-west-2

[profile ops]
role_arn = ` + roles["ops"] + `
source_profile = base
`
}

// servedRole asks IMDS directly (as an SDK would) which role the served
// credentials belong to, via the fake STS's record of what it issued.
func (e *testEnv) servedRole() (string, error) {
	tok := e.imdsToken()
	h := map[string]string{"X-aws-ec2-metadata-token": tok}
	code, name := e.get(e.imdsURL+"/latest/meta-data/iam/security-credentials/", h)
	if code != 200 {
		return "", fmt.Errorf("listing: %d %s", code, name)
	}
	code, body := e.get(e.imdsURL+"/latest/meta-data/iam/security-credentials/"+name, h)
	if code != 200 {
		return "", fmt.Errorf("document: %d %s", code, body)
	}
	var doc struct{ AccessKeyId string }
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		return "", err
	}
	iss, ok := e.sts.Issued(doc.AccessKeyId)
	if !ok {
		return "", fmt.Errorf("served key %s was not issued by the fake STS", doc.AccessKeyId)
	}
	return iss.RoleArn, nil
}

// k8sLink lays out path as a Kubernetes-style projected file: path ->
// ..data/<name>, ..data -> a timestamped directory. swap replaces ..data
// atomically, as the kubelet and dotfile managers do.
type k8sLink struct {
	dir, name string
	n         int
}

func newK8sLink(t *testing.T, path, content string) *k8sLink {
	l := &k8sLink{dir: filepath.Dir(path), name: filepath.Base(path)}
	must(t, os.Remove(path))
	l.swap(t, content)
	must(t, os.Symlink(filepath.Join("..data", l.name), path))
	return l
}

func (l *k8sLink) swap(t *testing.T, content string) {
	t.Helper()
	l.n++
	ts := fmt.Sprintf("..2026_%04d", l.n)
	must(t, os.MkdirAll(filepath.Join(l.dir, ts), 0o700))
	must(t, os.WriteFile(filepath.Join(l.dir, ts, l.name), []byte(content), 0o600))
	tmp := filepath.Join(l.dir, "..data_tmp")
	os.Remove(tmp)
	must(t, os.Symlink(ts, tmp))
	must(t, os.Rename(tmp, filepath.Join(l.dir, "..data")))
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[int(float64(len(s)-1)*p)]
}

// TestHotReload runs one round of every kind of edit (hotReload) under
// client load, quickly enough for every `make test`.
func TestHotReload(t *testing.T) {
	t.Parallel()
	hotReload(t, 1)
}

// TestHotReloadUnderLoad runs 12 rounds, 60 edits; opt-in (IMDSD_SOAK).
func TestHotReloadUnderLoad(t *testing.T) {
	soakPlan(t)
	hotReload(t, 12)
}

// hotReload drives a running daemon under continuous client load through
// rounds of five edits: an editor's rename-save and an in-place rewrite of
// the AWS config, a Kubernetes-style symlink swap of imdsd's config, and
// two invalid files. It checks what users see: not one client resolution
// fails; each valid edit's role is served; after an invalid edit the last
// good role is still served and `imdsd status` names the error. (Not the
// log: the debounce rightly merges edits that land together.)
func hotReload(t *testing.T, rounds int) {
	e := startEnv(t, envOptions{watch: true, ecsTOML: `profiles = ["ops"]`})
	// imdsd's own config becomes a Kubernetes-style symlinked file.
	cfgText := readFile(t, e.cfgPath)
	link := newK8sLink(t, e.cfgPath, cfgText)

	waitRole := func(want string, since time.Time) time.Duration {
		t.Helper()
		var got string
		var err error
		for deadline := since.Add(patience); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if got, err = e.servedRole(); err == nil && got == want {
				return time.Since(since)
			}
		}
		st, serr := e.client().Status(context.Background())
		t.Fatalf("role %s not served %v after the edit (got %s, %v); status: last reload %v, error %q (%v)\n%s",
			want, patience, got, err, st.LastReload, st.ReloadError, serr, tail(e.logs.String(), 60))
		return 0
	}
	// reloaded waits until `imdsd status` reports a reload finished after
	// since whose error ok accepts ("" for success).
	reloaded := func(since time.Time, ok func(reloadErr string) bool, what string) {
		t.Helper()
		var st control.Status
		var err error
		for deadline := time.Now().Add(patience); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			st, err = e.client().Status(context.Background())
			if err == nil && st.LastReload.After(since) && ok(st.ReloadError) {
				return
			}
		}
		t.Fatalf("%s: status after %v: last reload %v, error %q (%v)", what, patience, st.LastReload, st.ReloadError, err)
	}
	waitRole(devRole, time.Now())

	// Continuous load: IMDSv2 (full SDK resolution) and ECS, 6 goroutines,
	// each under way before the first edit.
	ctx, stopLoad := context.WithCancel(context.Background())
	var wg, warm sync.WaitGroup
	var ok, failed atomic.Int64
	var firstErr atomic.Pointer[string]
	for i := range 6 {
		wg.Add(1)
		warm.Add(1)
		go func() {
			defer wg.Done()
			first := true
			for ctx.Err() == nil {
				var err error
				if i%2 == 0 {
					_, err = e.ec2Creds(context.Background())
				} else {
					_, err = e.ecsCreds(context.Background(), "/creds")
					if err == nil {
						_, err = e.ecsCreds(context.Background(), "/role/ops")
					}
				}
				if err != nil {
					failed.Add(1)
					s := err.Error()
					firstErr.CompareAndSwap(nil, &s)
				} else {
					ok.Add(1)
				}
				if first {
					first = false
					warm.Done()
				}
			}
		}()
	}
	warm.Wait()

	// Each valid edit changes the role IMDS serves: an AWS edit gives the
	// served profile the one role neither profile has; a symlink swap
	// switches the served profile (dev <-> ops), whose roles always differ.
	roleOf := map[string]string{"dev": devRole, "ops": opsRole}
	profile := "dev"
	third := func() string {
		for _, r := range []string{devRole, opsRole, qaRole} {
			if r != roleOf["dev"] && r != roleOf["ops"] {
				return r
			}
		}
		panic("unreachable")
	}
	imdsdConfig := func() string {
		return strings.Replace(cfgText, `profile = "dev"`, `profile = "`+profile+`"`, 1)
	}
	// Every AWS config written is one never written before. The watcher
	// reports a file against the last content it saw, so when a reload it
	// did not trigger (the second look after a profile vanished mid-write)
	// reads a state in between, a later edit back to the content the
	// watcher last saw goes unreported and the daemon keeps the state in
	// between: a known daemon gap, which this test is not about.
	awsConfig := func(roles map[string]string, note string) string {
		return e.awsText(awsConfigFor(roles)) + "# " + note + "\n"
	}
	var delays []time.Duration
	edits, invalid := 0, 0
	for i := range 5 * rounds {
		since := time.Now()
		switch i % 5 {
		case 0: // editor rename-save of ~/.aws/config
			roleOf[profile] = third()
			writeAtomic(t, e.awsCfg, awsConfig(roleOf, fmt.Sprint("edit ", i)))
		case 1: // in-place rewrite (truncate + write)
			roleOf[profile] = third()
			must(t, os.WriteFile(e.awsCfg, []byte(awsConfig(roleOf, fmt.Sprint("edit ", i))), 0o600))
		case 2: // symlink swap of imdsd's config: switch the served profile
			profile = map[string]string{"dev": "ops", "ops": "dev"}[profile]
			link.swap(t, imdsdConfig())
		case 3: // an invalid role ARN for the served profile
			bad := map[string]string{"dev": roleOf["dev"], "ops": roleOf["ops"]}
			bad[profile] = "arn:aws:iam::12345:role/broken"
			writeAtomic(t, e.awsCfg, awsConfig(bad, fmt.Sprint("edit ", i)))
			reloaded(since, func(err string) bool { return strings.Contains(err, "role_arn") }, fmt.Sprintf("edit %d (bad role_arn)", i))
		case 4: // an invalid imdsd config (unknown key)
			link.swap(t, imdsdConfig()+"\nrefresh_befor = \"10m\"\n")
			reloaded(since, func(err string) bool { return strings.Contains(err, "refresh_befor") }, fmt.Sprintf("edit %d (unknown key)", i))
		}
		want := roleOf[profile]
		if i%5 >= 3 {
			invalid++
			if got, err := e.servedRole(); err != nil || got != want {
				t.Fatalf("edit %d (invalid): serving %s, %v; want last good %s", i, got, err, want)
			}
			// Restore valid content for the next round.
			restored := time.Now()
			if i%5 == 3 {
				writeAtomic(t, e.awsCfg, awsConfig(roleOf, fmt.Sprint("edit ", i, " undone")))
			} else {
				link.swap(t, imdsdConfig())
			}
			reloaded(restored, func(err string) bool { return err == "" }, fmt.Sprintf("edit %d restored", i))
			continue
		}
		edits++
		delays = append(delays, waitRole(want, since))
	}
	stopLoad()
	wg.Wait()

	if f := failed.Load(); f > 0 {
		t.Fatalf("%d of %d client resolutions failed during reloads; first: %s", f, f+ok.Load(), *firstErr.Load())
	}
	t.Logf("%d valid edits + %d invalid under load: %d client resolutions, 0 failed; edit->served p50 %v p99 %v",
		edits, invalid, ok.Load(), percentile(delays, 0.5).Round(time.Millisecond), percentile(delays, 0.99).Round(time.Millisecond))
}

func TestReloadKeepsUnchangedProfilesAndDropsRemoved(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{ecsTOML: `profiles = ["ops"]`})
	ctx := context.Background()
	dev1, err := e.ecsCreds(ctx, "/creds")
	if err != nil {
		t.Fatal(err)
	}
	ops1, err := e.ecsCreds(ctx, "/role/ops")
	if err != nil {
		t.Fatal(err)
	}
	before := e.sts.CallCount("AssumeRole")

	// Change dev only (its role), and add an unrelated comment: ops must
	// keep its cached credentials and cause no STS call.
	writeAtomic(t, e.awsCfg, "# edited\n"+strings.Replace(readFile(t, e.awsCfg), "role_arn = "+devRole, "role_arn = "+qaRole, 1))
	must(t, e.d.Reload(context.Background()))
	dev2, err := e.ecsCreds(ctx, "/creds")
	if err != nil {
		t.Fatal(err)
	}
	ops2, err := e.ecsCreds(ctx, "/role/ops")
	if err != nil {
		t.Fatal(err)
	}
	if ops2.AccessKeyID != ops1.AccessKeyID {
		t.Fatal("unchanged profile ops got new credentials on reload")
	}
	if dev2.AccessKeyID == dev1.AccessKeyID {
		t.Fatal("changed profile dev kept its old credentials")
	}
	if iss, _ := e.sts.Issued(dev2.AccessKeyID); iss.RoleArn != qaRole {
		t.Fatalf("dev now serves %s, want %s", iss.RoleArn, qaRole)
	}
	if n := e.sts.CallCount("AssumeRole") - before; n != 1 {
		t.Fatalf("%d AssumeRole calls for one changed profile, want 1", n)
	}

	// Several reloads with nothing changed: no STS call at all.
	before = e.sts.CallCount("")
	for range 5 {
		must(t, e.d.Reload(context.Background()))
	}
	if n := e.sts.CallCount("") - before; n != 0 {
		t.Fatalf("%d STS calls across no-op reloads", n)
	}

	// Remove ops from imdsd's config: 404 and its credentials dropped.
	b := e.d.gen.Load().brokers["ops"]
	e.writeConfig("", "")
	must(t, e.d.Reload(context.Background()))
	if code, _ := e.get(e.ecsURL+"/role/ops", map[string]string{"Authorization": e.token}); code != http.StatusNotFound {
		t.Fatalf("removed profile: %d, want 404", code)
	}
	waitFor(t, patience, func() bool { return b.State().AccessKeyID == "" }, "removed profile's credentials still in memory")

	// Remove dev from ~/.aws/config: it stops being served too.
	// (After a short recheck, so a file caught mid-rewrite drops nothing.)
	writeAtomic(t, e.awsCfg, strings.Replace(readFile(t, e.awsCfg), "[profile dev]", "[profile gone]", 1))
	must(t, e.d.Reload(context.Background()))
	waitFor(t, patience, func() bool {
		code, _ := e.get(e.ecsURL+"/creds", map[string]string{"Authorization": e.token})
		return code == http.StatusNotFound
	}, "profile removed from the AWS config still served, want 404")
}

func TestInvalidReloadKeepsLastGood(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	c1, err := e.ec2Creds(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(){
		"toml syntax": func() { writeAtomic(t, e.cfgPath, "profile = \"dev\n") },
		"bad role arn": func() {
			e.writeAWSConfig(strings.Replace(baseAWSConfig, devRole, "arn:aws:iam::1:role/x", 1))
		},
		"source_profile loop": func() {
			e.writeAWSConfig(baseAWSConfig + "\n[profile a]\nrole_arn = " + opsRole + "\nsource_profile = b\n[profile b]\nrole_arn = " + opsRole + "\nsource_profile = a\n")
			e.writeConfig("", `profiles = ["a"]`)
		},
	} {
		edit()
		err := e.d.Reload(context.Background())
		if err == nil {
			t.Fatalf("%s: reload accepted", name)
		}
		t.Logf("%s: %v", name, err)
		c, err := e.ec2Creds(context.Background())
		if err != nil || c.AccessKeyID != c1.AccessKeyID {
			t.Fatalf("%s: after a rejected reload got %s, %v; want the last good %s", name, c.AccessKeyID, err, c1.AccessKeyID)
		}
		e.writeAWSConfig(baseAWSConfig)
		e.writeConfig("", "")
	}
	// The errors point at the file and line.
	e.writeAWSConfig(strings.Replace(baseAWSConfig, devRole, "arn:aws:iam::1:role/x", 1))
	line := slices.Index(strings.Split(readFile(t, e.awsCfg), "\n"), "role_arn = arn:aws:iam::1:role/x") + 1
	where := fmt.Sprintf("%s:%d", e.awsCfg, line)
	err = e.d.Reload(context.Background())
	if line == 0 || err == nil || !strings.Contains(err.Error(), where) || !strings.Contains(err.Error(), "role_arn") {
		t.Fatalf("bad role_arn error %v; want %s and the key", err, where)
	}
}

func TestListenerChangeRebindsWithoutTouchingOthers(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	tok := e.imdsToken()
	oldECS := e.ecsURL
	// Move ECS to a new port; IMDS keeps its listener (and its tokens).
	writeAtomic(t, e.cfgPath, strings.Replace(readFile(t, e.cfgPath), "[ecs]\nlisten = [\"127.0.0.1:0\"]", "[ecs]\nlisten = [\"127.0.0.1:0\", \"[::1]:0\"]", 1))
	must(t, e.d.Reload(context.Background()))
	addrs := e.d.Addrs()
	if len(addrs["ecs"]) != 2 || len(addrs["imds"]) != 1 || "http://"+addrs["imds"][0] != e.imdsURL {
		t.Fatalf("after reload listeners %v", addrs)
	}
	if code, _ := e.get(e.imdsURL+"/latest/meta-data/instance-id", map[string]string{"X-aws-ec2-metadata-token": tok}); code != 200 {
		t.Fatalf("IMDS token from before the reload: %d", code)
	}
	found := false
	for _, a := range addrs["ecs"] {
		found = found || "http://"+a == oldECS
	}
	if !found {
		t.Fatalf("unchanged ECS listener %s was rebound: %v", oldECS, addrs["ecs"])
	}
}

func waitFor(t *testing.T, d time.Duration, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(msg)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// A reload that fails late (a listen address already taken) changes
// nothing, not even settings applied to the brokers kept.
func TestFailedReloadLeavesRunningBrokersUntouched(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	b := e.d.gen.Load().brokers["dev"]
	before := b.State().RefreshBefore
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	e.writeConfig(`refresh_before = "2h"`, "")
	writeAtomic(t, e.cfgPath, strings.Replace(readFile(t, e.cfgPath), "[ecs]\nlisten = [\"127.0.0.1:0\"]", "[ecs]\nlisten = [\"127.0.0.1:0\", \""+busy.Addr().String()+"\"]", 1))
	if err := e.d.Reload(context.Background()); err == nil || !strings.Contains(err.Error(), "ecs.listen") {
		t.Fatalf("reload onto a busy port: %v", err)
	}
	after := b.State().RefreshBefore
	if after != before {
		t.Fatalf("a rejected reload set refresh_before %v on a running broker (was %v)", after, before)
	}
	if e.d.gen.Load().cfg.RefreshBefore == 2*time.Hour {
		t.Fatal("a rejected reload became the running config")
	}
}
