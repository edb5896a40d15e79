package imds

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestNewServer(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := NewServer(okHandler, logger)
	if s.ReadHeaderTimeout <= 0 || s.ReadTimeout <= 0 || s.WriteTimeout <= 0 || s.IdleTimeout <= 0 {
		t.Errorf("unbounded timeouts: %+v", s)
	}
	if s.MaxHeaderBytes != MaxHeaderBytes || MaxHeaderBytes > 64<<10 {
		t.Errorf("MaxHeaderBytes %d", s.MaxHeaderBytes)
	}
	s.ErrorLog.Print("http: TLS handshake error")
	if !strings.Contains(buf.String(), "level=DEBUG") || !strings.Contains(buf.String(), "TLS handshake error") {
		t.Errorf("ErrorLog output %q, want it at debug", buf.String())
	}
	if NewServer(okHandler, nil).ErrorLog == nil {
		t.Error("nil logger: no ErrorLog")
	}
}

// Oversized headers are refused by net/http before reaching the handler.
func TestNewServerHeaderLimit(t *testing.T) {
	srv := httptest.NewUnstartedServer(okHandler)
	srv.Config = NewServer(okHandler, quietOpts.Logger)
	srv.Start()
	defer srv.Close()
	r, _ := http.NewRequestWithContext(context.Background(), "GET", srv.URL, nil)
	r.Header.Set("X-Big", strings.Repeat("a", 64<<10))
	resp, err := srv.Client().Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("64 KiB header: %d, want 431", resp.StatusCode)
	}
}
