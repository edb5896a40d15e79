//go:build unix

package config

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// nonRootEnv marks a test binary re-run as otherUID by asNonRoot.
const nonRootEnv = "IMDSD_TEST_AS_NONROOT"

var nonRootBin struct {
	once     sync.Once
	dir, bin string
	err      error
}

// asNonRoot lets a test see permissions as a user does; root reads mode-000
// files. Run by another user it returns true and the test goes on. Run by
// root it runs this one test again in a copy of the test binary as uid
// otherUID, reports that run's outcome and returns false; it skips when the
// system will not let it switch users (no CAP_SETUID, an unreachable
// temporary directory).
func asNonRoot(t *testing.T) bool {
	t.Helper()
	if os.Geteuid() != 0 {
		return true
	}
	if os.Getenv(nonRootEnv) != "" {
		t.Fatalf("re-run to be uid %d, but still root", otherUID)
	}
	b := &nonRootBin
	b.once.Do(func() { b.dir, b.bin, b.err = copyTestBinary() })
	if b.err != nil {
		t.Skipf("cannot prepare a test binary uid %d can run: %v", otherUID, b.err)
	}
	// Files the re-run creates live in its own temporary directory.
	tmp, err := os.MkdirTemp(b.dir, "tmp-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	if err := os.Chown(tmp, otherUID, otherUID); err != nil {
		t.Skipf("cannot give uid %d a directory: %v", otherUID, err)
	}
	var pattern []string
	for _, part := range strings.Split(t.Name(), "/") {
		pattern = append(pattern, "^"+regexp.QuoteMeta(part)+"$")
	}
	cmd := exec.Command(b.bin, "-test.run="+strings.Join(pattern, "/"), "-test.count=1", "-test.v")
	// GOCOVERDIR is the parent's, which the other user cannot write.
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "GOCOVERDIR=") })
	cmd.Env = append(env, nonRootEnv+"=1", "TMPDIR="+tmp, "HOME="+tmp)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: otherUID, Gid: otherUID, Groups: []uint32{}}}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		t.Fatalf("as uid %d: %v\n%s", otherUID, err, out)
	case err != nil:
		t.Skipf("cannot run the test as uid %d: %v", otherUID, err)
	case strings.Contains(string(out), "--- SKIP: "+t.Name()):
		t.Skipf("as uid %d:\n%s", otherUID, out)
	case !strings.Contains(string(out), "--- PASS: "+t.Name()):
		t.Fatalf("as uid %d: the test did not run:\n%s", otherUID, out)
	}
	return false
}

// copyTestBinary copies the running test binary where otherUID can run it:
// go test builds it in a directory only its user can enter.
func copyTestBinary() (dir, bin string, err error) {
	exe, err := os.Executable()
	if err != nil {
		return "", "", err
	}
	dir, err = os.MkdirTemp("", "imdsd-nonroot-")
	if err != nil {
		return "", "", err
	}
	// TestMain removes it: a test's cleanup would remove it under later
	// tests that still need it.
	if err := os.Chmod(dir, 0o755); err != nil {
		return dir, "", err
	}
	src, err := os.Open(exe)
	if err != nil {
		return dir, "", err
	}
	defer src.Close()
	bin = filepath.Join(dir, filepath.Base(exe))
	dst, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		return dir, "", err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return dir, "", err
	}
	return dir, bin, dst.Close()
}

func TestMain(m *testing.M) {
	code := m.Run()
	if nonRootBin.dir != "" {
		os.RemoveAll(nonRootBin.dir)
	}
	os.Exit(code)
}
