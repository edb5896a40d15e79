//go:build unix

package config

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestEnsureTokenFileRefuses covers token files someone else could have
// chosen: a symlink (swapped in, or pre-created by another user), a file
// of another owner, a special file, or a directory others can write in.
// Each is refused with the path and the fix, and nothing is created or
// changed.
func TestEnsureTokenFileRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// setup prepares dir and returns the token file path.
		setup func(t *testing.T, dir string) string
		want  []string
	}{
		{"symlink to our own token", func(t *testing.T, dir string) string {
			writeTokenFixture(t, filepath.Join(dir, "real"))
			return symlink(t, filepath.Join(dir, "real"), filepath.Join(dir, "tok"))
		}, []string{"is a symbolic link (to ", "does not follow a symlink", "point ecs.token_file at the file itself"}},
		{"dangling symlink", func(t *testing.T, dir string) string {
			// Must not be followed to create the target either.
			return symlink(t, filepath.Join(dir, "elsewhere"), filepath.Join(dir, "tok"))
		}, []string{"is a symbolic link", "point ecs.token_file at the file itself"}},
		{"symlink to /dev/zero", func(t *testing.T, dir string) string {
			return symlink(t, "/dev/zero", filepath.Join(dir, "tok"))
		}, []string{"is a symbolic link (to /dev/zero)"}},
		{"FIFO", func(t *testing.T, dir string) string {
			return mkfifo(t, filepath.Join(dir, "tok"))
		}, []string{"is a named pipe (FIFO), not a regular file; point ecs.token_file at a regular file"}},
		{"/dev/zero", func(t *testing.T, dir string) string {
			needDevZero(t)
			return "/dev/zero"
		}, []string{"is a character device, not a regular file"}},
		{"group-writable directory", func(t *testing.T, dir string) string {
			return tokenInDir(t, dir, 0o770, true)
		}, []string{"writable by other users (mode 0770)", "so they could replace the ECS token file", "run: chmod go-w "}},
		{"other-writable directory", func(t *testing.T, dir string) string {
			return tokenInDir(t, dir, 0o703, true)
		}, []string{"writable by other users (mode 0703)", "chmod go-w "}},
		{"sticky world-writable directory", func(t *testing.T, dir string) string {
			return tokenInDir(t, dir, 0o1777, true)
		}, []string{"writable by other users (mode 1777)", "point ecs.token_file at a file in a private directory, e.g. ~/.config/imdsd/ecs-token"}},
		{"no token yet, writable directory", func(t *testing.T, dir string) string {
			return tokenInDir(t, dir, 0o777, false)
		}, []string{"writable by other users (mode 0777)"}},
		{"another user's token", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "tok")
			writeTokenFixture(t, p)
			chownOther(t, p)
			return p
		}, []string{fmt.Sprintf("is owned by uid %d, not by you (uid %d), so another user can change it", otherUID, os.Geteuid()), "delete it and imdsd will create a new one, or point ecs.token_file at a file you own"}},
		{"another user's directory", func(t *testing.T, dir string) string {
			d := filepath.Join(dir, "theirs")
			if err := os.Mkdir(d, 0o755); err != nil {
				t.Fatal(err)
			}
			writeTokenFixture(t, filepath.Join(d, "tok"))
			chownOther(t, d)
			return filepath.Join(d, "tok")
		}, []string{fmt.Sprintf("is owned by uid %d, not by you (uid %d) or root, so its owner could replace the ECS token file", otherUID, os.Geteuid()), "a file in a directory you own"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := tt.setup(t, dir)
			before := snapshotDir(t, filepath.Dir(path))
			type result struct {
				tok string
				err error
			}
			r := noHang(t, "EnsureTokenFile", func() result {
				tok, _, err := EnsureTokenFile(path)
				return result{tok, err}
			})
			if r.err == nil {
				t.Fatalf("accepted (token %q)", r.tok)
			}
			wantErr(t, r.err, path, tt.want...)
			if after := snapshotDir(t, filepath.Dir(path)); after != before {
				t.Errorf("directory changed:\n%s\nwas\n%s", after, before)
			}
			r = noHang(t, "ReadTokenFile", func() result {
				tok, err := ReadTokenFile(path)
				return result{tok, err}
			})
			wantErr(t, r.err, path, tt.want...)
		})
	}
}

// TestEnsureTokenFileDirectoryIsChecked: a private directory with a symlink
// above it is fine (only the last component must not be a link), as is a
// root-owned one others cannot write.
func TestEnsureTokenFileDirectoryChecks(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	if err := os.Mkdir(filepath.Join(base, "real"), 0o700); err != nil {
		t.Fatal(err)
	}
	link := symlink(t, "real", filepath.Join(base, "dir"))
	tok, created, err := EnsureTokenFile(filepath.Join(link, "tok"))
	if err != nil || !created {
		t.Fatalf("token under a symlinked private directory: %v (created %v)", err, created)
	}
	if again, err := ReadTokenFile(filepath.Join(base, "real", "tok")); err != nil || again != tok {
		t.Errorf("reading it back: %q, %v", again, err)
	}

	// A group-writable directory is refused even when the token is fine.
	if err := os.Chmod(filepath.Join(base, "real"), 0o770); err != nil {
		t.Fatal(err)
	}
	_, _, err = EnsureTokenFile(filepath.Join(link, "tok"))
	wantErr(t, err, filepath.Join(link, "tok"), "the directory "+link+" is writable by other users")
}

func writeTokenFixture(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("tok3n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// tokenInDir makes dir/d with mode (set explicitly, past the umask) and
// returns dir/d/tok, a valid token file when withToken.
func tokenInDir(t *testing.T, dir string, mode os.FileMode, withToken bool) string {
	t.Helper()
	d := filepath.Join(dir, "d")
	if err := os.Mkdir(d, 0o700); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(d, "tok")
	if withToken {
		writeTokenFixture(t, p)
	}
	if err := os.Chmod(d, mode|sticky(mode)); err != nil {
		t.Fatal(err)
	}
	return p
}

// sticky carries the sticky bit of a Unix mode into an os.FileMode.
func sticky(m os.FileMode) os.FileMode {
	if m&0o1000 != 0 {
		return os.ModeSticky
	}
	return 0
}

// snapshotDir lists a directory's entries with their types, sizes and
// link targets, to show a refused call changed nothing.
func snapshotDir(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "unreadable: " + err.Error()
	}
	var s string
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		target, _ := os.Readlink(p)
		s += fmt.Sprintf("%s %v %d %s\n", e.Name(), fi.Mode(), fi.Size(), target)
	}
	return s
}
