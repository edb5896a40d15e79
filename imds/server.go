package imds

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// MaxHeaderBytes bounds request headers. SDK requests carry a handful of
// short headers; anything near this is not an SDK.
const MaxHeaderBytes = 8 << 10

// Time limits sized for local clients that give up after one or two
// seconds themselves; they only exist to shed stuck or hostile
// connections.
var defaultLimits = Limits{
	Header: 5 * time.Second,
	Active: 15 * time.Second,
	// Idle is longer than Go's client-side 90 s so that Go SDKs drop idle
	// connections first: a server-side close racing the token PUT, which
	// net/http will not replay, would cost the client a failed call.
	Idle: 2 * time.Minute,
}

// Server is an http.Server for an imdsd face. Its time limits are kept by
// a watchdog that sweeps the connections once a second rather than by
// net/http's ReadHeaderTimeout, ReadTimeout, WriteTimeout and IdleTimeout:
// those re-arm four socket deadlines per request, which cost about 6 % of
// the throughput of keep-alive credential GETs (bench/, docs/benchmarks.md).
type Server struct {
	*http.Server
	wd *watchdog
}

// NewServer returns a Server for h (usually a Guard) with bounded time
// limits and header size. net/http's own error messages (bad requests, TLS
// probes, accept errors) go to logger at debug level: they are noise
// unless one is debugging.
func NewServer(h http.Handler, logger *slog.Logger) *Server {
	return newServer(h, logger, defaultLimits, time.Second)
}

func newServer(h http.Handler, logger *slog.Logger, lim Limits, tick time.Duration) *Server {
	if logger == nil {
		logger = slog.Default()
	}
	wd := newWatchdog(lim, tick, logger)
	return &Server{
		Server: &http.Server{
			Handler:        h,
			MaxHeaderBytes: MaxHeaderBytes,
			ConnState:      wd.connState,
			ConnContext:    connContext,
			ErrorLog:       slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
		},
		wd: wd,
	}
}

// Serve is http.Server.Serve with every connection accepted from ln under
// the watchdog. Connections reaching the http.Server another way have no
// time limits.
func (s *Server) Serve(ln net.Listener) error {
	return s.Server.Serve(watchedListener{ln, s.wd})
}

// Limits returns the server's time limits.
func (s *Server) Limits() Limits { return s.wd.lim }

type connKey struct{}

// connContext makes a watched connection reachable from its requests.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if wc, ok := c.(*wconn); ok {
		return context.WithValue(ctx, connKey{}, wc)
	}
	return ctx
}

// ConnValue returns a value kept with the connection r arrived on, for a
// hook that wants memory across the requests of a keep-alive connection
// (the daemon's audit keeps the consumer it counted last, and so skips a
// map lookup per request). It is nil for a request that did not come
// through a Server. The requests of one connection are served one at a
// time, so the value needs no locking.
func ConnValue(r *http.Request) *any {
	if wc, ok := r.Context().Value(connKey{}).(*wconn); ok {
		return &wc.value
	}
	return nil
}
