package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imdsd/imdsd/daemon"
)

// startDemo runs a demo daemon (no AWS needed) and returns its socket.
func startDemo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	sock := filepath.Join(dir, "imdsd", "control.sock")
	cfg := filepath.Join(dir, "config.toml")
	os.WriteFile(cfg, []byte(`profile = "dev"
control_socket = "`+sock+`"
[imds]
listen = ["127.0.0.1:0"]
[ecs]
listen = ["127.0.0.1:0"]
token_file = "`+filepath.Join(dir, "imdsd", "ecs-token")+`"
`), 0o600)
	d, err := daemon.New(daemon.Options{ConfigPath: cfg, Demo: true, NoWatch: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-d.Ready():
	case err := <-done:
		t.Fatal(err)
	}
	return sock
}

func TestStatusShortWatchAndExitCode(t *testing.T) {
	sock := startDemo(t)
	out, err := run(t, "status", "--short", "--socket", sock)
	if err != nil || !strings.HasPrefix(out, "imdsd: dev ok (") || strings.Count(out, "\n") != 1 {
		t.Fatalf("status --short: %v %q", err, out)
	}
	if _, err := run(t, "lock", "--socket", sock); err != nil {
		t.Fatal(err)
	}
	out, err = run(t, "status", "--short", "--socket", sock)
	var code exitCode
	if !errors.As(err, &code) || code != 1 || !strings.Contains(out, "LOCKED") {
		t.Fatalf("status --short while locked: %v %q, want exit code 1 and LOCKED", err, out)
	}
	if _, err := run(t, "unlock", "--socket", sock); err != nil {
		t.Fatal(err)
	}

	// --watch redraws until its context ends.
	r, w, _ := os.Pipe()
	old := os.Stdout
	os.Stdout = w
	root := newRoot()
	root.SetArgs([]string{"status", "--watch", "--socket", sock})
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	err = root.ExecuteContext(ctx)
	w.Close()
	os.Stdout = old
	var b bytes.Buffer
	io.Copy(&b, r)
	if err != nil || !strings.Contains(b.String(), "\033[H\033[2J") || !strings.Contains(b.String(), "PROFILE") || !strings.Contains(b.String(), "dev") {
		t.Fatalf("status --watch: %v\n%q", err, b.String())
	}
}
