package config

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestEnsureTokenFileCreates(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "a", "b")
	path := filepath.Join(dir, "ecs-token")

	tok, created, err := EnsureTokenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !created {
		t.Error("created = false for a new file")
	}
	if b, err := hex.DecodeString(tok); err != nil || len(b) != 32 {
		t.Errorf("token %q is not 32 hex-encoded bytes", tok)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != tok {
		t.Errorf("file holds %q, want exactly the token %q (no newline)", data, tok)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode = %04o, want 0600", fi.Mode().Perm())
	}
	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm() != 0o700 {
		t.Errorf("created directory mode = %04o, want 0700", di.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %v; temporary files were left behind", entries)
	}

	again, created, err := EnsureTokenFile(path)
	if err != nil || created || again != tok {
		t.Errorf("second call = %q, %v, %v; want the same token, not created", again, created, err)
	}

	other, _, err := EnsureTokenFile(filepath.Join(dir, "other"))
	if err != nil || other == tok {
		t.Errorf("a second token file got %q (err %v); tokens must be random", other, err)
	}
}

func TestEnsureTokenFileKeepsUserToken(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "tok")
	if err := os.WriteFile(path, []byte("my-own-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	tok, created, err := EnsureTokenFile(path)
	if err != nil || created || tok != "my-own-token" {
		t.Errorf("EnsureTokenFile = %q, %v, %v; want the file's token", tok, created, err)
	}
}

func TestEnsureTokenFileRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		want    []string // substrings of the error
	}{
		{"world readable", "S3CRET", 0o644, []string{"accessible by other users", "chmod 600 "}},
		{"group readable", "S3CRET", 0o640, []string{"chmod 600 "}},
		{"group writable", "S3CRET", 0o620, []string{"chmod 600 "}},
		{"trailing newline", "S3CRET\n", 0o600, []string{"ends with a newline", "breaks every SDK", "rewrite it without one"}},
		{"trailing crlf", "S3CRET\r\n", 0o600, []string{"ends with a newline"}},
		{"inner space", "S3 CRET", 0o600, []string{"whitespace"}},
		{"two lines", "S3CRET\nmore", 0o600, []string{"whitespace"}},
		{"empty", "", 0o600, []string{"is empty", "delete it"}},
		{"only newline", "\n", 0o600, []string{"is empty"}},
		{"huge", strings.Repeat("S3CRET", 1000), 0o600, []string{"is 5.9 KiB; imdsd reads ECS token files up to 4 KiB"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "tok")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			tok, _, err := EnsureTokenFile(path)
			if err == nil {
				t.Fatalf("EnsureTokenFile accepted it (token %q)", tok)
			}
			for _, w := range append(tt.want, path) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "S3CRET") {
				t.Errorf("error echoes the file's contents: %q", err)
			}
			// A rejected file is left alone for the user to fix.
			if data, _ := os.ReadFile(path); string(data) != tt.content {
				t.Errorf("file was modified to %q", data)
			}
		})
	}
}

func TestEnsureTokenFileRejectsDirectory(t *testing.T) {
	t.Parallel()
	path := t.TempDir()
	_, _, err := EnsureTokenFile(path)
	wantErr(t, err, path, "is a directory, not a regular file; point ecs.token_file at a regular file")
	if _, _, err := EnsureTokenFile(""); err == nil {
		t.Error("empty path accepted")
	}
}

func TestEnsureTokenFileConcurrentCreatorsAgree(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "d", "tok")
	const n = 16
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		tokens  = map[string]int{}
		creates int
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, created, err := EnsureTokenFile(path)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Error(err)
				return
			}
			tokens[tok]++
			if created {
				creates++
			}
		}()
	}
	wg.Wait()
	if len(tokens) != 1 || creates != 1 {
		t.Errorf("%d goroutines saw %d distinct tokens and %d creations; want 1 and 1", n, len(tokens), creates)
	}
	data, _ := os.ReadFile(path)
	if _, ok := tokens[string(data)]; !ok {
		t.Errorf("file holds a token nobody was given")
	}
}

func TestEnsureTokenFileUnreadableDir(t *testing.T) {
	t.Parallel()
	if os.Geteuid() == 0 {
		t.Skip("root can write anywhere")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	if _, _, err := EnsureTokenFile(filepath.Join(dir, "tok")); err == nil {
		t.Error("created a token file in a read-only directory")
	}
}
