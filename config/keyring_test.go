package config

import (
	"runtime"
	"strings"
	"testing"
)

func TestParseKeyring(t *testing.T) {
	isolateEnv(t)
	const f = "/home/u/.config/imdsd/config.toml"
	cases := map[string]struct {
		src, backend, err string
	}{
		"secret service": {src: "[keyring]\nbackend = \"secret-service\"\n", backend: "secret-service"},
		"unknown backend": {src: "[keyring]\nbackend = \"vault\"\n",
			err: f + `:2: keyring.backend: "vault" is not a keyring backend; use one of "keychain", "wincred", "secret-service", "kwallet", "pass", "keyctl", "file"`},
		"relative dir": {src: "[keyring]\nfile_dir = \"keys\"\n",
			err: f + `:2: keyring.file_dir: "keys" is a relative path; use an absolute path or one starting with "~/"`},
		"typo": {src: "[keyring]\nbackedn = \"file\"\n", err: "keyring.backedn: unknown key"},
		"not a table": {src: "keyring = \"file\"\n",
			err: f + `:1: keyring: must be a table: write [keyring] on its own line and its settings below it`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			cfg, err := Parse(f, []byte(c.src))
			switch {
			case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
				t.Fatalf("error = %v\nwant one containing %s", err, c.err)
			case c.err == "" && err != nil:
				t.Fatal(err)
			case c.err == "" && cfg.Keyring.Backend != c.backend:
				t.Fatalf("backend = %q, want %q", cfg.Keyring.Backend, c.backend)
			}
		})
	}
}

func TestDefaultKeyringBackendFollowsTheSessionBus(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the session bus decides only on Linux")
	}
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	if got := DefaultKeyringBackend(); got != "file" {
		t.Errorf("without a session bus: %q, want file", got)
	}
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/run/user/1000/bus")
	if got := DefaultKeyringBackend(); got != "secret-service" {
		t.Errorf("with a session bus: %q, want secret-service", got)
	}
}
