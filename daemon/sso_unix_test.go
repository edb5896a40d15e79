//go:build unix

package daemon

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A FIFO where the SSO token should be (which would block the SDK's plain
// read forever) fails the profile at once, naming the file and the fix.
func TestSSOTokenFIFORefused(t *testing.T) {
	_, home := startFakeSSO(t)
	// No retry of its own may race the FIFO's creation either.
	e := startEnv(t, envOptions{awsConfig: ssoAWSConfig, imdsdTOML: `profile = "sso"`, tune: func(o *Options) {
		o.broker.BackoffBase, o.broker.BackoffCap = time.Hour, time.Hour
	}})
	sum := sha1.Sum([]byte("corp"))
	cache := filepath.Join(home, ".aws", "sso", "cache", hex.EncodeToString(sum[:])+".json")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The first fetch (no token yet) must be over before the FIFO appears:
	// one that checked the missing file just before would then open it.
	if _, err := e.client().Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	must(t, os.MkdirAll(filepath.Dir(cache), 0o700))
	if err := syscall.Mkfifo(cache, 0o600); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	res, err := e.client().Refresh(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || !strings.Contains(res[0].Error, cache) || !strings.Contains(res[0].Error, "not a regular file") || !strings.Contains(res[0].Error, "imdsd login") {
		t.Fatalf("refresh with a FIFO token file: %+v, want the file named as not regular, and the fix", res)
	}
}
