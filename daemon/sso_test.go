package daemon

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imdsd/imdsd/config"
	"github.com/imdsd/imdsd/internal/ssologin"
	"github.com/imdsd/imdsd/test/fakesso"
)

const ssoAWSConfig = `
[profile sso]
sso_session = corp
sso_account_id = ` + account + `
sso_role_name = Dev
region = eu-west-1

[sso-session corp]
sso_start_url = https://example.awsapps.com/start
sso_region = eu-west-1
`

// An SSO profile is served once the user signs in with imdsd login: the
// daemon's broker (the SDK's ssocreds provider) reads the token imdsd
// cached, gets role credentials from the portal, and an EC2 client gets
// them via IMDS. When the cached token expires the SDK renews it with the
// refresh token, without a new sign-in.
func TestSSOProfileServedAfterLogin(t *testing.T) {
	fake, home := startFakeSSO(t)
	e := startEnv(t, envOptions{awsConfig: ssoAWSConfig, imdsdTOML: `profile = "sso"`})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Not signed in: nothing to serve, and nothing asked of the portal.
	if _, err := e.ec2Creds(ctx); err == nil {
		t.Fatal("credentials served before any sign-in")
	}
	if n := fake.Calls("GetRoleCredentials"); n != 0 {
		t.Fatalf("GetRoleCredentials called %d times without a token", n)
	}

	ssoLogin(ctx, t, e, fake)

	// As `imdsd refresh` after a login: fetched now, not at the next backoff.
	served := func(step string) string {
		t.Helper()
		res, err := e.client().Refresh(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(res) != 1 || res[0].Name != "sso" || res[0].Error != "" {
			t.Fatalf("%s: refresh reported %+v, want the sso profile served", step, res)
		}
		c, err := e.ec2Creds(ctx)
		if err != nil {
			t.Fatalf("%s: IMDS: %v", step, err)
		}
		issued, ok := fake.Issued(c.AccessKeyID)
		if !ok || issued.SecretAccessKey != c.SecretAccessKey || issued.SessionToken != c.SessionToken || issued.RoleName != "Dev" {
			t.Fatalf("%s: IMDS served %s, which the portal did not issue for Dev", step, c.AccessKeyID)
		}
		return c.AccessKeyID
	}
	first := served("after login")
	st, err := e.client().Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p := st.Profiles[0]; p.SSOProfile != "sso" || !p.SSORenews || !p.SSOExpires.After(time.Now()) {
		t.Fatalf("status %+v: want the SSO sign-in, renewable, ending in the future", p)
	}

	// Age the cached token behind the daemon's back (no file watcher
	// here, so its session manager has not seen it): the SDK's own
	// renewal, the fallback, uses the refresh token login cached and
	// writes the new one back.
	sum := sha1.Sum([]byte("corp"))
	cache := filepath.Join(home, ".aws", "sso", "cache", hex.EncodeToString(sum[:])+".json")
	var tok map[string]any
	data, err := os.ReadFile(cache)
	must(t, err)
	must(t, json.Unmarshal(data, &tok))
	old := tok["accessToken"]
	tok["expiresAt"] = time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	data, _ = json.Marshal(tok)
	must(t, os.WriteFile(cache, data, 0o600))
	tokens := fake.Calls("CreateToken")
	if second := served("after the token expired"); second == first {
		t.Fatal("the same credentials were served after a refresh")
	}
	if got := fake.Calls("CreateToken"); got != tokens+1 {
		t.Fatalf("CreateToken calls %d, want %d (one token refresh)", got, tokens+1)
	}
	data, err = os.ReadFile(cache)
	must(t, err)
	must(t, json.Unmarshal(data, &tok))
	if tok["accessToken"] == old {
		t.Fatal("the refreshed token was not written back to the cache")
	}
}

// startFakeSSO starts the fake IAM Identity Center, points the SDK's SSO
// and OIDC clients at it as a user would, and gives the test its own HOME
// (so its own ~/.aws/sso/cache).
func startFakeSSO(t *testing.T) (*fakesso.Server, string) {
	t.Helper()
	fake := fakesso.New()
	fake.AddRole(account, "Dev")
	u, err := fake.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("USERPROFILE", home)
	t.Setenv("AWS_ENDPOINT_URL_SSO", u)
	t.Setenv("AWS_ENDPOINT_URL_SSO_OIDC", u)
	return fake, home
}

// ssoLogin is imdsd login --profile sso --no-browser, the user approving
// the code at the first poll.
func ssoLogin(ctx context.Context, t *testing.T, e *testEnv, fake *fakesso.Server) {
	t.Helper()
	_, err := ssologin.Login(ctx, ssologin.Options{
		Profile: "sso", NoBrowser: true, HTTPClient: loopbackOnlyHTTP,
		Files: config.AWSFiles{Config: []string{e.awsCfg}, Credentials: []string{e.awsCreds}},
		Wait: func(context.Context, time.Duration) error {
			for _, c := range fake.PendingUserCodes() {
				fake.DecideDevice(c, fakesso.Approve)
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A profile waiting for a sign-in is fetched as soon as the token cache
// file appears, not at its next retry (an hour away here): the daemon
// watches the SSO cache files of the profiles it serves.
func TestSSOLoginWakesWaitingProfile(t *testing.T) {
	fake, _ := startFakeSSO(t)
	e := startEnv(t, envOptions{awsConfig: ssoAWSConfig, imdsdTOML: `profile = "sso"`, watch: true, tune: func(o *Options) {
		o.broker.BackoffBase, o.broker.BackoffCap = time.Hour, time.Hour
	}})
	watching(t, e)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The failure without a token is recorded before the login.
	if res, err := e.client().Refresh(ctx); err != nil || len(res) != 1 || !strings.Contains(res[0].Error, "imdsd login --sso-session corp") {
		t.Fatalf("refresh before any sign-in: %v %+v, want the sso profile failing with the fix", err, res)
	}
	ssoLogin(ctx, t, e, fake)
	waitFor(t, 10*time.Second, func() bool {
		_, err := e.d.Credentials(ctx, "sso", time.Now())
		return err == nil
	}, "the sso profile was not fetched after the login")
	c, err := e.ec2Creds(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := fake.Issued(c.AccessKeyID); !ok {
		t.Fatalf("IMDS served %s, which the portal did not issue", c.AccessKeyID)
	}
}
