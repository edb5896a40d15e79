package keystore

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imdsd/imdsd/config"
)

// secretServiceChild marks this test binary running inside the private
// D-Bus session that TestSecretServiceBackend starts.
const secretServiceChild = "IMDSD_TEST_SECRET_SERVICE_CHILD"

// TestSecretServiceBackend round-trips keys through the Secret Service
// (gnome-keyring) in a private D-Bus session, never the desktop's: the
// test binary runs itself again under dbus-run-session, after
// gnome-keyring-daemon --unlock has made and unlocked a "login" keyring
// with a throwaway password in a temporary home. (The keyring library
// decides at start whether a session bus exists, hence a new process.)
func TestSecretServiceBackend(t *testing.T) {
	if os.Getenv(secretServiceChild) != "" {
		s, err := Open(config.Keyring{Backend: "secret-service"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		roundTrip(t, s)
		return
	}
	for _, tool := range []string{"dbus-run-session", "gnome-keyring-daemon"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (Debian: apt-get install dbus gnome-keyring), so the Secret Service backend cannot be tested here", tool)
		}
	}
	t.Parallel()
	home := t.TempDir()
	run := filepath.Join(home, "run")
	if err := os.Mkdir(run, 0o700); err != nil {
		t.Fatal(err)
	}
	script := `printf %s throwaway-password | gnome-keyring-daemon --unlock --components=secrets >/dev/null && exec "$0" -test.run='^TestSecretServiceBackend$' -test.v`
	cmd := exec.Command("dbus-run-session", "--", "sh", "-c", script, os.Args[0])
	cmd.Env = append(cleanEnv(), secretServiceChild+"=1", "HOME="+home, "XDG_RUNTIME_DIR="+run, "XDG_DATA_HOME="+filepath.Join(home, "data"))
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestSecretServiceBackend") {
		t.Fatalf("in a private D-Bus session: %v\n%s", err, out)
	}
}

// cleanEnv is the environment without the desktop's session bus.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k != "DBUS_SESSION_BUS_ADDRESS" && k != "HOME" && k != "XDG_RUNTIME_DIR" && k != "XDG_DATA_HOME" {
			out = append(out, kv)
		}
	}
	return out
}
