package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imdsd/imdsd/test/fakests"
)

// TestKeysCommands drives `imdsd keys` as a user would: a key moved from
// the credentials file (checked at the fake STS, the section removed), a
// key typed on stdin, the listing without secrets, `imdsd profiles`
// naming the keyring as the source, and removal.
func TestKeysCommands(t *testing.T) {
	sts := fakests.New()
	sts.SetLogf(func(string, ...any) {})
	sts.AddUser("AKIAKEYSCMDBASE00001", "base-secret-never-printed", "arn:aws:iam::111122223333:user/alice")
	sts.AddUserWith("AKIAKEYSCMDTYPED0001", "typed-secret-never-printed", "arn:aws:iam::111122223333:user/bob",
		fakests.UserOptions{IAMActions: []string{"iam:ListAccessKeys", "iam:CreateAccessKey", "iam:DeleteAccessKey"}})
	if _, err := sts.Start(); err != nil {
		t.Fatal(err)
	}
	defer sts.Close()

	dir := t.TempDir()
	cfgFile, credFile := filepath.Join(dir, "config"), filepath.Join(dir, "credentials")
	services := "services = fake\n"
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(cfgFile, []byte("[profile base]\nregion = eu-west-1\n"+services+"\n[profile typed]\n"+services+
		"\n[services fake]\nsts =\n  endpoint_url = "+sts.URL()+"\niam =\n  endpoint_url = "+sts.URL()+"\n"), 0o600))
	must(os.WriteFile(credFile, []byte("[base]\naws_access_key_id = AKIAKEYSCMDBASE00001\naws_secret_access_key = base-secret-never-printed\n\n[keep]\nx = 1\n"), 0o600))
	imdsdCfg := filepath.Join(dir, "imdsd.toml")
	must(os.WriteFile(imdsdCfg, []byte("profile = \"base\"\ncontrol_socket = \""+filepath.Join(dir, "sock")+"\"\n[keyring]\nbackend = \"file\"\nfile_dir = \""+filepath.Join(dir, "keyring")+"\"\n"), 0o600))
	t.Setenv("AWS_CONFIG_FILE", cfgFile)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", credFile)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "xdg")) // where the keyring overlay goes
	t.Setenv("IMDSD_KEYRING_PASSPHRASE", "pass phrase")

	out, err := run(t, "keys", "add", "base", "--from-credentials", "--yes", "--config", imdsdCfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "stored AKIAKEYSCMDBASE00001") || !strings.Contains(out, "removed [base]") {
		t.Fatalf("keys add --from-credentials said:\n%s", out)
	}
	if b, _ := os.ReadFile(credFile); string(b) != "\n[keep]\nx = 1\n" {
		t.Fatalf("credentials file after the move: %q", b)
	}

	// A typed key, read from stdin when it is not a terminal.
	r, w, _ := os.Pipe()
	w.WriteString("AKIAKEYSCMDTYPED0001\ntyped-secret-never-printed\n")
	w.Close()
	old := os.Stdin
	os.Stdin = r
	out, err = run(t, "keys", "add", "typed", "--config", imdsdCfg)
	os.Stdin = old
	if err != nil || !strings.Contains(out, "stored AKIAKEYSCMDTYPED0001") {
		t.Fatalf("keys add typed: %v\n%s", err, out)
	}
	// A key STS refuses is not stored.
	r, w, _ = os.Pipe()
	w.WriteString("AKIAKEYSCMDUNKNOWN01\nwrong\n")
	w.Close()
	os.Stdin = r
	_, err = run(t, "keys", "add", "bad", "--config", imdsdCfg)
	os.Stdin = old
	if err == nil || !strings.Contains(err.Error(), "not stored") {
		t.Fatalf("keys add with a key STS refuses: %v", err)
	}

	out, err = run(t, "keys", "list", "--config", imdsdCfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"base", "AKIAKEYSCMDBASE00001", "typed", "AKIAKEYSCMDTYPED0001", "0 days"} {
		if !strings.Contains(out, want) {
			t.Errorf("keys list lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "never-printed") || strings.Contains(out, "bad") {
		t.Fatalf("keys list shows a secret or a refused key:\n%s", out)
	}
	out, err = run(t, "profiles", "--config", imdsdCfg)
	if err != nil || !strings.Contains(out, "keyring") {
		t.Fatalf("profiles does not name the keyring as base's source: %v\n%s", err, out)
	}

	// Rotation: a new key in IAM and in the keyring, the old one gone.
	out, err = run(t, "keys", "rotate", "typed", "--config", imdsdCfg)
	if err != nil || !strings.Contains(out, "replaces AKIAKEYSCMDTYPED0001") {
		t.Fatalf("keys rotate: %v\n%s", err, out)
	}
	if out, _ := run(t, "keys", "list", "--config", imdsdCfg); strings.Contains(out, "AKIAKEYSCMDTYPED0001") || !strings.Contains(out, "typed") {
		t.Fatalf("keys list after rotate still shows the old key, or lost the profile:\n%s", out)
	}
	if _, err := run(t, "keys", "rotate", "nosuch", "--config", imdsdCfg); err == nil || !strings.Contains(err.Error(), "nosuch") {
		t.Fatalf("rotating a profile with no key: %v", err)
	}

	if _, err := run(t, "keys", "remove", "base", "--config", imdsdCfg); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "keys", "remove", "base", "--config", imdsdCfg); err == nil || !strings.Contains(err.Error(), "no keys in the keyring") {
		t.Fatalf("removing a key twice: %v", err)
	}
	if out, _ := run(t, "keys", "list", "--config", imdsdCfg); strings.Contains(out, "AKIAKEYSCMDBASE00001") {
		t.Fatalf("base still listed after remove:\n%s", out)
	}
}
