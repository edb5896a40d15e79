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
// those re-arm socket deadlines several times per request, which cost
// ~6 % more server CPU per keep-alive credential GET and ~4 % of the
// throughput in an A/B of the two (docs/benchmarks.md, "The watchdog").
type Server struct {
	*http.Server
	lim Limits
	wd  *watchdog
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
		lim: lim,
		wd:  wd,
	}
}

// Serve is http.Server.Serve with every connection accepted from ln under
// the watchdog. Connections reaching the http.Server another way have no
// time limits.
func (s *Server) Serve(ln net.Listener) error {
	return s.Server.Serve(watchedListener{ln, s.wd})
}

// connContext makes a watched connection's value reachable from its
// requests.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if wc, ok := c.(*wconn); ok {
		return context.WithValue(ctx, connKey{}, &wc.value)
	}
	return ctx
}

// NewServer returns a Server for h (usually a Guard) with bounded time
// limits and header size. net/http's own error messages (bad requests, TLS
// probes, accept errors) go to logger at debug level: they are noise
// unless one is debugging.
func NewServer(h http.Handler, logger *slog.Logger) *Server {
	return newServer(h, logger, defaultLimits, time.Second)
}

// Limits bound how long a connection may stay in each phase. A connection
// over its limit is closed within about a tick of the watchdog (a second)
// of it, never before.
type Limits struct {
	// Header: from accept, or from the first byte after an idle spell, to
	// the end of the request headers (slowloris).
	Header time.Duration
	// Active: from the end of the headers to the end of the response,
	// body and handler included (stuck handlers, clients that do not read).
	Active time.Duration
	// Idle: between requests on a keep-alive connection.
	Idle time.Duration
}

// Shutdown is http.Server.Shutdown, and then the watchdog ends.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.Server.Shutdown(ctx)
	s.wd.stop()
	return err
}

// Close is http.Server.Close, and then the watchdog ends.
func (s *Server) Close() error {
	err := s.Server.Close()
	s.wd.stop()
	return err
}

// Limits returns the server's time limits.
func (s *Server) Limits() Limits { return s.lim }

// SetMaxConns caps the server's connections (0: no cap). At the cap the
// oldest idle keep-alive connection is closed for a new one; a local
// client is never refused because remote ones fill the cap.
func (s *Server) SetMaxConns(n int) { s.wd.max.Store(int64(n)) }

type connKey struct{}

// ConnValue returns a value kept with the connection r arrived on, for a
// hook that wants memory across the requests of a keep-alive connection
// (the daemon's audit keeps the consumer it counted last, and so skips a
// map lookup per request). It is nil for a request that did not come
// through a Server. The requests of one connection are served one at a
// time, so the value needs no locking.
func ConnValue(r *http.Request) *any {
	v, _ := r.Context().Value(connKey{}).(*any)
	return v
}
