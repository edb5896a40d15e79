//go:build unix

package config

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func mkfifo(t *testing.T, path string) string {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func symlink(t *testing.T, target, link string) string {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	return link
}

// needDevZero skips where /dev/zero is missing (some containers).
func needDevZero(t *testing.T) {
	t.Helper()
	if fi, err := os.Stat("/dev/zero"); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		t.Skip("no /dev/zero character device")
	}
}

// otherUID is the uid tests give files that must not be ours.
const otherUID = 65534

// chownOther gives path to otherUID; only root can, so others skip.
func chownOther(t *testing.T, path string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a file to another uid")
	}
	if err := os.Lchown(path, otherUID, otherUID); err != nil {
		t.Fatal(err)
	}
}

func TestReadCheckedUnix(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) string // returns the path to read
		spec  *fileSpec
		want  []string // nil: accepted
	}{
		{"FIFO as AWS config", func(t *testing.T, dir string) string {
			return mkfifo(t, filepath.Join(dir, "config"))
		}, awsConfigSpec, []string{"is a named pipe (FIFO), not a regular file; point AWS_CONFIG_FILE at a regular file"}},
		{"FIFO as credentials", func(t *testing.T, dir string) string {
			return mkfifo(t, filepath.Join(dir, "credentials"))
		}, awsCredsSpec, []string{"is a named pipe (FIFO), not a regular file; point AWS_SHARED_CREDENTIALS_FILE at a regular file"}},
		{"symlink to a FIFO", func(t *testing.T, dir string) string {
			return symlink(t, mkfifo(t, filepath.Join(dir, "fifo")), filepath.Join(dir, "config.toml"))
		}, configFileSpec, []string{"is a named pipe (FIFO), not a regular file; point --config at a regular file"}},
		{"/dev/zero", func(t *testing.T, dir string) string {
			needDevZero(t)
			return "/dev/zero"
		}, configFileSpec, []string{"is a character device, not a regular file; point --config at a regular file"}},
		{"symlink to /dev/zero", func(t *testing.T, dir string) string {
			needDevZero(t)
			return symlink(t, "/dev/zero", filepath.Join(dir, "config"))
		}, awsConfigSpec, []string{"is a character device, not a regular file", "AWS_CONFIG_FILE"}},
		{"socket", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "s")
			l, err := net.Listen("unix", p)
			if err != nil {
				t.Skipf("cannot make a socket: %v", err)
			}
			t.Cleanup(func() { l.Close() })
			return p
		}, awsConfigSpec, []string{"is a socket, not a regular file"}},
		{"symlink to a regular file", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "real")
			writeFile(t, p, "[default]\n")
			return symlink(t, p, filepath.Join(dir, "config"))
		}, awsConfigSpec, nil},
		{"root-owned file", func(t *testing.T, dir string) string {
			// System-wide files (/etc) are fine: root can change ours anyway.
			if fi, err := os.Stat("/etc/passwd"); err != nil || !fi.Mode().IsRegular() {
				t.Skip("no /etc/passwd")
			}
			return "/etc/passwd"
		}, awsConfigSpec, nil},
		{"another user's file", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "config")
			writeFile(t, p, "[default]\n")
			chownOther(t, p)
			return p
		}, awsConfigSpec, []string{
			fmt.Sprintf("is owned by uid %d, not by you (uid %d) or root", otherUID, os.Geteuid()),
			fmt.Sprintf("sudo chown %d ", os.Geteuid()),
			"or point AWS_CONFIG_FILE at a file you own",
		}},
		{"our symlink to another user's file", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "theirs")
			writeFile(t, p, "x = 1\n")
			chownOther(t, p)
			return symlink(t, p, filepath.Join(dir, "config.toml"))
		}, configFileSpec, []string{fmt.Sprintf("is owned by uid %d", otherUID), "point --config at a file you own"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := tt.setup(t, t.TempDir())
			err := noHang(t, "readChecked", func() error { _, err := readChecked(path, tt.spec); return err })
			checkErr := noHang(t, "checkFile", func() error { return checkFile(path, tt.spec) })
			if tt.want == nil {
				if err != nil || checkErr != nil {
					t.Fatalf("refused: %v / %v", err, checkErr)
				}
				return
			}
			wantErr(t, err, path, tt.want...)
			wantErr(t, checkErr, path, tt.want...)
		})
	}
}

func TestReadCheckedSizeLies(t *testing.T) {
	t.Parallel()
	// /proc files say they are empty regular files; the cap still holds.
	const p = "/proc/self/status"
	if fi, err := os.Stat(p); err != nil || fi.Size() != 0 {
		t.Skip("no /proc/self/status reporting size 0")
	}
	spec := &fileSpec{what: "AWS config file", family: "AWS files", max: 16, pointAt: "point AWS_CONFIG_FILE at"}
	_, err := readChecked(p, spec)
	wantErr(t, err, p, "holds more than 16 bytes (it grew while being read)", "point AWS_CONFIG_FILE at the right file")
	wantErr(t, checkFile(p, spec), p, "holds more than 16 bytes")
}

func TestLoadRefusesSpecialFiles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) string
		want  string
	}{
		{"FIFO", func(t *testing.T, dir string) string {
			return mkfifo(t, filepath.Join(dir, "config.toml"))
		}, "is a named pipe (FIFO), not a regular file; point --config at a regular file"},
		{"/dev/zero", func(t *testing.T, dir string) string {
			needDevZero(t)
			return "/dev/zero"
		}, "is a character device, not a regular file; point --config at a regular file"},
		{"too large", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "config.toml")
			sparseFile(t, p, 3<<20)
			return p
		}, "is 3.0 MiB; imdsd reads config files up to 1 MiB; point --config at the right file"},
		{"directory", func(t *testing.T, dir string) string {
			return dir
		}, "is a directory, not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := tt.setup(t, t.TempDir())
			for _, explicit := range []bool{true, false} {
				err := noHang(t, "Load", func() error { _, err := LoadExplicit(path, explicit); return err })
				wantErr(t, err, path, tt.want)
			}
		})
	}
}

func TestResolveProfileChecksAWSFiles(t *testing.T) {
	t.Parallel()
	const creds = "[dev]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = S3CRET\n"
	tests := []struct {
		name  string
		setup func(t *testing.T, cfg, creds string)
		bad   func(cfg, creds string) string // the file the error must name; nil: accepted
		want  string
	}{
		{"config missing: fine", func(t *testing.T, _, c string) {
			writeFile(t, c, creds)
		}, nil, ""},
		{"config is a FIFO", func(t *testing.T, cfg, c string) {
			mkfifo(t, cfg)
			writeFile(t, c, creds)
		}, func(cfg, _ string) string { return cfg }, "is a named pipe (FIFO), not a regular file; point AWS_CONFIG_FILE at a regular file"},
		{"credentials are a FIFO", func(t *testing.T, cfg, c string) {
			writeFile(t, cfg, "[profile dev]\nregion = eu-west-1\n")
			mkfifo(t, c)
		}, func(_, c string) string { return c }, "point AWS_SHARED_CREDENTIALS_FILE at a regular file"},
		{"config too large", func(t *testing.T, cfg, c string) {
			sparseFile(t, cfg, 110<<20)
			writeFile(t, c, creds)
		}, func(cfg, _ string) string { return cfg }, "is 110.0 MiB; imdsd reads AWS files up to 8 MiB"},
		{"config is /dev/zero", func(t *testing.T, cfg, c string) {
			needDevZero(t)
			symlink(t, "/dev/zero", cfg)
			writeFile(t, c, creds)
		}, func(cfg, _ string) string { return cfg }, "is a character device"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cfg, c := filepath.Join(dir, "config"), filepath.Join(dir, "credentials")
			tt.setup(t, cfg, c)
			files := AWSFiles{Config: []string{cfg}, Credentials: []string{c}}
			type result struct {
				p   *Profile
				err error
			}
			r := noHang(t, "ResolveProfile", func() result {
				p, err := ResolveProfile(context.Background(), files, "dev")
				return result{p, err}
			})
			if tt.bad == nil {
				if r.err != nil || r.p.Kind != KindSessionToken {
					t.Fatalf("ResolveProfile = %+v, %v; want a session-token profile", r.p, r.err)
				}
				return
			}
			wantErr(t, r.err, tt.bad(cfg, c), tt.want)
			// The daemon stamps the same files; that must refuse them too.
			r = noHang(t, "StampFiles", func() result { _, err := StampFiles(files); return result{nil, err} })
			wantErr(t, r.err, tt.bad(cfg, c), tt.want)
		})
	}
}

// An unreadable AWS file is named, with the fix, however the SDK would
// have misread it: a config file it cannot open looks to it like a missing
// profile, credentials it cannot open like a chain without keys.
func TestUnreadableAWSFiles(t *testing.T) {
	t.Parallel()
	if !asNonRoot(t) {
		return
	}
	const (
		cfgText   = "[profile dev]\nrole_arn = arn:aws:iam::111122223333:role/dev\nsource_profile = base\n"
		credsText = "[base]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = S3CRET\n"
	)
	for _, tt := range []struct {
		name string
		// close makes one file unreadable and returns it.
		close func(t *testing.T, cfg, creds string) string
		want  func(cfg, creds string) []string
	}{
		{"config mode 000", func(t *testing.T, cfg, _ string) string {
			chmod(t, cfg, 0)
			return cfg
		}, func(cfg, _ string) []string {
			return []string{"cannot read the AWS config file: permission denied (mode 0000)", "run: chmod 600 " + cfg, "or point AWS_CONFIG_FILE at another file"}
		}},
		{"credentials mode 000", func(t *testing.T, _, creds string) string {
			chmod(t, creds, 0)
			return creds
		}, func(_, creds string) []string {
			return []string{"cannot read the AWS credentials file: permission denied (mode 0000)", "run: chmod 600 " + creds, "or point AWS_SHARED_CREDENTIALS_FILE at another file"}
		}},
		{"credentials write-only", func(t *testing.T, _, creds string) string {
			chmod(t, creds, 0o200)
			return creds
		}, func(_, creds string) []string {
			return []string{"permission denied (mode 0200)", "run: chmod 600 " + creds}
		}},
		{"directory closed", func(t *testing.T, _, creds string) string {
			chmod(t, filepath.Dir(creds), 0)
			return creds
		}, func(_, creds string) []string {
			dir := filepath.Dir(creds)
			return []string{"cannot reach the AWS credentials file: permission denied on the directory " + dir, "chmod u+rx " + dir}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cfg, creds := filepath.Join(dir, "config"), filepath.Join(dir, "creds", "credentials")
			if err := os.Mkdir(filepath.Dir(creds), 0o700); err != nil {
				t.Fatal(err)
			}
			writeFile(t, cfg, cfgText)
			writeFile(t, creds, credsText)
			files := AWSFiles{Config: []string{cfg}, Credentials: []string{creds}}
			if _, err := ResolveProfile(context.Background(), files, "dev"); err != nil {
				t.Fatalf("readable files: %v", err)
			}
			bad := tt.close(t, cfg, creds)
			want := tt.want(cfg, creds)
			_, err := ResolveProfile(context.Background(), files, "dev")
			wantErr(t, err, bad, want...)
			for _, misleading := range []string{"not found", "loops back", "S3CRET"} {
				if err != nil && strings.Contains(err.Error(), misleading) {
					t.Errorf("error %q says %q", err, misleading)
				}
			}
			_, err = StampFiles(files)
			wantErr(t, err, bad, want...)
			wantErr(t, CheckAWSFiles(files), bad, want...)
		})
	}
}

// chmod changes path's mode until the test ends.
func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(path, fi.Mode().Perm()) })
}
