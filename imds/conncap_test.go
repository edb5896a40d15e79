package imds

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"
)

// fakeConn is a connection from a chosen address, for the cap's choices.
type fakeConn struct {
	net.Conn
	remote string
	closed bool
}

func (c *fakeConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.ParseIP(c.remote), Port: 40000}
}
func (c *fakeConn) LocalAddr() net.Addr {
	return &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 9912}
}
func (c *fakeConn) Close() error { c.closed = true; return nil }

func TestConnectionCapMakesRoomForNewClients(t *testing.T) {
	t.Parallel()
	wd := newWatchdog(defaultLimits, time.Hour, slog.New(slog.NewTextHandler(io.Discard, nil)))
	wd.max.Store(2)
	conn := func(addr string) (*wconn, *fakeConn) {
		fc := &fakeConn{remote: addr}
		return &wconn{Conn: fc, wd: wd, seen: ^uint64(0), local: isLocal(fc)}, fc
	}
	r1, f1 := conn("172.17.0.5")
	r2, f2 := conn("172.17.0.6")
	if !wd.add(r1) || !wd.add(r2) {
		t.Fatal("connections under the cap were refused")
	}
	// At the cap with nothing idle: a remote client is refused.
	r3, _ := conn("172.17.0.7")
	if wd.add(r3) {
		t.Fatal("a remote client got in over the cap with no idle connection to close")
	}
	// An idle keep-alive connection makes room, oldest first.
	r2.enter(phaseIdle)
	r1.enter(phaseIdle)
	if !wd.add(r3) || !f1.closed || f2.closed {
		t.Fatalf("at the cap: new admitted? closed r1=%v r2=%v; want the oldest idle (r1) closed", f1.closed, f2.closed)
	}
	// Remote connections busy (a flood of silent ones): a local client
	// still gets in, at the cost of the oldest remote one.
	r2.enter(phaseActive)
	l1, _ := conn("127.0.0.1")
	if !wd.add(l1) || !f2.closed {
		t.Fatalf("a local client at a cap full of busy remote connections: closed r2=%v; want it admitted and r2 closed", f2.closed)
	}
	// Only local connections, all busy: the local client is not refused.
	l2, _ := conn("127.0.0.1")
	wd.max.Store(1)
	if !wd.add(l2) {
		t.Fatal("a local client was refused")
	}
}

// Over real sockets: many idle keep-alive clients beyond the cap do not
// hold the server's connections; the oldest are closed, the newest and a
// new client are served.
func TestConnectionCapOverSockets(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }), nil)
	srv.SetMaxConns(16)
	go srv.Serve(ln)
	defer srv.Close()
	get := func(c net.Conn, br *bufio.Reader) error {
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
			return err
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		return resp.Body.Close()
	}
	type client struct {
		c  net.Conn
		br *bufio.Reader
	}
	var cs []client
	for i := 0; i < 40; i++ {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		br := bufio.NewReader(c)
		if err := get(c, br); err != nil { // now idle, kept alive
			t.Fatalf("client %d: %v", i, err)
		}
		cs = append(cs, client{c, br})
	}
	// The oldest 24 were closed by the server as newer ones came.
	for i, cl := range cs[:24] {
		cl.c.SetReadDeadline(time.Now().Add(5 * time.Second)) // bounds a failure only
		if _, err := cl.br.ReadByte(); err != io.EOF {
			t.Fatalf("client %d (of the oldest) still held by the server: %v", i, err)
		}
	}
	// The newest 16 are still served on their connections.
	for i, cl := range cs[24:] {
		if err := get(cl.c, cl.br); err != nil {
			t.Fatalf("client %d (of the newest): %v", 24+i, err)
		}
	}
}
