package main

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestVersionAndIMDSDConfig(t *testing.T) {
	out, err := run(t, "version")
	if err != nil || !strings.HasPrefix(out, "imdsd "+version+" ("+runtime.Version()) {
		t.Fatalf("version: %v %q", err, out)
	}
	// $IMDSD_CONFIG is the default for --config: its bad key is reported
	// with its path, and a path it names must exist.
	f := filepath.Join(t.TempDir(), "elsewhere.toml")
	os.WriteFile(f, []byte("profile = \"dev\"\nrefresh_befor = \"10m\"\n"), 0o600)
	t.Setenv("IMDSD_CONFIG", f)
	if _, err := run(t, "serve"); err == nil || !strings.Contains(err.Error(), f+":2: refresh_befor") {
		t.Fatalf("serve with IMDSD_CONFIG: %v", err)
	}
	t.Setenv("IMDSD_CONFIG", f+".missing")
	if _, err := run(t, "serve"); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("serve with IMDSD_CONFIG naming a missing file: %v", err)
	}
}
