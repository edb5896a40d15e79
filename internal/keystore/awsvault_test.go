package keystore_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/99designs/keyring"

	"github.com/imdsd/imdsd/config"
	"github.com/imdsd/imdsd/internal/keyops"
	"github.com/imdsd/imdsd/internal/keystore"
	"github.com/imdsd/imdsd/test/fakests"
)

// writeAWSVault stores items the way aws-vault does: its service name,
// its file directory and passphrase, the profile as the item's key and
// the credentials as JSON.
func writeAWSVault(t *testing.T, dir, passphrase string, items map[string]any) {
	t.Helper()
	ring, err := keyring.Open(keyring.Config{
		ServiceName:      "aws-vault",
		AllowedBackends:  []keyring.BackendType{keyring.FileBackend},
		FileDir:          dir,
		FilePasswordFunc: func(string) (string, error) { return passphrase, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range items {
		data, _ := json.Marshal(v)
		if err := ring.Set(keyring.Item{Key: k, Label: "aws-vault (" + k + ")", Data: data}); err != nil {
			t.Fatal(err)
		}
	}
}

// An aws-vault user moves a key into imdsd's keyring with no plaintext
// copy: read from aws-vault's file keyring, checked at STS, stored.
func TestImportFromAWSVault(t *testing.T) {
	const (
		keyID  = "AKIAAWSVAULTIMPORT01"
		secret = "aws-vault-secret-never-printed"
	)
	sts := fakests.New()
	sts.SetLogf(func(string, ...any) {})
	sts.AddUser(keyID, secret, "arn:aws:iam::111122223333:user/carol")
	if _, err := sts.Start(); err != nil {
		t.Fatal(err)
	}
	defer sts.Close()
	t.Setenv("AWS_ENDPOINT_URL_STS", sts.URL())
	t.Setenv("AWS_VAULT_BACKEND", "")
	t.Setenv("AWS_VAULT_FILE_PASSPHRASE", "vault pass")
	dir := t.TempDir()
	vaultDir := filepath.Join(dir, "awsvault")
	t.Setenv("AWS_VAULT_FILE_DIR", vaultDir)
	writeAWSVault(t, vaultDir, "vault pass", map[string]any{
		// aws-vault v6 wrote SDK v1's credentials.Value, v7 SDK v2's
		// aws.Credentials: both carry these field names.
		"work":    map[string]any{"AccessKeyID": keyID, "SecretAccessKey": secret, "SessionToken": "", "ProviderName": ""},
		"session": map[string]any{"AccessKeyID": "ASIASESSION", "SecretAccessKey": "s", "SessionToken": "tok"},
	})
	o := keyops.Options{
		Keyring:    config.Keyring{Backend: "file", FileDir: filepath.Join(dir, "imdsd")},
		Passphrase: func(string, bool) (string, error) { return "imdsd pass", nil },
		Files:      config.AWSFiles{Config: []string{filepath.Join(dir, "none")}, Credentials: []string{filepath.Join(dir, "none2")}},
		StateDir:   filepath.Join(dir, "state"),
	}
	ctx := context.Background()
	added, err := keyops.ImportAWSVault(ctx, o, "work", "file")
	if err != nil {
		t.Fatal(err)
	}
	if added.AccessKeyID != keyID || added.ARN != "arn:aws:iam::111122223333:user/carol" {
		t.Fatalf("imported %+v", added)
	}
	s, err := keystore.Open(o.Keyring, func(string) (string, error) { return "imdsd pass", nil })
	if err != nil {
		t.Fatal(err)
	}
	if k, err := s.Get("work"); err != nil || k.AccessKeyID != keyID || k.SecretAccessKey != secret {
		t.Fatalf("imdsd's keyring holds %s, %v", k.AccessKeyID, err)
	}
	for _, tc := range []struct{ profile, want string }{
		{"session", "is a session, not a long-term key"},
		{"nosuch", "has no key for profile nosuch"},
	} {
		if _, err := keyops.ImportAWSVault(ctx, o, tc.profile, "file"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("importing %s: %v, want %q", tc.profile, err, tc.want)
		}
	}
	t.Setenv("AWS_VAULT_FILE_PASSPHRASE", "wrong")
	if _, err := keyops.ImportAWSVault(ctx, o, "work", "file"); err == nil || !strings.Contains(err.Error(), "wrong passphrase") {
		t.Errorf("a wrong aws-vault passphrase: %v", err)
	}
}
