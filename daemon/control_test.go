package daemon

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/imdsd/imdsd/internal/audit"
	"github.com/imdsd/imdsd/internal/control"
	"github.com/imdsd/imdsd/test/fakests"
)

func TestStatusShowsWhatIsServedWithoutSecrets(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{ecsTOML: `profiles = ["ops"]`})
	ctx := context.Background()
	c, err := e.ec2Creds(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st, err := e.client().Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.IMDSProfile != "dev" || len(st.Profiles) != 2 {
		t.Fatalf("status %+v", st)
	}
	dev := st.Profiles[0]
	if dev.Name != "dev" || dev.RoleARN != devRole || dev.AccessKeyID != c.AccessKeyID || dev.Requests < 1 || dev.NextRefresh.IsZero() {
		t.Fatalf("dev status %+v; served key %s", dev, c.AccessKeyID)
	}
	if len(st.Listeners) != 2 || st.Listeners[0].Allow[0] != "loopback" {
		t.Fatalf("listeners %+v", st.Listeners)
	}
	raw, _ := json.Marshal(st)
	var text strings.Builder
	st.WriteText(&text, time.Now())
	for _, out := range []string{string(raw), text.String()} {
		if strings.Contains(out, c.SecretAccessKey) || strings.Contains(out, c.SessionToken) {
			t.Fatal("status shows a secret")
		}
	}
	if !strings.Contains(text.String(), c.AccessKeyID) || !strings.Contains(text.String(), devRole) {
		t.Fatalf("text status lacks key or role:\n%s", text.String())
	}
}

func TestControlUnreachableSaysHowToStart(t *testing.T) {
	t.Parallel()
	_, err := control.NewClient(t.TempDir() + "/none.sock").Status(context.Background())
	if err == nil || !strings.Contains(err.Error(), "imdsd serve") {
		t.Fatalf("got %v", err)
	}
}

func TestLockDropsEverythingUntilUnlock(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{ecsTOML: `profiles = ["ops"]`})
	ctx := context.Background()
	c1, err := e.ec2Creds(ctx)
	if err != nil {
		t.Fatal(err)
	}
	old := e.d.gen.Load().brokers
	if _, err := e.client().Lock(ctx); err != nil {
		t.Fatal(err)
	}
	for n, b := range old {
		if b.State().AccessKeyID != "" {
			t.Fatalf("profile %s still holds credentials after lock", n)
		}
	}
	tok := e.imdsToken()
	code, body := e.get(e.imdsURL+"/latest/meta-data/iam/security-credentials/dev", map[string]string{"X-aws-ec2-metadata-token": tok})
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "locked") || strings.Contains(body, "Success") {
		t.Fatalf("IMDS while locked: %d %q", code, body)
	}
	for _, path := range []string{"/creds", "/role/ops"} {
		if code, body := e.get(e.ecsURL+path, map[string]string{"Authorization": e.token}); code != http.StatusServiceUnavailable || !strings.Contains(body, "locked") {
			t.Fatalf("ECS %s while locked: %d %q", path, code, body)
		}
	}
	if _, err := e.client().Creds(ctx, "dev"); err == nil {
		t.Fatal("imdsd creds served while locked")
	}
	// A reload while locked must not bring credentials back.
	must(t, e.d.Reload(context.Background()))
	if _, err := e.ec2CredsOnce(ctx); err == nil {
		t.Fatal("credentials served after a reload while locked")
	}
	if st, _ := e.client().Status(ctx); !st.Locked {
		t.Fatal("status does not say locked")
	}
	if _, err := e.client().Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	c2, err := e.ec2Creds(ctx)
	if err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	if c2.AccessKeyID == c1.AccessKeyID {
		t.Fatal("after unlock the dropped credentials came back; want freshly fetched ones")
	}
}

func TestUseSwitchesAndPersists(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	ctx := context.Background()
	if _, err := e.client().Use(ctx, "nope"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("use of a missing profile: %v", err)
	}
	if strings.Contains(readFile(t, e.cfgPath), "nope") {
		t.Fatal("a failed use changed the config file")
	}
	if _, err := e.client().Use(ctx, "ops"); err != nil {
		t.Fatal(err)
	}
	c, err := e.ec2Creds(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if iss, _ := e.sts.Issued(c.AccessKeyID); iss.RoleArn != opsRole {
		t.Fatalf("after use ops, IMDS serves %s", iss.RoleArn)
	}
	text := readFile(t, e.cfgPath)
	if !strings.Contains(text, `profile = "ops"`) || strings.Contains(text, `profile = "dev"`) || !strings.Contains(text, "[ecs]") {
		t.Fatalf("config after use:\n%s", text)
	}
	// Survives a restart: a new daemon on the same file serves ops.
	e.stop()
	d2, err := New(Options{ConfigPath: e.cfgPath, AWSFiles: e.d.opt.AWSFiles, Logger: e.d.log, NoWatch: true})
	if err != nil {
		t.Fatal(err)
	}
	if d2.gen.Load().cfg.Profile != "ops" {
		t.Fatalf("after restart the profile is %s", d2.gen.Load().cfg.Profile)
	}
}

func TestCredsCommandOutputSigns(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	ctx := context.Background()
	out, err := e.client().Creds(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	exp, err := time.Parse(time.RFC3339, out.Expiration)
	if out.Version != 1 || err != nil || time.Until(exp) < 30*time.Minute {
		t.Fatalf("credential_process output %+v (%v)", out.AccessKeyID, err)
	}
	arn, err := e.callerARN(ctx, aws.Credentials{AccessKeyID: out.AccessKeyID, SecretAccessKey: out.SecretAccessKey, SessionToken: out.SessionToken})
	if err != nil || !strings.Contains(arn, "assumed-role/dev/") {
		t.Fatalf("creds output identifies as %q (%v)", arn, err)
	}
	if _, err := e.client().Creds(ctx, "qa"); err == nil || !strings.Contains(err.Error(), "not served") {
		t.Fatalf("unserved profile: %v", err)
	}
}

func TestAuditNamesTheClientProcess(t *testing.T) {
	t.Parallel()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	e := startEnv(t, envOptions{})
	// A separate process fetches credentials over ECS on a kept-alive
	// connection (as botocore's pool does), then goes on working for a
	// moment. (A client that closes at once is still named by uid: its
	// process may be gone before it can be looked up.)
	script := `import http.client,sys,time,urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
c = http.client.HTTPConnection(u.hostname, u.port)
c.request("GET", u.path, headers={"Authorization": sys.argv[2]})
r = c.getresponse(); r.read()
print(r.status, flush=True)
time.sleep(1)`
	cmd := exec.Command(py, "-c", script, e.ecsURL+"/creds", e.token)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "200" {
		t.Fatalf("python client: %v %s", err, out)
	}
	pid := cmd.Process.Pid
	var found *audit.Consumer
	waitFor(t, patience, func() bool {
		cs, err := e.client().Sessions(context.Background())
		if err != nil {
			return false
		}
		for _, c := range cs {
			if c.Profile == "dev" && c.Face == "ecs" && c.PID == pid {
				found = &c
				return true
			}
		}
		return false
	}, "sessions do not name the python client's pid "+strconv.Itoa(pid)+": "+tail(e.logs.String(), 5))
	if found.UID != os.Getuid() || !strings.HasPrefix(found.Comm, "python") {
		t.Fatalf("consumer %+v; want uid %d and comm python", found, os.Getuid())
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "credentials vended") || !strings.Contains(logs, "pid="+strconv.Itoa(pid)) {
		t.Fatalf("no audit line naming pid %d", pid)
	}
}

const mfaSerial = "arn:aws:iam::" + account + ":mfa/alice"

func TestMFAFlow(t *testing.T) {
	t.Parallel()
	mfaRole := "arn:aws:iam::" + account + ":role/admin"
	e := startEnv(t, envOptions{
		awsConfig: "\n[profile admin]\nrole_arn = " + mfaRole + "\nsource_profile = base\nmfa_serial = " + mfaSerial + "\n",
		ecsTOML:   `profiles = ["admin"]`,
		tune:      func(o *Options) { o.broker.BackoffCap = 200 * time.Millisecond },
	})
	e.sts.AddRole(mfaRole, fakests.RoleOptions{TrustedPrincipals: []string{userARN}, RequireMFA: true})
	e.sts.SetMFA(mfaSerial, "123456")
	ctx := context.Background()

	code, body := e.get(e.ecsURL+"/role/admin", map[string]string{"Authorization": e.token})
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "imdsd mfa --profile admin") {
		t.Fatalf("before MFA: %d %q", code, body)
	}
	st, _ := e.client().Status(ctx)
	if !st.Profiles[1].NeedsMFA {
		t.Fatalf("status does not say needs MFA: %+v", st.Profiles[1])
	}
	if _, err := e.client().MFA(ctx, "admin", "654321"); err == nil {
		t.Fatal("a wrong MFA code was accepted")
	}
	res, err := e.client().MFA(ctx, "admin", "123456")
	if err != nil {
		t.Fatal(err)
	}
	if time.Until(res.MFAExpires) < 11*time.Hour {
		t.Fatalf("MFA session ends %v; want the 12h default", res.MFAExpires)
	}
	c, err := e.ecsCreds(ctx, "/role/admin")
	if err != nil {
		t.Fatal(err)
	}
	iss, _ := e.sts.Issued(c.AccessKeyID)
	if iss.RoleArn != mfaRole || !iss.MFA {
		t.Fatalf("served %+v", iss)
	}
	// Refreshes reuse the MFA session: no new code, no new GetSessionToken.
	gst := e.sts.CallCount("GetSessionToken")
	e.d.Refresh()
	waitFor(t, patience, func() bool {
		c2, err := e.ecsCreds(ctx, "/role/admin")
		return err == nil && c2.AccessKeyID != c.AccessKeyID
	}, "no refresh with the MFA session")
	if n := e.sts.CallCount("GetSessionToken"); n != gst {
		t.Fatalf("refresh made %d GetSessionToken calls; want 0", n-gst)
	}
	if st, _ := e.client().Status(ctx); st.Profiles[1].MFAExpires.IsZero() || st.Profiles[1].NeedsMFA {
		t.Fatalf("status after MFA: %+v", st.Profiles[1])
	}
}

func TestMFAProcessAndSessionPolicies(t *testing.T) {
	t.Parallel()
	mfaRole := "arn:aws:iam::" + account + ":role/admin"
	e := startEnv(t, envOptions{
		awsConfig: "\n[profile admin]\nrole_arn = " + mfaRole + "\nsource_profile = base\nmfa_serial = " + mfaSerial + "\n",
		ecsTOML: `profiles = ["admin"]
[profiles.admin]
mfa_process = "echo 123456"
mfa_duration = "2h"
policy_arns = ["arn:aws:iam::aws:policy/ReadOnlyAccess"]
duration = "30m"`,
	})
	e.sts.AddRole(mfaRole, fakests.RoleOptions{TrustedPrincipals: []string{userARN}, RequireMFA: true})
	e.sts.SetMFA(mfaSerial, "123456")
	e.d.Refresh()
	var c aws.Credentials
	waitFor(t, patience, func() bool {
		var err error
		c, err = e.ecsCreds(context.Background(), "/role/admin")
		return err == nil
	}, "mfa_process did not provide the code")
	iss, _ := e.sts.Issued(c.AccessKeyID)
	if !iss.MFA || len(iss.PolicyArns) != 1 || iss.PolicyArns[0] != "arn:aws:iam::aws:policy/ReadOnlyAccess" {
		t.Fatalf("issued %+v", iss)
	}
	if d := time.Until(c.Expires); d > 31*time.Minute || d < 29*time.Minute {
		t.Fatalf("duration = 30m gave credentials for %v", d)
	}
}
