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
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func TestNewServer(t *testing.T) {
	t.Parallel()
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
	t.Parallel()
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

// pipeListener hands a Server the far ends of in-memory connections, so
// that a synctest bubble holds the whole exchange, deadlines included:
// blocking on a real socket would keep the bubble's clock from moving.
type pipeListener struct {
	conns     chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

// dial connects a client to the server behind l.
func (l *pipeListener) dial() net.Conn {
	client, server := net.Pipe()
	l.conns <- server
	return client
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "127.0.0.1:1" }

// closedAfter reads from c until the server closes it and returns how long
// that took from start.
func closedAfter(t *testing.T, c net.Conn, start time.Time) time.Duration {
	t.Helper()
	_, err := io.Copy(io.Discard, c)
	if err != nil && !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("reading until close: %v", err)
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

// inBubble runs f in a synctest bubble with NewServer serving h, then
// shuts the server down so that the bubble ends with no goroutine left.
func inBubble(t *testing.T, h http.Handler, f func(t *testing.T, s *Server, l *pipeListener)) {
	synctest.Test(t, func(t *testing.T) {
		s := NewServer(h, quietOpts.Logger)
		l := newPipeListener()
		served := make(chan struct{})
		go func() { defer close(served); _ = s.Serve(l) }()
		f(t, s, l)
		s.Close()
		<-served
		// The watchdog's sweeper ends at its first tick with no
		// connection left; the bubble must not end before it.
		time.Sleep(2 * time.Second)
	})
}

// Every connection that stalls is closed at the limit of its phase, not
// before it and not long after: slowloris headers, silent or idle
// connections and handlers that outlive their time. In a synctest bubble
// the limits are the real ones (seconds to minutes) and the test takes
// milliseconds.
func TestServerLimits(t *testing.T) {
	t.Parallel()
	lim := defaultLimits
	for _, tc := range []struct {
		name string
		// act drives the connection and returns when the phase under
		// test began.
		act   func(t *testing.T, c net.Conn, br *bufio.Reader) (start time.Time)
		limit time.Duration
	}{
		{"silent new connection", func(*testing.T, net.Conn, *bufio.Reader) time.Time {
			return time.Now()
		}, lim.Header},
		{"slow headers", func(t *testing.T, c net.Conn, _ *bufio.Reader) time.Time {
			start := time.Now()
			_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: localhost\r\n")
			return start
		}, lim.Header},
		{"idle keep-alive", func(t *testing.T, c net.Conn, br *bufio.Reader) time.Time {
			roundTrip(t, c, br, "/")
			return time.Now()
		}, lim.Idle},
		// The idle spell before the first byte does not count against the
		// header limit, and the header limit applies from that byte.
		{"slow headers after idle", func(t *testing.T, c net.Conn, br *bufio.Reader) time.Time {
			roundTrip(t, c, br, "/")
			time.Sleep(lim.Idle - time.Second)
			start := time.Now()
			_, _ = io.WriteString(c, "GET / HT")
			return start
		}, lim.Header},
		{"handler past its time", func(t *testing.T, c net.Conn, _ *bufio.Reader) time.Time {
			start := time.Now()
			_, _ = io.WriteString(c, "GET /stuck HTTP/1.1\r\nHost: localhost\r\n\r\n")
			return start
		}, lim.Active},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// The stuck handler waits as the faces do, on the request's
			// context: a Source is bounded by it.
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/stuck" {
					<-r.Context().Done()
				}
				_, _ = w.Write([]byte("ok"))
			})
			inBubble(t, h, func(t *testing.T, _ *Server, l *pipeListener) {
				c := l.dial()
				defer c.Close()
				start := tc.act(t, c, bufio.NewReader(c))
				got := closedAfter(t, c, start)
				if got < tc.limit || got > tc.limit+2*time.Second {
					t.Errorf("closed %v after the phase began, want at %v", got, tc.limit)
				}
			})
		})
	}
}

// A connection in steady use is never cut, however long it lives; and
// with no connection left the sweeper stops, so an idle daemon keeps no
// timer running.
func TestServerKeepsBusyConnection(t *testing.T) {
	t.Parallel()
	inBubble(t, okHandler, func(t *testing.T, s *Server, l *pipeListener) {
		c := l.dial()
		br := bufio.NewReader(c)
		lim := defaultLimits
		end := time.Now().Add(2 * (lim.Header + lim.Active + lim.Idle))
		for time.Now().Before(end) {
			roundTrip(t, c, br, "/") // fails if the connection was closed
			time.Sleep(lim.Idle / 2)
		}
		c.Close()
		time.Sleep(3 * time.Second) // the close seen, and a sweep after it
		synctest.Wait()
		s.wd.mu.Lock()
		running := s.wd.running
		s.wd.mu.Unlock()
		if running {
			t.Error("sweeper still running with no connections")
		}
	})
}

// ConnValue is one value per connection, kept across its requests.
func TestConnValue(t *testing.T) {
	t.Parallel()
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
	defer one.CloseIdleConnections()
	defer two.CloseIdleConnections()
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
