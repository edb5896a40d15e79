package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/imdsd/imdsd/imds"
	"github.com/imdsd/imdsd/internal/hostnet"
)

// listener is one bound address of one face ("imds" or "ecs").
type listener struct {
	face string
	ln   net.Listener
	srv  *imds.Server
	done chan struct{}
	// release gives back the link-local address acquired for ln.
	release func(bound bool)
}

func listen(face, addr string, h http.Handler, log *slog.Logger) (*listener, error) {
	release, err := hostnet.AcquireLinkLocal(addr, log)
	if err != nil {
		return nil, fmt.Errorf("%s.listen %q: %w", face, addr, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		release(false)
		hint := "check the address in the [" + face + "] listen list"
		switch {
		case errors.Is(err, syscall.EADDRINUSE):
			hint = "another process (another imdsd?) already uses it; stop it or change " + face + ".listen"
		case errors.Is(err, syscall.EADDRNOTAVAIL):
			hint = "no local interface has that address; add it (imdsd does so for the link-local addresses when run as a service) or change " + face + ".listen"
		case errors.Is(err, syscall.EACCES):
			hint = "ports below 1024 need CAP_NET_BIND_SERVICE; run as a service or use a port above 1024"
		}
		return nil, fmt.Errorf("%s.listen %q: %w: %s", face, addr, err, hint)
	}
	l := &listener{face: face, ln: ln, srv: imds.NewServer(h, log), done: make(chan struct{}), release: release}
	go func() {
		defer close(l.done)
		if err := l.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("listener stopped", "face", face, "addr", addr, "err", err)
		}
	}()
	return l, nil
}

// close stops accepting and lets requests in flight finish, up to grace.
func (l *listener) close(grace time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := l.srv.Shutdown(ctx); err != nil {
		l.srv.Close()
	}
	<-l.done
	l.release(true)
}
