package audit

import (
	"context"
	"os"
	"strconv"
	"strings"
)

type peerKey struct{}

// WithPeer records, in a connection's context, who the client is when the
// transport already says so (a unix socket's peer credentials): the
// control socket's `imdsd creds` callers have no TCP socket to look up.
func WithPeer(ctx context.Context, uid, pid int) context.Context {
	id := Identity{UID: uid, PID: pid}
	if pid > 0 {
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm"); err == nil {
			id.Comm = strings.TrimSpace(string(b))
		}
	}
	return context.WithValue(ctx, peerKey{}, id)
}

func peerOf(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(peerKey{}).(Identity)
	return id, ok
}
