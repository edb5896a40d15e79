package config

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestSetTopLevelString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, text, want string
	}{
		{"empty file", "", "profile = \"dev\"\n"},
		{"no trailing newline", "region = \"eu-west-1\"", "region = \"eu-west-1\"\nprofile = \"dev\"\n"},
		{"replaces in place", "# c\nprofile = \"old\" # note\nregion = \"x\"\n", "# c\nprofile = \"dev\"\nregion = \"x\"\n"},
		{"replaces spaced key", "  profile   =   'old'\n", "profile = \"dev\"\n"},
		{"before the first table", "# top\n\n[imds]\nprofile = \"not top-level\"\n", "# top\n\nprofile = \"dev\"\n[imds]\nprofile = \"not top-level\"\n"},
		{"table on the first line", "[ecs]\nlisten = []\n", "profile = \"dev\"\n[ecs]\nlisten = []\n"},
		{"similar key untouched", "profiles_x = 1\n", "profiles_x = 1\nprofile = \"dev\"\n"},
		{"keeps CRLF lines", "region = \"x\"\r\n[imds]\r\n", "region = \"x\"\r\nprofile = \"dev\"\n[imds]\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := SetTopLevelString(tt.text, "profile", "dev"); got != tt.want {
				t.Errorf("SetTopLevelString(%q) =\n%q\nwant\n%q", tt.text, got, tt.want)
			}
		})
	}
	if got, want := SetTopLevelString("", "profile", `we"ird`), "profile = \"we\\\"ird\"\n"; got != want {
		t.Errorf("quoting: got %q, want %q", got, want)
	}
}

func TestWriteFileAtomic(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		existing bool
		mode     os.FileMode
	}{
		{"new file", false, 0o600},
		{"replaces", true, 0o600},
		{"keeps a wider mode", true, 0o644},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, "config.toml")
			if tt.existing {
				if err := os.WriteFile(path, []byte("old contents that are longer"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if err := WriteFileAtomic(path, []byte("new"), tt.mode); err != nil {
				t.Fatal(err)
			}
			if b, err := os.ReadFile(path); err != nil || string(b) != "new" {
				t.Errorf("file holds %q (%v), want %q", b, err, "new")
			}
			if fi, err := os.Stat(path); err != nil {
				t.Fatal(err)
			} else if runtime.GOOS != "windows" && fi.Mode().Perm() != tt.mode {
				t.Errorf("mode = %04o, want %04o", fi.Mode().Perm(), tt.mode)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Errorf("directory holds %v; the temporary file was left behind", entries)
			}
		})
	}
	// `imdsd use` on a first run: the config directory does not exist yet.
	dir := filepath.Join(t.TempDir(), "new", "imdsd")
	if err := WriteFileAtomic(filepath.Join(dir, "config.toml"), []byte("x"), 0o600); err != nil {
		t.Fatalf("writing into a missing directory: %v", err)
	}
	if fi, err := os.Stat(dir); err != nil || (runtime.GOOS != "windows" && fi.Mode().Perm() != 0o700) {
		t.Errorf("created directory: %v %v, want mode 0700", fi, err)
	}
}
