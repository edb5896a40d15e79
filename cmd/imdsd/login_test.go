package main

import (
	"crypto/sha1"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imdsd/imdsd/test/fakesso"
)

// imdsd login as a user runs it: the AWS files from AWS_CONFIG_FILE, the
// endpoints from AWS_ENDPOINT_URL_SSO_OIDC, the browser played by the test.
func TestLoginCommand(t *testing.T) {
	s := fakesso.New()
	s.SetBrowser(fakesso.Approve)
	u, err := s.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	os.WriteFile(cfg, []byte("[profile dev]\nsso_session = corp\nsso_account_id = 111122223333\nsso_role_name = Dev\n\n[sso-session corp]\nsso_start_url = https://example.awsapps.com/start\nsso_region = eu-west-1\n"), 0o600)
	t.Setenv("HOME", dir)
	t.Setenv("AWS_CONFIG_FILE", cfg)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_ENDPOINT_URL_SSO_OIDC", u)
	t.Setenv("AWS_ENDPOINT_URL", u) // nothing may leave loopback
	t.Setenv("AWS_PROFILE", "dev")
	loginBrowser = func(u string) error {
		resp, err := http.Get(u)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	defer func() { loginBrowser = nil }()

	out, err := run(t, "login")
	if err != nil {
		t.Fatalf("login: %v\n%s", err, out)
	}
	sum := sha1.Sum([]byte("corp"))
	cache := filepath.Join(dir, ".aws", "sso", "cache", hex.EncodeToString(sum[:])+".json")
	if _, err := os.Stat(cache); err != nil || !strings.Contains(out, cache) {
		t.Fatalf("cache %s: %v; output:\n%s", cache, err, out)
	}
	s.AddRole("111122223333", "Dev")
	t.Setenv("AWS_ENDPOINT_URL_SSO", u)
	out, err = run(t, "sso", "profiles", "--sso-session", "corp")
	if err != nil || !strings.Contains(out, "[profile account-111122223333-Dev]\nsso_session = corp\n") {
		t.Fatalf("sso profiles: %v\n%s", err, out)
	}
	// --write appends the new profiles and names the one that exists.
	s.AddRole("111122223333", "Admin")
	before, _ := os.ReadFile(cfg)
	out, err = run(t, "sso", "profiles", "--sso-session", "corp", "--write")
	after, _ := os.ReadFile(cfg)
	if err != nil || !strings.HasPrefix(string(after), string(before)) {
		t.Fatalf("sso profiles --write: %v\n%s\nfile:\n%s", err, out, after)
	}
	for _, want := range []string{"Added to " + cfg, "[profile account-111122223333-Dev]", "[profile account-111122223333-Admin]"} {
		if !strings.Contains(out, want) || !strings.Contains(string(after), strings.TrimPrefix(want, "Added to "+cfg)) {
			t.Fatalf("sso profiles --write: %q missing from the output or the file\n%s\nfile:\n%s", want, out, after)
		}
	}
	out, err = run(t, "sso", "profiles", "--sso-session", "corp", "--write")
	again, _ := os.ReadFile(cfg)
	if err != nil || string(again) != string(after) || !strings.Contains(out, "skipped [profile account-111122223333-Dev]: a profile of that name exists already") || !strings.Contains(out, "Nothing added") {
		t.Fatalf("second --write: %v\n%s", err, out)
	}
	if _, err := run(t, "login", "--profile", "dev", "--sso-session", "corp"); err == nil {
		t.Fatal("--profile with --sso-session was accepted")
	}
}
