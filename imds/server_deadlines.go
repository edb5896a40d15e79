//go:build imds_deadlines

package imds

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Server is an http.Server for an imdsd face, its time limits kept by
// net/http's own socket deadlines.
type Server struct {
	*http.Server
	lim Limits
}

// tick is the watchdog's; unused here.
func newServer(h http.Handler, logger *slog.Logger, lim Limits, _ time.Duration) *Server {
	if logger == nil {
		logger = slog.Default()
	}
	return &Server{
		Server: &http.Server{
			Handler:           h,
			MaxHeaderBytes:    MaxHeaderBytes,
			ReadHeaderTimeout: lim.Header,
			ReadTimeout:       lim.Active,
			WriteTimeout:      lim.Active,
			IdleTimeout:       lim.Idle,
			ConnContext:       connContext,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
		},
		lim: lim,
	}
}

// connContext gives each connection a value for ConnValue.
func connContext(ctx context.Context, _ net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, new(any))
}
