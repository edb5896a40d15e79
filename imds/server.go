package imds

import (
	"log/slog"
	"net/http"
	"time"
)

// MaxHeaderBytes bounds request headers. SDK requests carry a handful of
// short headers; anything near this is not an SDK.
const MaxHeaderBytes = 8 << 10

// Timeouts sized for local clients that give up after one or two seconds
// themselves; they only exist to shed stuck or hostile connections.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 15 * time.Second
	// idleTimeout is longer than Go's client-side 90 s so that Go SDKs drop
	// idle connections first: a server-side close racing the token PUT,
	// which net/http will not replay, would cost the client a failed call.
	idleTimeout = 2 * time.Minute
)

// NewServer returns an http.Server for h (usually a Guard) with bounded
// timeouts and header size. net/http's own error messages (bad requests,
// TLS probes, accept errors) go to logger at debug level: they are noise
// unless one is debugging.
func NewServer(h http.Handler, logger *slog.Logger) *http.Server {
	if logger == nil {
		logger = slog.Default()
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
}
