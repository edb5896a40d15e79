package imds

import (
	"log/slog"
	"net/http"
	"strconv"
)

// timeLayout is the only time format every SDK parses: JS and Rust insist on
// a literal Z, and none wants fractional seconds.
const timeLayout = "2006-01-02T15:04:05Z"

// Header values are shared, never-modified slices: assigning them directly
// to the header map saves the allocation that Header.Set makes per request.
var (
	hdrTextPlain = []string{"text/plain"}
	// hdrJSON must be exactly "application/json": Go v2 decodes an error
	// body only when Content-Type equals that string, with no parameters.
	hdrJSON     = []string{"application/json"}
	hdrAllowGet = []string{"GET, HEAD"}
	hdrAllowPut = []string{"PUT"}
	hdrAllowECS = []string{"GET"}
)

// autoLengthMax is the largest body for which net/http sets Content-Length
// itself (its buffer before it switches to chunked encoding). Below it we
// leave the header to net/http, which writes it without a map entry or a
// sort: this is the hot path.
const autoLengthMax = 2048

// writeDoc writes a complete response whose body is already rendered.
// length is the body length as a header value (precomputed where the body
// is cached). HEAD gets the headers only.
func writeDoc(w http.ResponseWriter, r *http.Request, status int, ctype []string, length []string, body []byte) {
	h := w.Header()
	h["Content-Type"] = ctype
	if len(body) > autoLengthMax || r.Method == http.MethodHead {
		// Real IMDS never answers chunked, and a HEAD has no body from which
		// net/http could count.
		h["Content-Length"] = length
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// writeText writes a short text/plain response (listings, values, errors).
func writeText(w http.ResponseWriter, r *http.Request, status int, body string) {
	writeDoc(w, r, status, hdrTextPlain, []string{strconv.Itoa(len(body))}, []byte(body))
}

// logDebug logs one request at debug level. The Enabled check keeps the hot
// path free of the argument boxing that slog does even for disabled levels.
// Callers never pass secrets or tokens. A nil l means slog.Default() at the
// time of logging, so a default set after construction is honoured.
func logDebug(l *slog.Logger, r *http.Request, msg string, status int, attrs ...slog.Attr) {
	if l == nil {
		l = slog.Default()
	}
	ctx := r.Context()
	if !l.Enabled(ctx, slog.LevelDebug) {
		return
	}
	all := append([]slog.Attr{
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.String("remote", r.RemoteAddr),
		slog.Int("status", status),
	}, attrs...)
	l.LogAttrs(ctx, slog.LevelDebug, msg, all...)
}
