package daemon

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestControlSocketRefusesOtherUsers(t *testing.T) {
	t.Parallel()
	// The system python: another user cannot run a per-user install.
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil || os.Geteuid() != 0 {
		t.Skip("needs root (to act as another user) and /usr/bin/python3")
	}
	e := startEnv(t, envOptions{})
	// Loosen the file mode on purpose: the peer-uid check must still hold.
	must(t, os.Chmod(filepath.Dir(e.dir), 0o755))
	must(t, os.Chmod(e.dir, 0o755))
	must(t, os.Chmod(e.dir+"/imdsd", 0o755))
	must(t, os.Chmod(e.socket(), 0o666))
	script := `import socket,sys
s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])
try:
    s.sendall(b"GET /v1/status HTTP/1.0\r\nHost: x\r\n\r\n"); print(len(s.recv(4096)))
except OSError:
    print(0)`
	cmd := exec.Command(py, "-c", script, e.socket())
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("client as nobody: %v %s", err, out)
	}
	if strings.TrimSpace(string(out)) != "0" {
		t.Fatalf("another user got %s bytes of answer", out)
	}
	if !strings.Contains(e.logs.String(), "refused a connection from another user") {
		t.Fatal("refusal not logged")
	}
}
