//go:build !imds_deadlines

package imds

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestNewServer(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := NewServer(okHandler, logger)
	if l := s.Limits(); l.Header <= 0 || l.Active <= 0 || l.Idle <= 0 {
		t.Errorf("unbounded time limits: %+v", l)
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

// serveOnLoopback runs s on a loopback port until the test ends.
func serveOnLoopback(t *testing.T, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Serve(ln) }()
	t.Cleanup(func() { s.Close(); <-done })
	return ln.Addr().String()
}

// Oversized headers are refused by net/http before reaching the handler.
func TestNewServerHeaderLimit(t *testing.T) {
	addr := serveOnLoopback(t, NewServer(okHandler, quietOpts.Logger))
	r, _ := http.NewRequestWithContext(context.Background(), "GET", "http://"+addr, nil)
	r.Header.Set("X-Big", strings.Repeat("a", 64<<10))
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("64 KiB header: %d, want 431", resp.StatusCode)
	}
}

// testLimits are short so the watchdog's cuts are quick to observe; the
// tick is small next to them, as a second is next to the real limits.
var testLimits = Limits{Header: 300 * time.Millisecond, Active: 500 * time.Millisecond, Idle: 700 * time.Millisecond}

const testTick = 25 * time.Millisecond

// closedAfter reads from c until the server closes it and returns how long
// that took from start.
func closedAfter(t *testing.T, c net.Conn, start time.Time) time.Duration {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %v", time.Since(start))
	}
	return time.Since(start)
}

func roundTrip(t *testing.T, c net.Conn, br *bufio.Reader, path string) {
	t.Helper()
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", path, resp.StatusCode)
	}
}

func TestWatchdogCutsStuckConnections(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stuck" {
			<-release
		}
		_, _ = w.Write([]byte("ok"))
	})
	addr := serveOnLoopback(t, newServer(h, quietOpts.Logger, testLimits, testTick))

	for _, tc := range []struct {
		name string
		// act drives the connection and returns when, by the client's
		// clock, the phase under test began: never after the server saw it
		// begin, so the server may not close before start + limit.
		act   func(t *testing.T, c net.Conn, br *bufio.Reader, dialed time.Time) (start time.Time)
		limit time.Duration
	}{
		{"silent new connection", func(_ *testing.T, _ net.Conn, _ *bufio.Reader, dialed time.Time) time.Time {
			return dialed
		}, testLimits.Header},
		{"slow headers", func(t *testing.T, c net.Conn, _ *bufio.Reader, dialed time.Time) time.Time {
			_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: localhost\r\n")
			return dialed
		}, testLimits.Header},
		{"idle keep-alive", func(t *testing.T, c net.Conn, br *bufio.Reader, _ time.Time) time.Time {
			start := time.Now()
			roundTrip(t, c, br, "/")
			return start
		}, testLimits.Idle},
		// The idle spell before the first byte does not count against the
		// header limit, and the header limit applies from that byte.
		{"slow headers after idle", func(t *testing.T, c net.Conn, br *bufio.Reader, _ time.Time) time.Time {
			roundTrip(t, c, br, "/")
			time.Sleep(testLimits.Idle - testLimits.Header/3)
			start := time.Now()
			_, _ = io.WriteString(c, "GET / HT")
			return start
		}, testLimits.Header},
		{"stuck handler", func(t *testing.T, c net.Conn, _ *bufio.Reader, _ time.Time) time.Time {
			start := time.Now()
			_, _ = io.WriteString(c, "GET /stuck HTTP/1.1\r\nHost: localhost\r\n\r\n")
			return start
		}, testLimits.Active},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dialed := time.Now()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			start := tc.act(t, c, bufio.NewReader(c), dialed)
			got := closedAfter(t, c, start)
			// Never before the limit; within a few ticks after it (with
			// slack for a loaded -race run).
			if got < tc.limit || got > tc.limit+60*testTick {
				t.Errorf("closed %v after the phase began, want %v (+ a tick or two)", got, tc.limit)
			}
		})
	}
}

// A connection in steady use is never cut, however long it lives.
func TestWatchdogKeepsBusyConnection(t *testing.T) {
	s := newServer(okHandler, quietOpts.Logger, testLimits, testTick)
	addr := serveOnLoopback(t, s)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	end := time.Now().Add(testLimits.Header + testLimits.Active + testLimits.Idle)
	for n := 0; time.Now().Before(end); n++ {
		roundTrip(t, c, br, "/") // fails if the connection was closed
		time.Sleep(testLimits.Idle / 3)
	}
	c.Close()
	// With no connection left the sweeper stops: an idle daemon keeps no
	// timer running.
	deadline := time.Now().Add(2 * time.Second)
	for {
		s.wd.mu.Lock()
		running := s.wd.running
		s.wd.mu.Unlock()
		if !running {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("sweeper still running with no connections")
		}
		time.Sleep(testTick)
	}
}

// ConnValue is one value per connection, kept across its requests.
func TestConnValue(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := ConnValue(r)
		if v == nil {
			_, _ = w.Write([]byte("nil"))
			return
		}
		n, _ := (*v).(int)
		*v = n + 1
		_, _ = w.Write([]byte(strconv.Itoa(n + 1)))
	})
	addr := serveOnLoopback(t, NewServer(h, quietOpts.Logger))
	get := func(c *http.Client, url string) string {
		resp, err := c.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	one, two := &http.Client{Transport: &http.Transport{}}, &http.Client{Transport: &http.Transport{}}
	var got []string
	for _, c := range []*http.Client{one, one, two, one, two} {
		got = append(got, get(c, "http://"+addr))
	}
	if want := "1 2 1 3 2"; strings.Join(got, " ") != want {
		t.Errorf("per-connection counts %q, want %q", strings.Join(got, " "), want)
	}
	plain := httptest.NewServer(h)
	defer plain.Close()
	if got := get(plain.Client(), plain.URL); got != "nil" {
		t.Errorf("outside a Server: %q, want nil", got)
	}
}
