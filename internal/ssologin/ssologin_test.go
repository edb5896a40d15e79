package ssologin

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/imdsd/imdsd/config"
	"github.com/imdsd/imdsd/test/fakesso"
)

const (
	account   = "111122223333"
	role      = "Dev"
	startURL  = "https://example.awsapps.com/start"
	legacyURL = "https://legacy.awsapps.com/start"
)

const awsConfigText = `[profile dev]
sso_session = corp
sso_account_id = ` + account + `
sso_role_name = ` + role + `
region = eu-west-2

[sso-session corp]
sso_start_url = ` + startURL + `
sso_region = eu-west-1
sso_registration_scopes = sso:account:access

[profile legacy]
sso_start_url = ` + legacyURL + `
sso_region = eu-west-1
sso_account_id = ` + account + `
sso_role_name = ` + role + `

[profile chained]
role_arn = arn:aws:iam::111122223333:role/next
source_profile = dev

[profile keys]
aws_access_key_id = AKIAEXAMPLE
aws_secret_access_key = secret
`

// loopbackOnly is every SDK client's HTTP client here: a setting that
// failed to point a client at the fake fails the test instead of
// reaching AWS.
var loopbackOnly = awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
	tr.Proxy = nil
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if ip, err := netip.ParseAddr(host); err != nil || !ip.IsLoopback() {
			return nil, fmt.Errorf("test guard: refusing to dial %s: tests talk to the fake on loopback only", addr)
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
})

type env struct {
	fake  *fakesso.Server
	files config.AWSFiles
	home  string
	out   *bytes.Buffer
}

// setup starts the fake, points the SDK's SSO and OIDC clients at it the
// way a user would (AWS_ENDPOINT_URL_SSO, AWS_ENDPOINT_URL_SSO_OIDC) and
// gives the test its own HOME, so the token cache is the test's.
func setup(t *testing.T) *env {
	t.Helper()
	s := fakesso.New()
	s.AddRole(account, role)
	u, err := s.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	dir := t.TempDir()
	t.Setenv("HOME", dir)
	t.Setenv("USERPROFILE", dir)
	t.Setenv("AWS_ENDPOINT_URL_SSO", u)
	t.Setenv("AWS_ENDPOINT_URL_SSO_OIDC", u)
	for _, k := range []string{"AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	cfg, creds := filepath.Join(dir, "config"), filepath.Join(dir, "credentials")
	if err := os.WriteFile(cfg, []byte(awsConfigText), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(creds, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return &env{fake: s, files: config.AWSFiles{Config: []string{cfg}, Credentials: []string{creds}}, home: dir, out: &bytes.Buffer{}}
}

func (e *env) options(t *testing.T) Options {
	return Options{
		Files: e.files, Out: e.out, HTTPClient: loopbackOnly,
		OpenBrowser: func(string) error { t.Error("a browser was opened"); return ErrNoBrowser },
		Wait:        func(context.Context, time.Duration) error { t.Error("unexpected wait"); return errors.New("no wait") },
	}
}

// browser plays the user's browser: it follows /authorize to the loopback
// callback, as a browser would.
func (e *env) browser(t *testing.T) func(string) error {
	return func(u string) error {
		resp, err := http.Get(u)
		if err != nil {
			t.Errorf("browser: %v", err)
			return err
		}
		resp.Body.Close()
		return nil
	}
}

// approveOnWait approves the pending device code the first time Login
// waits between polls, and records the intervals it was asked to wait.
func (e *env) approveOnWait(t *testing.T, waits *[]time.Duration) func(context.Context, time.Duration) error {
	return func(_ context.Context, d time.Duration) error {
		*waits = append(*waits, d)
		codes := e.fake.PendingUserCodes()
		if len(codes) != 1 {
			t.Errorf("pending user codes %v, want one", codes)
			return errors.New("no device code")
		}
		if !strings.Contains(e.out.String(), codes[0]) {
			t.Errorf("the user code %s was not shown", codes[0])
		}
		e.fake.DecideDevice(codes[0], fakesso.Approve)
		return nil
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func sha1Hex(s string) string {
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// readCache checks the cache file is private and has the AWS CLI's fields.
func (e *env) readCache(t *testing.T, key string, wantRefresh bool) map[string]string {
	t.Helper()
	path := filepath.Join(e.home, ".aws", "sso", "cache", sha1Hex(key)+".json")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("cache file mode %v, want 0600", fi.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"startUrl", "region", "accessToken", "expiresAt", "clientId", "clientSecret", "registrationExpiresAt"} {
		if m[k] == "" {
			t.Errorf("cache file has no %s", k)
		}
	}
	if (m["refreshToken"] != "") != wantRefresh {
		t.Errorf("refreshToken present %v, want %v", m["refreshToken"] != "", wantRefresh)
	}
	for _, k := range []string{"expiresAt", "registrationExpiresAt"} {
		if ts, err := time.Parse(time.RFC3339, m[k]); err != nil || ts.Location() != time.UTC || !ts.After(time.Now()) {
			t.Errorf("%s %q: want a future RFC 3339 UTC time", k, m[k])
		}
	}
	if !e.fake.TokenValid(m["accessToken"]) {
		t.Error("the cached access token is not one the fake accepts")
	}
	// What the user reads never holds a secret.
	for _, k := range []string{"accessToken", "refreshToken", "clientSecret"} {
		if m[k] != "" && strings.Contains(e.out.String(), m[k]) {
			t.Errorf("the output shows the %s", k)
		}
	}
	return m
}

// sdkCredentials proves the SDK itself (its ssocreds provider, from the
// profile) gets role credentials from the portal with the cached token.
func (e *env) sdkCredentials(t *testing.T, profile string) aws.Credentials {
	t.Helper()
	cfg, err := awsconfig.LoadDefaultConfig(ctx(t),
		awsconfig.WithSharedConfigProfile(profile),
		awsconfig.WithSharedConfigFiles(e.files.Config),
		awsconfig.WithSharedCredentialsFiles(e.files.Credentials),
		awsconfig.WithHTTPClient(loopbackOnly),
	)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cfg.Credentials.Retrieve(ctx(t))
	if err != nil {
		t.Fatalf("the SDK's SSO provider: %v", err)
	}
	issued, ok := e.fake.Issued(c.AccessKeyID)
	if !ok || issued.SecretAccessKey != c.SecretAccessKey || issued.AccountID != account || issued.RoleName != role {
		t.Fatalf("the SDK got %s, which the portal did not issue for %s/%s", c.AccessKeyID, account, role)
	}
	return c
}

func TestLoginPKCE(t *testing.T) {
	e := setup(t)
	e.fake.SetBrowser(fakesso.Approve)
	o := e.options(t)
	o.Profile = "dev"
	o.OpenBrowser = e.browser(t)
	res, err := Login(ctx(t), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Flow != "pkce" || res.Session != "corp" || !res.Refresh || res.StartURL != startURL {
		t.Fatalf("result %+v", res)
	}
	e.readCache(t, "corp", true)
	e.sdkCredentials(t, "dev")
	if got := e.fake.Calls("Authorize"); got != 1 {
		t.Errorf("authorize calls %d, want 1", got)
	}
}

func TestLoginDevice(t *testing.T) {
	e := setup(t)
	var waits []time.Duration
	o := e.options(t)
	o.SSOSession, o.NoBrowser = "corp", true
	o.Wait = e.approveOnWait(t, &waits)
	res, err := Login(ctx(t), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Flow != "device" || !res.Refresh {
		t.Fatalf("result %+v", res)
	}
	// One poll pending, one after the approval.
	if got := e.fake.Calls("CreateToken"); got != 2 || len(waits) != 1 || waits[0] != time.Second {
		t.Errorf("CreateToken calls %d, waits %v: want 2 calls, one wait of the server's interval", got, waits)
	}
	e.readCache(t, "corp", true)
	e.sdkCredentials(t, "dev")
}

func TestLoginNoBrowserFallsBackToDevice(t *testing.T) {
	e := setup(t)
	var waits []time.Duration
	o := e.options(t)
	o.Profile = "dev"
	o.OpenBrowser = func(string) error { return ErrNoBrowser }
	o.Wait = e.approveOnWait(t, &waits)
	res, err := Login(ctx(t), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Flow != "device" {
		t.Fatalf("flow %s, want device", res.Flow)
	}
	e.sdkCredentials(t, "dev")
}

func TestLoginSlowDown(t *testing.T) {
	e := setup(t)
	e.fake.FailCreateToken("slow_down")
	var waits []time.Duration
	o := e.options(t)
	o.SSOSession, o.NoBrowser = "corp", true
	o.Wait = func(c context.Context, d time.Duration) error {
		waits = append(waits, d)
		if len(waits) == 1 {
			return nil // the slow_down: still pending after it
		}
		return e.approveOnWait(t, new([]time.Duration))(c, d)
	}
	if _, err := Login(ctx(t), o); err != nil {
		t.Fatal(err)
	}
	// slow_down adds 5 s to the interval from then on.
	if len(waits) != 2 || waits[0] != 6*time.Second || waits[1] != 6*time.Second {
		t.Fatalf("waits %v, want [6s 6s]", waits)
	}
}

func TestLoginLegacyProfile(t *testing.T) {
	e := setup(t)
	var waits []time.Duration
	o := e.options(t)
	o.Profile, o.NoBrowser = "legacy", true
	o.Wait = e.approveOnWait(t, &waits)
	res, err := Login(ctx(t), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Session != "" || res.Refresh {
		t.Fatalf("result %+v: a legacy profile has no session and no refresh token", res)
	}
	// Keyed by the start URL, as the SDK's legacy provider looks it up.
	e.readCache(t, legacyURL, false)
	e.sdkCredentials(t, "legacy")
}

// The SDK refreshes an expired token with the refresh token and client
// registration imdsd cached, and writes the new one back.
func TestLoginTokenRefreshedBySDK(t *testing.T) {
	e := setup(t)
	e.fake.SetBrowser(fakesso.Approve)
	o := e.options(t)
	o.Profile = "dev"
	o.OpenBrowser = e.browser(t)
	if _, err := Login(ctx(t), o); err != nil {
		t.Fatal(err)
	}
	before := e.readCache(t, "corp", true)
	// Age the cached token, as time would.
	path := filepath.Join(e.home, ".aws", "sso", "cache", sha1Hex("corp")+".json")
	data, _ := os.ReadFile(path)
	var m map[string]any
	must(t, json.Unmarshal(data, &m))
	m["expiresAt"] = time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	data, _ = json.Marshal(m)
	must(t, os.WriteFile(path, data, 0o600))
	calls := e.fake.Calls("CreateToken")
	e.sdkCredentials(t, "dev")
	if got := e.fake.Calls("CreateToken"); got != calls+1 {
		t.Fatalf("CreateToken calls %d, want %d (one refresh)", got, calls+1)
	}
	if after := e.readCache(t, "corp", true); after["accessToken"] == before["accessToken"] {
		t.Fatal("the SDK did not write the refreshed token")
	}
}

func TestLoginRefused(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, e *env, o *Options)
		want  string
	}{
		{"browser denied", func(t *testing.T, e *env, o *Options) {
			e.fake.SetBrowser(fakesso.Deny)
			o.Profile, o.OpenBrowser = "dev", e.browser(t)
		}, "access_denied"},
		{"device denied", func(t *testing.T, e *env, o *Options) {
			o.Profile, o.NoBrowser = "dev", true
			o.Wait = func(context.Context, time.Duration) error {
				e.fake.DecideDevice(e.fake.PendingUserCodes()[0], fakesso.Deny)
				return nil
			}
		}, "denied"},
		{"device code expired", func(t *testing.T, e *env, o *Options) {
			e.fake.FailCreateToken("expired_token")
			o.Profile, o.NoBrowser = "dev", true
		}, "expired"},
		{"not an SSO profile", func(t *testing.T, e *env, o *Options) { o.Profile = "keys" }, "no SSO settings"},
		{"no such profile", func(t *testing.T, e *env, o *Options) { o.Profile = "nope" }, "nope"},
		{"no such session", func(t *testing.T, e *env, o *Options) { o.SSOSession = "nope" }, "nope"},
		{"bad session name", func(t *testing.T, e *env, o *Options) { o.SSOSession = "corp]\n[profile x" }, "not an sso-session name"},
		{"both named", func(t *testing.T, e *env, o *Options) { o.Profile, o.SSOSession = "dev", "corp" }, "either"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t)
			o := e.options(t)
			tt.setup(t, e, &o)
			_, err := Login(ctx(t), o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want one saying %q", err, tt.want)
			}
			if _, err := os.Stat(filepath.Join(e.home, ".aws", "sso", "cache")); !os.IsNotExist(err) {
				t.Fatal("a refused sign-in wrote the cache")
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// A role profile whose source is an SSO profile signs in for that source.
func TestLoginChainedProfile(t *testing.T) {
	e := setup(t)
	var waits []time.Duration
	o := e.options(t)
	o.Profile, o.NoBrowser = "chained", true
	o.Wait = e.approveOnWait(t, &waits)
	res, err := Login(ctx(t), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Session != "corp" {
		t.Fatalf("result %+v, want sso-session corp", res)
	}
	e.readCache(t, "corp", true)
	e.sdkCredentials(t, "dev")
}

// `imdsd sso profiles`: the roles of the sign-in, from the portal, as
// profiles to paste; an expired token is renewed first; no sign-in says
// how to sign in.
func TestRoles(t *testing.T) {
	e := setup(t)
	e.fake.AddRole("444455556666", "Admin")
	o := e.options(t)
	o.Profile = "dev"
	if _, _, err := Roles(ctx(t), o); err == nil || !strings.Contains(err.Error(), "imdsd login --profile dev") {
		t.Fatalf("roles before any sign-in: %v, want the login hint", err)
	}
	var waits []time.Duration
	lo := o
	lo.NoBrowser, lo.Wait = true, e.approveOnWait(t, &waits)
	if _, err := Login(ctx(t), lo); err != nil {
		t.Fatal(err)
	}
	// Age the token: Roles renews it through the SDK's token provider.
	path := filepath.Join(e.home, ".aws", "sso", "cache", sha1Hex("corp")+".json")
	data, _ := os.ReadFile(path)
	var m map[string]any
	must(t, json.Unmarshal(data, &m))
	m["expiresAt"] = time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	data, _ = json.Marshal(m)
	must(t, os.WriteFile(path, data, 0o600))
	calls := e.fake.Calls("CreateToken")

	so := o
	so.Profile, so.SSOSession = "", "corp"
	roles, res, err := Roles(ctx(t), so)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.fake.Calls("CreateToken"); got != calls+1 {
		t.Errorf("CreateToken calls %d, want %d (one renewal)", got, calls+1)
	}
	if len(roles) != 2 {
		t.Fatalf("roles %+v, want Dev and Admin", roles)
	}
	text := ProfileSections(roles, res)
	for _, want := range []string{
		"[profile account-111122223333-Dev]\nsso_session = corp\nsso_account_id = 111122223333\nsso_role_name = Dev\n",
		"[profile account-444455556666-Admin]\nsso_session = corp\nsso_account_id = 444455556666\nsso_role_name = Admin\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("profiles:\n%s\nwant:\n%s", text, want)
		}
	}
	// What the user reads never holds the token.
	data, _ = os.ReadFile(path)
	must(t, json.Unmarshal(data, &m))
	if strings.Contains(text, m["accessToken"].(string)) {
		t.Error("the profiles show the access token")
	}
}
