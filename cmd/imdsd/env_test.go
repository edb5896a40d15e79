package main

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runEnv runs `imdsd env args...` in-process and returns what it printed
// on stdout and stderr.
func runEnv(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	r, w, perr := os.Pipe()
	if perr != nil {
		t.Fatal(perr)
	}
	old := os.Stdout
	os.Stdout = w
	var out, errOut bytes.Buffer
	root := newRoot()
	root.SetArgs(append([]string{"env"}, args...))
	root.SetOut(&out)
	root.SetErr(&errOut)
	err = root.Execute()
	w.Close()
	os.Stdout = old
	var b bytes.Buffer
	io.Copy(&b, r)
	return b.String() + out.String(), errOut.String(), err
}

// envFixture writes an imdsd config serving dev on IMDS at imdsAddr and
// ops on ECS at ecsAddr (where nothing listens), and AWS files (pointed at by the environment) where dev has a
// region and ops has none.
func envFixture(t *testing.T, imdsAddr, ecsAddr, extraTOML string) string {
	t.Helper()
	dir := t.TempDir()
	aws := filepath.Join(dir, "aws-config")
	write(t, aws, "[profile dev]\nregion = eu-west-1\ncredential_process = /bin/true\n[profile ops]\ncredential_process = /bin/true\n")
	t.Setenv("AWS_CONFIG_FILE", aws)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	cfg := filepath.Join(dir, "c.toml")
	write(t, cfg, extraTOML+"profile = \"dev\"\n[imds]\nlisten = [\""+imdsAddr+"\"]\n[ecs]\nlisten = [\""+ecsAddr+"\"]\ntoken_file = \""+dir+"/tok\"\nprofiles = [\"ops\"]\n")
	return cfg
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// closedAddrs returns n distinct loopback addresses where nothing listens.
func closedAddrs(t *testing.T, n int) []string {
	t.Helper()
	var addrs []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs
}

func closedAddr(t *testing.T) string {
	t.Helper()
	return closedAddrs(t, 1)[0]
}

func TestEnvWarnsWhenNothingAnswers(t *testing.T) {
	addrs := closedAddrs(t, 2)
	addr := addrs[0]
	cfg := envFixture(t, addr, addrs[1], "")
	out, stderr, err := runEnv(t, "--config", cfg)
	if err != nil || !strings.Contains(out, "export AWS_EC2_METADATA_SERVICE_ENDPOINT=http://"+addr+"/") {
		t.Fatalf("env with no daemon: %v\n%s", err, out)
	}
	want := "imdsd env: warning: nothing answers at " + addr + `; start the daemon with "imdsd serve" or "imdsd service start"`
	if !strings.Contains(stderr, want) {
		t.Errorf("stderr %q; want %q", stderr, want)
	}
	if strings.Contains(out, "warning") {
		t.Errorf("the warning went to stdout, where eval would run it:\n%s", out)
	}
	// Something listening: no warning. The kernel completes the
	// connection from the backlog; nothing needs to accept it.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen again on %s: %v", addr, err)
	}
	defer ln.Close()
	if _, stderr, err := runEnv(t, "--config", cfg); err != nil || stderr != "" {
		t.Errorf("env with a listener: %v, stderr %q", err, stderr)
	}
}

func TestEnvRegion(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()

	cfg := envFixture(t, addr, closedAddr(t), "")
	out, stderr, err := runEnv(t, "--config", cfg)
	if err != nil || !strings.Contains(out, "export AWS_REGION=eu-west-1\nexport AWS_DEFAULT_REGION=eu-west-1\n") || stderr != "" {
		t.Fatalf("the profile's region: %v\n%s\nstderr: %s", err, out, stderr)
	}
	out, stderr, err = runEnv(t, "--config", cfg, "--profile", "ops")
	if err != nil || strings.Contains(out, "AWS_REGION") || !strings.Contains(stderr, "AWS_REGION not set: profile ops has no region; add region = <name> to [profile ops] in ") {
		t.Fatalf("a profile without a region: %v\n%s\nstderr: %s", err, out, stderr)
	}
	t.Setenv("AWS_DEFAULT_REGION", "us-west-2")
	if _, stderr, _ := runEnv(t, "--config", cfg, "--profile", "ops"); strings.Contains(stderr, "AWS_REGION") {
		t.Errorf("warned although the environment has a region: %s", stderr)
	}
	// imdsd's own region setting wins.
	cfg = envFixture(t, addr, closedAddr(t), "region = \"ap-south-2\"\n")
	for _, args := range [][]string{{}, {"--shell", "fish"}, {"--shell", "powershell", "--profile", "ops"}} {
		out, _, err := runEnv(t, append([]string{"--config", cfg}, args...)...)
		if err != nil || strings.Count(out, "ap-south-2") != 2 || strings.Contains(out, "eu-west-1") {
			t.Errorf("env %v with region set in imdsd's config: %v\n%s", args, err, out)
		}
	}
}

func TestEnvShellFlag(t *testing.T) {
	addrs := closedAddrs(t, 2)
	cfg := envFixture(t, addrs[0], addrs[1], "")
	for shell, want := range map[string]string{
		"sh":         "\nexport AWS_EC2_METADATA_SERVICE_ENDPOINT=http://",
		"zsh":        "\nexport AWS_EC2_METADATA_SERVICE_ENDPOINT=http://",
		"fish":       "\nset -gx AWS_EC2_METADATA_SERVICE_ENDPOINT http://",
		"powershell": "\n$env:AWS_EC2_METADATA_SERVICE_ENDPOINT = 'http://",
		"pwsh":       "\n$env:AWS_EC2_METADATA_SERVICE_ENDPOINT = 'http://",
	} {
		out, _, err := runEnv(t, "--config", cfg, "--shell", shell)
		if err != nil || !strings.Contains(out, want) {
			t.Errorf("--shell %s: %v\n%s", shell, err, out)
		}
	}
	out, stderr, err := runEnv(t, "--config", cfg, "--shell", "csh")
	if err == nil || !strings.Contains(err.Error(), `unknown shell "csh": choose sh (also for bash and zsh), fish or powershell (also pwsh)`) || out != "" || stderr != "" {
		t.Errorf("--shell csh: %v, stdout %q, stderr %q", err, out, stderr)
	}
	if _, _, err := runEnv(t, "--config", cfg, "--shell", "fish", "--docker"); err == nil || !strings.Contains(err.Error(), "--shell sets the syntax of shell exports") {
		t.Errorf("--shell with --docker: %v", err)
	}
}

func TestEnvHelp(t *testing.T) {
	out, _, err := runEnv(t, "--help")
	if err != nil {
		t.Fatal(err)
	}
	// cobra takes a `word` in a flag's usage for its value's name.
	for _, flag := range []string{"--docker ", "--compose ", "--shell string "} {
		i := strings.Index(out, flag)
		if i < 0 {
			t.Fatalf("help has no %q:\n%s", flag, out)
		}
		line, _, _ := strings.Cut(out[i:], "\n")
		if strings.Contains(line, "`") || strings.HasPrefix(strings.TrimPrefix(line, flag), "docker") {
			t.Errorf("help line %q", line)
		}
	}
	for _, want := range []string{"sh (for bash and zsh too), fish or powershell", "--shell fish | source", "Invoke-Expression"} {
		if !strings.Contains(out, want) {
			t.Errorf("help lacks %q:\n%s", want, out)
		}
	}
}
