package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// run executes the CLI as a user would, returning stdout and the error.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	r, w, _ := os.Pipe()
	old := os.Stdout
	os.Stdout = w
	root := newRoot()
	root.SetArgs(args)
	root.SetOut(io.Discard)
	root.SetErr(io.Discard)
	err := root.Execute()
	w.Close()
	os.Stdout = old
	var b bytes.Buffer
	io.Copy(&b, r)
	return b.String(), err
}

func TestServeRejectsBadConfigWithItsLocation(t *testing.T) {
	f := filepath.Join(t.TempDir(), "c.toml")
	os.WriteFile(f, []byte("profile = \"dev\"\nrefresh_befor = \"10m\"\n"), 0o600)
	_, err := run(t, "serve", "--config", f)
	if err == nil || !strings.Contains(err.Error(), f+":2: refresh_befor: unknown key") || !strings.Contains(err.Error(), "refresh_before") {
		t.Fatalf("got %v", err)
	}
	if _, err := run(t, "serve", "--config", f+".missing"); err == nil {
		t.Fatal("a missing explicit config file was accepted")
	}
}

func TestCommandsSayHowToStartTheDaemon(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	for _, cmd := range [][]string{{"status"}, {"lock"}, {"use", "dev"}, {"creds"}, {"sessions"}} {
		_, err := run(t, append(cmd, "--socket", sock)...)
		if err == nil || !strings.Contains(err.Error(), "imdsd serve") {
			t.Errorf("imdsd %v: %v", cmd, err)
		}
	}
}

func TestEnvPrintsExports(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "c.toml")
	os.WriteFile(f, []byte("profile = \"dev\"\n[ecs]\ntoken_file = \""+dir+"/tok\"\nprofiles = [\"ops\"]\n"), 0o600)
	out, err := run(t, "env", "--config", f)
	if err != nil || !strings.Contains(out, "export AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:9911/") {
		t.Fatalf("env: %v\n%s", err, out)
	}
	out, err = run(t, "env", "--config", f, "--profile", "ops")
	if err != nil || !strings.Contains(out, "AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:9912/role/ops") || !strings.Contains(out, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE="+dir+"/tok") {
		t.Fatalf("env --profile ops: %v\n%s", err, out)
	}
}

// revoke and lock --revoke ask first; only y/yes (or --yes) goes ahead,
// and no answer at all is a no.
func TestConfirm(t *testing.T) {
	for _, tc := range []struct {
		in   string
		yes  bool
		want bool
	}{
		{"y\n", false, true}, {"YES\n", false, true}, {"yes", false, true},
		{"\n", false, false}, {"n\n", false, false}, {"maybe\n", false, false}, {"", false, false},
		{"", true, true},
	} {
		var out bytes.Buffer
		err := confirm(strings.NewReader(tc.in), &out, "Revoke?", tc.yes)
		if (err == nil) != tc.want {
			t.Errorf("answer %q (yes=%v): err %v, want confirmed=%v", tc.in, tc.yes, err, tc.want)
		}
		if tc.yes != (out.Len() == 0) {
			t.Errorf("answer %q (yes=%v): asked %q", tc.in, tc.yes, out.String())
		}
		if err != nil && !strings.Contains(err.Error(), "nothing was done") {
			t.Errorf("refusal %q does not say nothing was done", err)
		}
	}
}

func TestRevokeSaysHowToStartTheDaemon(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	for _, cmd := range [][]string{{"revoke", "--yes"}, {"lock", "--revoke", "--yes"}} {
		_, err := run(t, append(cmd, "--socket", sock)...)
		if err == nil || !strings.Contains(err.Error(), "imdsd serve") {
			t.Errorf("imdsd %v: %v", cmd, err)
		}
	}
}
