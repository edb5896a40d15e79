package keystore

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imdsd/imdsd/config"
)

func pass(p string) func(string) (string, error) {
	return func(string) (string, error) { return p, nil }
}

// roundTrip is what every backend must do: keys stored per profile come
// back whole, the listing names them without the secret, and removal is
// seen.
func roundTrip(t *testing.T, s *Store) {
	t.Helper()
	created := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	dev := Keys{AccessKeyID: "AKIAKEYRINGDEV000001", SecretAccessKey: "dev-secret/with+chars", Created: created}
	ops := Keys{AccessKeyID: "AKIAKEYRINGOPS000002", SecretAccessKey: "ops-secret", Created: created.Add(time.Hour)}
	if _, err := s.Get("dev"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get before Set: err = %v, want ErrNotFound", err)
	}
	for p, k := range map[string]Keys{"dev": dev, "ops": ops} {
		if err := s.Set(p, k); err != nil {
			t.Fatalf("Set %s: %v", p, err)
		}
	}
	got, err := s.Get("dev")
	if err != nil {
		t.Fatal(err)
	}
	if got.AccessKeyID != dev.AccessKeyID || got.SecretAccessKey != dev.SecretAccessKey || !got.Created.Equal(created) {
		t.Fatalf("Get dev = %+v, want %+v", got, dev)
	}
	list, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Profile != "dev" || list[0].AccessKeyID != dev.AccessKeyID || list[1].Profile != "ops" || !list[1].Created.Equal(ops.Created) {
		t.Fatalf("List = %+v", list)
	}
	if err := s.Remove("dev"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get("dev"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Remove: err = %v, want ErrNotFound", err)
	}
	if err := s.Remove("dev"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Remove: err = %v, want ErrNotFound", err)
	}
	if names, err := s.Profiles(); err != nil || strings.Join(names, ",") != "ops" {
		t.Fatalf("Profiles = %v, %v; want [ops]", names, err)
	}
	if err := s.Remove("ops"); err != nil {
		t.Fatal(err)
	}
}

func TestFileBackendRoundTrip(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "keyring")
	s, err := Open(config.Keyring{Backend: "file", FileDir: dir}, pass("correct horse"))
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, s)
}

// The file keeps the secret encrypted, and only the right passphrase
// opens it; without one the store says how to unlock.
func TestFileBackendPassphrase(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "keyring")
	cfg := config.Keyring{Backend: "file", FileDir: dir}
	s, err := Open(cfg, pass("correct horse"))
	if err != nil {
		t.Fatal(err)
	}
	const secret = "plaintext-must-not-appear"
	if err := s.Set("dev", Keys{AccessKeyID: "AKIAFILE000000000001", SecretAccessKey: secret, Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	files, _ := os.ReadDir(dir)
	for _, f := range files {
		b, _ := os.ReadFile(filepath.Join(dir, f.Name()))
		if strings.Contains(string(b), secret) || strings.Contains(string(b), "AKIAFILE") {
			t.Fatalf("keyring file %s holds the key in plaintext", f.Name())
		}
		if fi, _ := f.Info(); fi.Mode().Perm() != 0o600 {
			t.Errorf("keyring file mode %v, want 0600", fi.Mode().Perm())
		}
	}
	wrong, _ := Open(cfg, pass("wrong horse"))
	if _, err := wrong.Get("dev"); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("Get with a wrong passphrase: %v, want ErrWrongPassphrase", err)
	}
	none, _ := Open(cfg, nil)
	if _, err := none.Get("dev"); !errors.Is(err, ErrNoPassphrase) {
		t.Fatalf("Get without a passphrase: %v, want ErrNoPassphrase", err)
	}
	// Listing needs no passphrase: the daemon knows which profiles are
	// the keyring's while it is locked.
	if names, err := none.Profiles(); err != nil || len(names) != 1 || names[0] != "dev" {
		t.Fatalf("Profiles without passphrase = %v, %v", names, err)
	}
}

func TestOpenRejectsUnknownBackend(t *testing.T) {
	t.Parallel()
	_, err := Open(config.Keyring{Backend: "vault"}, nil)
	if err == nil || !strings.Contains(err.Error(), "secret-service") {
		t.Fatalf("err = %v, want one listing the valid backends", err)
	}
}
