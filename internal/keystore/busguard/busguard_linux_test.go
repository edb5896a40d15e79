package busguard_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	_ "github.com/imdsd/imdsd/internal/keystore" // links the keyring library, as imdsd does
)

// TestNoBusIsLaunched: a process that links the keyring library, on a
// machine with dbus-launch but no session bus, runs nothing. Without the
// guard the library's initialisers run dbus-launch (once each for Secret
// Service and KWallet), which would leave dbus-daemons behind.
func TestNoBusIsLaunched(t *testing.T) {
	if os.Getenv("BUSGUARD_CHILD") == "1" {
		// The initialisers have run; the guard's address is gone again.
		if a, ok := os.LookupEnv("DBUS_SESSION_BUS_ADDRESS"); ok {
			t.Fatalf("DBUS_SESSION_BUS_ADDRESS left as %q", a)
		}
		return
	}
	for _, tc := range []struct {
		name     string
		disabled bool
		launches bool
	}{
		{"guarded", false, false},
		{"without the guard", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			marker := filepath.Join(dir, "launched")
			fake := filepath.Join(dir, "dbus-launch")
			script := "#!/bin/sh\necho run >> " + marker + "\nexit 1\n"
			if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestNoBusIsLaunched$")
			cmd.Env = []string{"PATH=" + dir, "HOME=" + dir, "XDG_RUNTIME_DIR=" + dir, "BUSGUARD_CHILD=1"}
			if tc.disabled {
				cmd.Env = append(cmd.Env, "IMDSD_TEST_NO_BUSGUARD=1")
			}
			out, err := cmd.CombinedOutput()
			if err != nil && !tc.disabled {
				t.Fatalf("child: %v\n%s", err, out)
			}
			_, statErr := os.Stat(marker)
			if launched := statErr == nil; launched != tc.launches {
				t.Errorf("dbus-launch run: %v, want %v (child output: %s)", launched, tc.launches, out)
			}
		})
	}
}
