package imds

import (
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Phases of a connection. They live in the low two bits of wconn.state;
// the rest counts transitions, so the sweeper can tell a connection that
// stayed in a phase from one that left it and came back.
const (
	phaseHeader uint64 = iota
	phaseActive
	phaseIdle
	phaseBits = 2
	phaseMask = 1<<phaseBits - 1
)

var phaseNames = [...]string{"header", "active", "idle"}

// watchdog closes connections that stay in a phase longer than its limit.
// The request path only stores a word per transition; all timekeeping is
// the sweeper's, which counts the sweeps a connection spends unchanged.
// The sweeper runs only while there are connections, so an idle daemon
// has no timer.
type watchdog struct {
	lim    Limits
	tick   time.Duration
	sweeps [3]int // by phase: unchanged sweeps before closing
	log    *slog.Logger

	mu      sync.Mutex
	conns   map[*wconn]struct{}
	running bool
	// max caps the connections (0: no cap); accepted numbers them, so
	// the oldest can be found.
	max      atomic.Int64
	accepted uint64
	// stopped ends the sweeper for good (the server shut down); sweeping
	// counts it, so stop can wait for it.
	stopped  chan struct{}
	stopOnce sync.Once
	sweeping sync.WaitGroup
}

func newWatchdog(lim Limits, tick time.Duration, log *slog.Logger) *watchdog {
	wd := &watchdog{lim: lim, tick: tick, log: log, conns: map[*wconn]struct{}{}, stopped: make(chan struct{})}
	for p, d := range [...]time.Duration{lim.Header, lim.Active, lim.Idle} {
		// Seen unchanged n sweeps running means at least n ticks in the
		// phase; ceil so that no connection is closed early.
		wd.sweeps[p] = max(1, int((d+tick-1)/tick))
	}
	return wd
}

// wconn is an accepted connection under the watchdog.
type wconn struct {
	net.Conn
	wd    *watchdog
	state atomic.Uint64 // transitions<<phaseBits | phase
	// The sweeper's own bookkeeping, under wd.mu.
	seen      uint64
	unchanged int
	// value is ConnValue's: the requests of one HTTP/1.1 connection are
	// served one at a time, by one goroutine.
	value any
	// seq is the accept order; local: the client is on this machine.
	seq   uint64
	local bool
}

// enter records a move to phase p. Transitions of one connection never
// run concurrently: net/http orders its hooks and reads.
func (c *wconn) enter(p uint64) {
	s := c.state.Load()
	c.state.Store((s&^phaseMask + 1<<phaseBits) | p)
}

// Read marks the start of a request when bytes arrive on an idle
// connection; net/http itself says nothing until the headers are in.
func (c *wconn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 && c.state.Load()&phaseMask == phaseIdle {
		c.enter(phaseHeader)
	}
	return n, err
}

// CloseWrite keeps net/http's lingering close for TCP connections.
func (c *wconn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

type watchedListener struct {
	net.Listener
	wd *watchdog
}

func (l watchedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		// seen starts at a value no state has, so a connection accepted
		// just before a sweep is not counted as unchanged through it.
		wc := &wconn{Conn: c, wd: l.wd, seen: ^uint64(0), local: isLocal(c)}
		if l.wd.add(wc) {
			return wc, nil
		}
		c.Close() // over the cap, and nothing could make room
	}
}

// isLocal: the client is on this machine (loopback, or the connection's
// own local address, as for the link-local addresses held on lo).
func isLocal(c net.Conn) bool {
	ra, ok1 := c.RemoteAddr().(*net.TCPAddr)
	la, ok2 := c.LocalAddr().(*net.TCPAddr)
	return ok1 && ok2 && (ra.IP.IsLoopback() || ra.IP.Equal(la.IP))
}

// add puts c under the watchdog, within the cap: at the cap the oldest
// idle keep-alive connection makes room (its client reconnects when it
// next asks); with none idle, a local client still gets in, at the cost
// of the oldest remote connection, and a remote one is refused. So a
// container flooding a listener cannot lock the machine's own clients out.
func (wd *watchdog) add(c *wconn) bool {
	wd.mu.Lock()
	max := int(wd.max.Load())
	var victim *wconn
	if max > 0 && len(wd.conns) >= max {
		victim = wd.oldest(func(o *wconn) bool { return o.state.Load()&phaseMask == phaseIdle })
		if victim == nil && c.local {
			victim = wd.oldest(func(o *wconn) bool { return !o.local })
		}
		if victim == nil && !c.local {
			wd.mu.Unlock()
			wd.log.Debug("connection refused: at max_connections", "remote", c.RemoteAddr().String(), "max", max)
			return false
		}
		if victim != nil {
			delete(wd.conns, victim)
		}
	}
	wd.accepted++
	c.seq = wd.accepted
	wd.conns[c] = struct{}{}
	if !wd.running {
		select {
		case <-wd.stopped: // shut down: its connections are closed anyway
		default:
			wd.running = true
			wd.sweeping.Add(1)
			go wd.sweep()
		}
	}
	wd.mu.Unlock()
	if victim != nil {
		wd.log.Debug("connection closed to make room: at max_connections", "remote", victim.RemoteAddr().String(), "max", max)
		victim.Conn.Close()
	}
	return true
}

// oldest is the longest-held connection that ok accepts. Called with
// wd.mu held; only at the cap, so the scan is bounded by it.
func (wd *watchdog) oldest(ok func(*wconn) bool) *wconn {
	var best *wconn
	for o := range wd.conns {
		if ok(o) && (best == nil || o.seq < best.seq) {
			best = o
		}
	}
	return best
}

// connState is the http.Server's ConnState hook.
func (wd *watchdog) connState(nc net.Conn, st http.ConnState) {
	c, ok := nc.(*wconn)
	if !ok {
		return
	}
	switch st {
	case http.StateActive:
		c.enter(phaseActive)
	case http.StateIdle:
		c.enter(phaseIdle)
	case http.StateClosed, http.StateHijacked:
		wd.mu.Lock()
		delete(wd.conns, c)
		wd.mu.Unlock()
	}
}

// stop ends the sweeper and waits for it, so a shut-down server leaves no
// goroutine behind.
func (wd *watchdog) stop() {
	wd.stopOnce.Do(func() { close(wd.stopped) })
	wd.sweeping.Wait()
}

func (wd *watchdog) sweep() {
	defer wd.sweeping.Done()
	var expired []*wconn
	t := time.NewTimer(wd.tick)
	defer t.Stop()
	for {
		// A timer re-armed after each sweep, not a Ticker: a delayed sweep
		// must not be followed by a buffered tick at once, or n sweeps
		// could span less than n ticks.
		select {
		case <-t.C:
		case <-wd.stopped:
			wd.mu.Lock()
			wd.running = false
			wd.mu.Unlock()
			return
		}
		t.Reset(wd.tick)
		expired = expired[:0]
		wd.mu.Lock()
		if len(wd.conns) == 0 {
			wd.running = false
			wd.mu.Unlock()
			return
		}
		for c := range wd.conns {
			s := c.state.Load()
			if s != c.seen {
				c.seen, c.unchanged = s, 0
				continue
			}
			if c.unchanged++; c.unchanged >= wd.sweeps[s&phaseMask] {
				delete(wd.conns, c)
				expired = append(expired, c)
			}
		}
		wd.mu.Unlock()
		for _, c := range expired {
			p := c.seen & phaseMask
			wd.log.Debug("connection closed: over its time limit",
				"remote", c.RemoteAddr().String(), "phase", phaseNames[p],
				"limit", [...]time.Duration{wd.lim.Header, wd.lim.Active, wd.lim.Idle}[p])
			c.Conn.Close()
		}
	}
}
