package config

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// hangTimeout bounds calls that must not block. Generous, since it is only
// spent when a test is failing.
const hangTimeout = 10 * time.Second

// noHang runs f and fails the test if it has not returned by the deadline:
// the point of several tests is that a FIFO never blocks a read.
func noHang[T any](t *testing.T, what string, f func() T) T {
	t.Helper()
	done := make(chan T, 1)
	go func() { done <- f() }()
	select {
	case v := <-done:
		return v
	case <-time.After(hangTimeout):
		t.Fatalf("%s blocked for %v", what, hangTimeout)
		panic("unreachable")
	}
}

// sparseFile creates a file of size bytes without writing them.
func sparseFile(t *testing.T, path string, size int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// wantErr checks that err is the user-visible message we mean: it names
// the file and contains every part of want (the problem and the fix).
func wantErr(t *testing.T, err error, path string, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one naming %s and containing %q", path, want)
	}
	for _, w := range append([]string{path}, want...) {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
}

func TestReadCheckedPortable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) string // returns the path to read
		spec  *fileSpec
		want  []string // nil: accepted
	}{
		{"regular file", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "config")
			writeFile(t, p, "[default]\nregion = eu-west-1\n")
			return p
		}, awsConfigSpec, nil},
		{"exactly the cap", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "config.toml")
			sparseFile(t, p, MaxConfigFileSize)
			return p
		}, configFileSpec, nil},
		{"directory", func(t *testing.T, dir string) string {
			return dir
		}, awsConfigSpec, []string{"is a directory, not a regular file", "point AWS_CONFIG_FILE at a regular file"}},
		{"AWS file over the cap", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "config")
			sparseFile(t, p, 110<<20)
			return p
		}, awsConfigSpec, []string{"is 110.0 MiB; imdsd reads AWS files up to 8 MiB", "point AWS_CONFIG_FILE at the right file"}},
		{"credentials one byte over", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "credentials")
			sparseFile(t, p, MaxAWSFileSize+1)
			return p
		}, awsCredsSpec, []string{"is 8388609 bytes; imdsd reads AWS files up to 8 MiB (8388608 bytes)", "point AWS_SHARED_CREDENTIALS_FILE at the right file"}},
		{"config over the cap", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "config.toml")
			sparseFile(t, p, 2<<20)
			return p
		}, configFileSpec, []string{"is 2.0 MiB; imdsd reads config files up to 1 MiB", "point --config at the right file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := tt.setup(t, t.TempDir())
			data, err := readChecked(path, tt.spec)
			checkErr := checkFile(path, tt.spec)
			if tt.want == nil {
				if err != nil || checkErr != nil {
					t.Fatalf("refused: %v / %v", err, checkErr)
				}
				if fi, _ := os.Stat(path); int64(len(data)) != fi.Size() {
					t.Errorf("read %d bytes of %d", len(data), fi.Size())
				}
				return
			}
			wantErr(t, err, path, tt.want...)
			wantErr(t, checkErr, path, tt.want...)
		})
	}
}

func TestReadCheckedMissing(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "nope")
	if _, err := readChecked(p, awsConfigSpec); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
	if err := CheckAWSFiles(AWSFiles{Config: []string{p}, Credentials: []string{p + "2"}}); err != nil {
		t.Errorf("CheckAWSFiles with missing files: %v", err)
	}
}

func TestReadCappedRefusesGrowth(t *testing.T) {
	t.Parallel()
	// fstat said small, but more arrives: a file appended to while being
	// read, or one whose size lies (/proc, FUSE).
	spec := &fileSpec{what: "AWS config file", family: "AWS files", max: 100, pointAt: "point AWS_CONFIG_FILE at"}
	_, err := readCapped(strings.NewReader(strings.Repeat("x", 101)), "/p/config", spec, 10)
	wantErr(t, err, "/p/config", "holds more than 100 bytes (it grew while being read)")
	if b, err := readCapped(strings.NewReader(strings.Repeat("x", 100)), "/p/config", spec, 0); err != nil || len(b) != 100 {
		t.Errorf("100 bytes at a cap of 100: %d bytes, %v", len(b), err)
	}
}

func TestFormatSize(t *testing.T) {
	t.Parallel()
	for n, want := range map[int64]string{
		0: "0 bytes", 1023: "1023 bytes", 1536: "1.5 KiB", 110 << 20: "110.0 MiB", 3 << 30: "3.0 GiB",
	} {
		if got := formatSize(n); got != want {
			t.Errorf("formatSize(%d) = %q, want %q", n, got, want)
		}
	}
	for n, want := range map[int64]string{
		MaxConfigFileSize: "1 MiB", MaxAWSFileSize: "8 MiB", MaxTokenFileSize: "4 KiB", 100: "100 bytes",
	} {
		if got := formatCap(n); got != want {
			t.Errorf("formatCap(%d) = %q, want %q", n, got, want)
		}
	}
}

// oldFilesStamp is the daemon's hash before StampFiles, kept here to show
// the two agree wherever the old one worked.
func oldFilesStamp(f AWSFiles) [32]byte {
	h := sha256.New()
	for _, p := range f.All() {
		b, _ := os.ReadFile(p)
		fmt.Fprintf(h, "%s\x00%d\x00", p, len(b))
		h.Write(b)
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

func TestStampFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg, creds := filepath.Join(dir, "config"), filepath.Join(dir, "credentials")
	files := AWSFiles{Config: []string{cfg}, Credentials: []string{creds}}

	stamp := func() [32]byte {
		t.Helper()
		s, err := StampFiles(files)
		if err != nil {
			t.Fatal(err)
		}
		if s != oldFilesStamp(files) {
			t.Error("StampFiles differs from the daemon's old filesStamp")
		}
		return s
	}
	none := stamp() // both missing
	writeFile(t, cfg, "[default]\n")
	one := stamp()
	writeFile(t, creds, "[default]\n")
	both := stamp()
	if none == one || one == both {
		t.Error("stamp did not change when a file appeared")
	}
	writeFile(t, creds, "[other]\n")
	if stamp() == both {
		t.Error("stamp did not change with the contents")
	}

	sparseFile(t, creds, MaxAWSFileSize+1)
	if _, err := StampFiles(files); err == nil || !strings.Contains(err.Error(), creds) {
		t.Errorf("oversized credentials: %v, want an error naming %s", err, creds)
	}
}
