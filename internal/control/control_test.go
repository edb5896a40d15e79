package control

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imdsd/imdsd/imds"
	"github.com/imdsd/imdsd/internal/audit"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type fakeBackend struct{ Backend }

func (fakeBackend) Status() Status { return Status{IMDSProfile: "dev", PID: 42} }
func (fakeBackend) Creds(*http.Request, string) (imds.Credentials, error) {
	return imds.Credentials{AccessKeyID: "ASIAREAL", SecretAccessKey: "s", SessionToken: "t", Expires: time.Now().Add(time.Hour)}, nil
}
func (fakeBackend) Sessions() []audit.Consumer { return nil }

// privateDir is a 0700 directory for sockets: t.TempDir's parents may be
// group-writable on some machines, which is fine: only the socket's own
// directory is checked.
func privateDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "imdsd")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestClientTalksToItsOwnDaemon(t *testing.T) {
	t.Parallel()
	path := filepath.Join(privateDir(t), "control.sock")
	s, err := Listen(path, fakeBackend{}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, err := NewClient(path).Status(context.Background())
	if err != nil || st.IMDSProfile != "dev" || st.PID != 42 {
		t.Fatalf("status: %+v %v", st, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode: %v %v, want 0600", fi, err)
	}
}

func TestListenRefusesAnUnsafeSocketDirectory(t *testing.T) {
	t.Parallel()
	root := os.Geteuid() == 0
	cases := map[string]struct {
		needsRoot bool
		setup     func(t *testing.T) string // returns the socket directory
		want      string
	}{
		"writable by others": {
			setup: func(t *testing.T) string {
				dir := privateDir(t)
				if err := os.Chmod(dir, 0o777); err != nil {
					t.Fatal(err)
				}
				return dir
			},
			want: "writable by other users",
		},
		"owned by another user": {
			needsRoot: true,
			setup: func(t *testing.T) string {
				dir := privateDir(t)
				if err := os.Chown(dir, 65534, 65534); err != nil {
					t.Fatal(err)
				}
				return dir
			},
			want: "owned by uid 65534",
		},
		"a symlink planted by another user": {
			needsRoot: true,
			setup: func(t *testing.T) string {
				target := privateDir(t) // ours: only the link is foreign
				link := filepath.Join(t.TempDir(), "imdsd")
				if err := os.Symlink(target, link); err != nil {
					t.Fatal(err)
				}
				if err := os.Lchown(link, 65534, 65534); err != nil {
					t.Fatal(err)
				}
				return link
			},
			want: "symlink owned by uid 65534",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if tc.needsRoot && !root {
				t.Skip("needs root to make files owned by another user")
			}
			dir := tc.setup(t)
			s, err := Listen(filepath.Join(dir, "control.sock"), fakeBackend{}, quiet)
			if err == nil {
				s.Close()
				t.Fatalf("Listen in %s succeeded", name)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "control_socket") {
				t.Fatalf("error %q lacks %q and the setting to change", err, tc.want)
			}
		})
	}
}

// A socket planted by another user (at the path the CLI uses) gets
// nothing: not a byte of the request (an MFA code, a credentials request),
// and its forged answers are not believed.
func TestClientRefusesASocketServedByAnotherUser(t *testing.T) {
	t.Parallel()
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil || os.Geteuid() != 0 {
		t.Skip("needs root (to act as another user) and /usr/bin/python3")
	}
	// A shared directory the other user can write, as /tmp is.
	dir, err := os.MkdirTemp("", "imdsd-planted-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "control.sock")
	// The impostor answers any request with forged credentials, and
	// reports how many bytes it was sent.
	script := `import socket, sys, os
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); os.chmod(sys.argv[1], 0o666); s.listen(4)
print("ready", flush=True)
c, _ = s.accept(); c.settimeout(3)
try:
    data = c.recv(65536)
    c.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 95\r\n\r\n{"Version":1,"AccessKeyId":"ASIAFORGED","SecretAccessKey":"x","SessionToken":"y","Expiration":""}')
except OSError:
    data = b""
print(len(data), flush=True)`
	var out io.ReadCloser
	cmd := exec.Command(py, "-c", script, path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err = cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := bufio.NewScanner(out)
	if !lines.Scan() || lines.Text() != "ready" {
		t.Fatalf("impostor did not start: %q", lines.Text())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := NewClient(path).Creds(ctx, "dev")
	if err == nil {
		t.Fatalf("the CLI accepted credentials %q from a socket served by another user", c.AccessKeyID)
	}
	for _, want := range []string{"uid 65534", "nothing was sent"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if !lines.Scan() || lines.Text() != "0" {
		t.Fatalf("the impostor received %s bytes, want 0", lines.Text())
	}
}

// lockBackend records which lock the API asked for.
type lockBackend struct {
	fakeBackend
	locked, revoked chan string
}

func (b lockBackend) Lock() { b.locked <- "lock" }
func (b lockBackend) LockRevoke(context.Context) []RevokeResult {
	b.locked <- "lock+revoke"
	return []RevokeResult{{Profile: "dev", RoleARN: "arn:aws:iam::111122223333:role/dev"}}
}
func (b lockBackend) Revoke(_ context.Context, p string) (RevokeResult, error) {
	b.revoked <- p
	return RevokeResult{Profile: p, AccessKeyID: "ASIANEW"}, nil
}

// Plain lock sends no body and stays a plain lock; lock with revoke and
// revoke reach their backend calls with what the client sent.
func TestLockAndRevokeRequests(t *testing.T) {
	t.Parallel()
	path := filepath.Join(privateDir(t), "control.sock")
	b := lockBackend{locked: make(chan string, 1), revoked: make(chan string, 1)}
	s, err := Listen(path, b, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, ctx := NewClient(path), context.Background()
	if _, err := c.Lock(ctx); err != nil || <-b.locked != "lock" {
		t.Fatalf("lock: %v", err)
	}
	res, err := c.LockRevoke(ctx)
	if err != nil || <-b.locked != "lock+revoke" || len(res) != 1 || res[0].Profile != "dev" {
		t.Fatalf("lock --revoke: %+v %v", res, err)
	}
	r, err := c.Revoke(ctx, "ops")
	if err != nil || <-b.revoked != "ops" || r.AccessKeyID != "ASIANEW" {
		t.Fatalf("revoke: %+v %v", r, err)
	}
}
