package config

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
)

// A profile names the SSO token cache file the SDK will read for it: the
// session's, the legacy start URL's, or its source profile's.
func TestSSOCacheFile(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("USERPROFILE", home)
	dir := t.TempDir()
	files := AWSFiles{Config: []string{filepath.Join(dir, "config")}}
	if err := os.WriteFile(files.Config[0], []byte(`[sso-session corp]
sso_start_url = https://corp.awsapps.com/start
sso_region = eu-west-1

[profile sso]
sso_session = corp
sso_account_id = 111122223333
sso_role_name = Dev

[profile legacy]
sso_start_url = https://legacy.awsapps.com/start
sso_region = eu-west-1
sso_account_id = 111122223333
sso_role_name = Dev

[profile chained]
role_arn = arn:aws:iam::111122223333:role/next
source_profile = sso

[profile keys]
aws_access_key_id = AKIAEXAMPLE
aws_secret_access_key = secret
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cache := func(key string) string {
		sum := sha1.Sum([]byte(key))
		return filepath.Join(home, ".aws", "sso", "cache", hex.EncodeToString(sum[:])+".json")
	}
	for profile, want := range map[string]string{
		"sso":     cache("corp"),
		"legacy":  cache("https://legacy.awsapps.com/start"),
		"chained": cache("corp"),
		"keys":    "",
	} {
		p, err := ResolveProfile(context.Background(), files, profile)
		if err != nil {
			t.Fatal(err)
		}
		if p.SSOCacheFile != want {
			t.Errorf("%s: SSOCacheFile %q, want %q", profile, p.SSOCacheFile, want)
		}
	}
}
