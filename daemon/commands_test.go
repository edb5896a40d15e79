package daemon

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/imdsd/imdsd/test/fakests"
)

// `imdsd use` switches only to a profile that can be served: a role STS
// denies is an error saying why, and the previous profile keeps serving
// and stays in the config file. A good profile is served when use returns.
func TestUseSwitchesOnlyOnceTheProfileHasCredentials(t *testing.T) {
	const deniedRole = "arn:aws:iam::111122223333:role/denied"
	e := startEnv(t, envOptions{awsConfig: "\n[profile denied]\nrole_arn = " + deniedRole + "\nsource_profile = base\n"})
	e.sts.AddRole(deniedRole, fakests.RoleOptions{TrustedPrincipals: []string{"arn:aws:iam::999999999999:user/someone-else"}})
	ctx := context.Background()

	_, err := e.client().Use(ctx, "denied")
	if err == nil {
		t.Fatal("use of a profile STS denies succeeded")
	}
	for _, want := range []string{"not switching to denied", "trust policy", "still serving the previous profile"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("use error %q lacks %q", err, want)
		}
	}
	if role, err := e.servedRole(); err != nil || role != devRole {
		t.Fatalf("after a refused use IMDS serves %q (%v), want %s", role, err, devRole)
	}
	if cfg := readFile(t, e.cfgPath); !strings.Contains(cfg, `profile = "dev"`) || strings.Contains(cfg, "denied") {
		t.Fatalf("a refused use changed the config file:\n%s", cfg)
	}

	st, err := e.client().Use(ctx, "ops")
	if err != nil || st.IMDSProfile != "ops" {
		t.Fatalf("use ops: %+v %v", st.IMDSProfile, err)
	}
	// Served by the time use returned: no waiting for a later fetch.
	if role, err := e.servedRole(); err != nil || role != opsRole {
		t.Fatalf("right after use ops, IMDS serves %q (%v)", role, err)
	}
	if cfg := readFile(t, e.cfgPath); !strings.Contains(cfg, `profile = "ops"`) {
		t.Fatalf("use did not persist the profile:\n%s", cfg)
	}
}

// `imdsd refresh` reports each profile's outcome: a failure is named with
// its cause, a success with the new key.
func TestRefreshReportsEachOutcome(t *testing.T) {
	e := startEnv(t, envOptions{ecsTOML: `profiles = ["ops"]`})
	ctx := context.Background()
	before, err := e.client().Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.sts.SetFault(fakests.Fault{Mode: fakests.FaultAccessDenied})
	res, err := e.client().Refresh(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 {
		t.Fatalf("refresh reported %d profiles, want 2: %+v", len(res), res)
	}
	for _, r := range res {
		if r.Error == "" || !strings.Contains(r.Error, "AccessDenied") {
			t.Errorf("%s: refresh during an STS denial reported %q, want the denial", r.Name, r.Error)
		}
	}
	e.sts.SetFault(fakests.Fault{})
	res, err = e.client().Refresh(ctx)
	if err != nil {
		t.Fatal(err)
	}
	old := map[string]string{}
	for _, p := range before.Profiles {
		old[p.Name] = p.AccessKeyID
	}
	for _, r := range res {
		if r.Error != "" || r.AccessKeyID == "" || r.AccessKeyID == old[r.Name] {
			t.Errorf("%s: refresh reported %+v, want a new key (was %s)", r.Name, r, old[r.Name])
		}
	}
}

// `imdsd mfa` with STS hanging ends within its bound (well inside a TOTP
// code's life) and says what happened.
func TestMFAWithSTSHangingEndsInTimeAndSaysWhy(t *testing.T) {
	mfaRole := "arn:aws:iam::" + account + ":role/admin"
	e := startEnv(t, envOptions{
		awsConfig: "\n[profile admin]\nrole_arn = " + mfaRole + "\nsource_profile = base\nmfa_serial = " + mfaSerial + "\n",
		ecsTOML:   `profiles = ["admin"]`,
		tune:      func(o *Options) { o.mfaBound = 500 * time.Millisecond },
	})
	e.sts.AddRole(mfaRole, fakests.RoleOptions{TrustedPrincipals: []string{userARN}, RequireMFA: true})
	e.sts.SetMFA(mfaSerial, "123456")
	e.sts.SetFault(fakests.Fault{Mode: fakests.FaultHang})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := e.client().MFA(ctx, "admin", "123456")
	if err == nil || !strings.Contains(err.Error(), "did not answer") || !strings.Contains(err.Error(), "new code") {
		t.Fatalf("mfa with STS hanging: %v, want it to say STS did not answer and to try a new code", err)
	}
	if ctx.Err() != nil {
		t.Fatal("mfa was not bounded by the daemon")
	}
}

// `imdsd creds` callers are named in the audit by the control socket's
// peer credentials: their uid and pid, not an empty address.
func TestCredsCallersAreNamedInSessions(t *testing.T) {
	e := startEnv(t, envOptions{})
	ctx := context.Background()
	if _, err := e.client().Creds(ctx, "dev"); err != nil {
		t.Fatal(err)
	}
	cs, err := e.client().Sessions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("uid %d pid %d", os.Geteuid(), os.Getpid())
	for _, c := range cs {
		if c.Face == "control" && strings.HasPrefix(c.Who, want) {
			return
		}
	}
	t.Fatalf("sessions %+v: no control consumer named %q", cs, want)
}

// A second `imdsd serve` with the same config says one runs already,
// before it binds anything or logs "serving".
func TestSecondServeSaysOneRuns(t *testing.T) {
	e := startEnv(t, envOptions{})
	var logs syncBuffer
	d2, err := New(Options{ConfigPath: e.cfgPath, AWSFiles: e.d.opt.AWSFiles, Logger: newTestLogger(&logs), NoWatch: true, HTTPClient: loopbackOnlyHTTP})
	if err != nil {
		t.Fatal(err)
	}
	err = d2.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "another imdsd is running") {
		t.Fatalf("second serve: %v", err)
	}
	if strings.Contains(logs.String(), "msg=serving") {
		t.Fatalf("the second serve logged that it serves:\n%s", logs.String())
	}
	if _, err := e.ec2Creds(context.Background()); err != nil {
		t.Fatalf("the first daemon stopped serving: %v", err)
	}
}

// A credentials file others can read is served (it is the user's choice)
// but named in status with the fix, once per reload.
func TestStatusWarnsOfAReadableCredentialsFile(t *testing.T) {
	e := startEnv(t, envOptions{})
	must(t, os.Chmod(e.awsCreds, 0o644))
	must(t, e.d.Reload(context.Background()))
	st, err := e.client().Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, w := range st.Warnings {
		found = found || (strings.Contains(w, e.awsCreds) && strings.Contains(w, "chmod 600"))
	}
	if !found {
		t.Fatalf("status warnings %q do not name %s and the fix", st.Warnings, e.awsCreds)
	}
	must(t, os.Chmod(e.awsCreds, 0o600))
	must(t, e.d.Reload(context.Background()))
	if st, _ := e.client().Status(context.Background()); len(st.Warnings) != 0 {
		t.Fatalf("warnings after the fix: %q", st.Warnings)
	}
}
