//go:build unix

package daemon

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A config path that is a FIFO (which blocks an ordinary open forever)
// fails the reload with the file named; the last good config serves.
func TestReloadOfAFIFOFailsAndKeepsServing(t *testing.T) {
	e := startEnv(t, envOptions{tune: func(o *Options) { o.ReloadTimeout = 2 * time.Second }})
	ctx := context.Background()
	before, err := e.ec2Creds(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(e.dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	must(t, os.Remove(e.awsCfg))
	must(t, os.Symlink(fifo, e.awsCfg))
	err = e.d.Reload(ctx)
	if err == nil {
		t.Fatal("reload of a FIFO as the AWS config succeeded")
	}
	if !strings.Contains(err.Error(), "config") {
		t.Errorf("error %q does not name the file", err)
	}
	after, err := e.ec2Creds(ctx)
	if err != nil || after.AccessKeyID != before.AccessKeyID {
		t.Fatalf("after the failed reload: %v %v, want the same credentials served", after.AccessKeyID, err)
	}
}
