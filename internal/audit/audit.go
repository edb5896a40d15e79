// Package audit answers "who took which credentials": every vend is counted
// against its consumer (client connection, profile, access key) and logged
// with the client's identity: uid, pid and command of a local process
// (NETLINK_SOCK_DIAG and /proc on Linux) or the docker container's name.
package audit

import (
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/imdsd/imdsd/imds"
)

// Identity is what the local system says about a client, where it can.
type Identity struct {
	UID  int    `json:"uid"` // -1 when unknown
	PID  int    `json:"pid,omitempty"`
	Comm string `json:"comm,omitempty"`
	// Container names the docker container, for clients on a bridge.
	Container string `json:"container,omitempty"`
	// inode of the client's socket, the key to its process.
	inode string
}

// The audit answers "who took which credentials". Every vend is counted
// against its consumer: the client connection, the profile and the access
// key. The first vend of each is logged at once with the client's identity;
// repeats are logged as one line with their count every flush interval, so
// a client polling thousands of times a second costs an atomic add, not a
// log line (the benchmark's throughput depends on it).

// vendKey identifies a consumer of one key. Built from strings the request
// already holds: no allocation on a repeat.
type vendKey struct {
	face, client, profile, akid string
}

type vendEntry struct {
	key      vendKey
	listener string
	expires  time.Time
	first    time.Time
	count    atomic.Int64
	last     atomic.Int64 // unix nanos
	retired  atomic.Bool  // dropped from entries: a connection's memory of it is stale
	// unflushed: counted into since the last flush looked (set on the
	// request path at most once per flush, which then wakes the auditor).
	unflushed atomic.Bool
	logged    int64 // count already logged (auditor goroutine only)

	idMu       sync.Mutex // id is completed by the auditor, read by sessions
	id         Identity
	identTries int
}

// identifyTries: the fresh notice, and one retry at the next flush.
const identifyTries = 2

// lookAgain: identify has a try left that could find the process.
func (e *vendEntry) lookAgain() bool {
	e.idMu.Lock()
	defer e.idMu.Unlock()
	return e.identTries < identifyTries && e.id.UID >= 0 && e.id.PID == 0 && e.id.inode != "" && e.id.inode != "0"
}

type Auditor struct {
	log     *slog.Logger
	entries sync.Map // vendKey -> *vendEntry
	fresh   chan *vendEntry
	wake    chan struct{} // a repeat was counted into a flushed entry
	dropped atomic.Int64
	flush   time.Duration
	idle    time.Duration // an entry unused this long is retired
	flushes atomic.Int64  // for tests

	mu     sync.Mutex
	closed []Consumer // consumers that went idle, newest last (bounded)

	procs      *procIndex
	containers *containers

	horizon horizon          // what a revoke would cut off, per profile
	now     func() time.Time // the horizon's clock (tests move it)
}

const (
	auditFlush  = 10 * time.Second
	auditIdle   = 10 * time.Minute // an entry idle this long is retired
	auditRecent = 1024             // retired consumers kept for `imdsd sessions`
)

func New(log *slog.Logger) *Auditor {
	return &Auditor{log: log, fresh: make(chan *vendEntry, 1024), wake: make(chan struct{}, 1), flush: auditFlush, idle: auditIdle, procs: &procIndex{}, containers: newContainers(), now: time.Now}
}

// SetClock replaces the clock that decides which vended credentials have
// expired (nil = time.Now). Call it before the first vend.
func (a *Auditor) SetClock(now func() time.Time) {
	if now == nil {
		now = time.Now
	}
	a.now = now
}

// Dropped counts vends not audited because the queue was full (the
// clients were still served).
func (a *Auditor) Dropped() int64 { return a.dropped.Load() }

// Vend returns the hook for one face. It runs on the request path.
func (a *Auditor) Vend(face string) imds.VendFunc {
	return func(r *http.Request, profile string, c imds.Credentials, now time.Time) {
		// A keep-alive client asks again and again on one connection: the
		// connection remembers its consumer, sparing the map lookup.
		slot := imds.ConnValue(r)
		if slot != nil {
			if e, ok := (*slot).(*vendEntry); ok && e.key.face == face && e.key.profile == profile && e.key.akid == c.AccessKeyID && !e.retired.Load() {
				a.repeat(e, now)
				return
			}
		}
		client := r.RemoteAddr
		peer, known := peerOf(r.Context())
		if known {
			client = "pid " + strconv.Itoa(peer.PID) // a unix socket has no address
		}
		k := vendKey{face: face, client: client, profile: profile, akid: c.AccessKeyID}
		if v, ok := a.entries.Load(k); ok {
			e := v.(*vendEntry)
			a.repeat(e, now)
			if slot != nil {
				*slot = e
			}
			return
		}
		// A new consumer, and perhaps a new credential: off the repeat path.
		a.horizon.note(profile, c, now)
		e := &vendEntry{key: k, expires: c.Expires, first: now}
		if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			e.listener = la.String()
		}
		// Who owns the client's socket is asked now, once per consumer,
		// while the connection is surely open: a client that closes at
		// once takes that answer with it.
		if known {
			e.id, e.identTries = peer, identifyTries
		} else {
			e.id.UID, e.id.inode = socketOf(e.key.client, e.listener)
		}
		e.count.Store(1)
		e.last.Store(now.UnixNano())
		if v, loaded := a.entries.LoadOrStore(k, e); loaded {
			a.repeat(v.(*vendEntry), now)
			return
		}
		if slot != nil {
			*slot = e
		}
		select {
		case a.fresh <- e:
		default:
			a.dropped.Add(1) // identified and logged at the next flush instead
			a.repeat(e, now)
		}
	}
}

// repeat counts one more vend to a known consumer. The first since a flush
// wakes the auditor to flush again; later ones only count.
func (a *Auditor) repeat(e *vendEntry, now time.Time) {
	e.count.Add(1)
	e.last.Store(now.UnixNano())
	if !e.unflushed.Load() {
		e.unflushed.Store(true)
		select {
		case a.wake <- struct{}{}:
		default:
		}
	}
}

// run logs new consumers as they come and flushes counts at most every
// flush interval, but only when there is something to do: counts to log,
// a process to look for again, or a consumer due to retire. An imdsd no
// one asks does not wake up for its audit.
func (a *Auditor) Run(stop <-chan struct{}) {
	t := time.NewTimer(time.Hour)
	t.Stop()
	var due time.Time // when t fires; zero: not armed
	arm := func(at time.Time) {
		if due.IsZero() || at.Before(due) {
			t.Reset(time.Until(at))
			due = at
		}
	}
	defer t.Stop()
	for {
		select {
		case <-stop:
			a.flushAll(true)
			return
		case e := <-a.fresh:
			a.identify(e)
			a.logEntry(e, "credentials vended")
			// Its retirement, or sooner a second look for its process.
			at := time.Now().Add(a.idle)
			if e.lookAgain() {
				at = time.Now().Add(a.flush)
			}
			arm(at)
		case <-a.wake:
			arm(time.Now().Add(a.flush))
		case <-t.C:
			due = time.Time{}
			if next := a.flushAll(false); !next.IsZero() {
				arm(next)
			}
		}
	}
}

// identify adds the process or container behind the client. A process not
// found at first (the index is rebuilt at a bounded rate, so a burst of
// new clients may meet one a little old) is looked for once more, at the
// next flush; after that it has exited (a CLI call takes milliseconds) and
// its uid is all there is. Looking again at every flush would walk every
// /proc/*/fd on the machine every 10 s for each such client.
func (a *Auditor) identify(e *vendEntry) {
	e.idMu.Lock()
	id, tries := e.id, e.identTries
	if tries < identifyTries {
		e.identTries++
	}
	e.idMu.Unlock()
	switch {
	case tries >= identifyTries:
		return
	case id.UID < 0 && tries == 0:
		// Not a local process: perhaps a container on a docker bridge.
		if ap, err := netip.ParseAddrPort(e.key.client); err == nil {
			id.Container = a.containers.lookup(ap.Addr().Unmap())
		}
	case id.UID >= 0 && id.PID == 0 && id.inode != "" && id.inode != "0":
		id.PID, id.Comm = a.procs.lookup(id.inode)
	default:
		return
	}
	e.idMu.Lock()
	e.id = id
	e.idMu.Unlock()
}

func (a *Auditor) logEntry(e *vendEntry, msg string) {
	n := e.count.Load()
	count := n - e.logged
	if count <= 0 {
		return
	}
	e.logged = n
	e.idMu.Lock()
	id := e.id
	e.idMu.Unlock()
	a.log.Info(msg, "face", e.key.face, "listener", e.listener, "client", e.key.client,
		"uid", id.UID, "pid", id.PID, "comm", id.Comm, "container", id.Container, "profile", e.key.profile,
		"access_key_id", e.key.akid, "remaining", time.Until(e.expires).Round(time.Second), "count", count)
}

// flushAll logs the repeats counted since the last flush and retires idle
// consumers. It returns when the next flush is needed for what is left
// (the earliest retirement), zero if nothing is left; counts that arrive
// meanwhile wake the auditor themselves.
func (a *Auditor) flushAll(final bool) (next time.Time) {
	a.flushes.Add(1)
	now := time.Now()
	idleBefore := now.Add(-a.idle).UnixNano()
	a.entries.Range(func(k, v any) bool {
		e := v.(*vendEntry)
		e.unflushed.Store(false) // before the count is read: a vend after it wakes a new flush
		a.identify(e)            // for entries whose fresh notice was dropped
		a.logEntry(e, "credentials vended")
		last := e.last.Load()
		if !final && last > idleBefore { // at exactly idle it retires: re-arming for "now" would spin
			at := time.Unix(0, last).Add(a.idle) // its retirement
			if e.lookAgain() {
				at = now.Add(a.flush)
			}
			if next.IsZero() || at.Before(next) {
				next = at
			}
			return true
		}
		e.retired.Store(true)
		a.entries.Delete(k)
		a.mu.Lock()
		a.closed = append(a.closed, e.consumer())
		if len(a.closed) > auditRecent {
			a.closed = a.closed[len(a.closed)-auditRecent:]
		}
		a.mu.Unlock()
		return true
	})
	return next
}

// Consumer summarises one client of a profile.
type Consumer struct {
	Profile     string    `json:"profile"`
	Face        string    `json:"face"`
	Who         string    `json:"who"` // "uid 1000 pid 42 (aws)", a container, or the address
	Requests    int64     `json:"requests"`
	First       time.Time `json:"first"`
	Last        time.Time `json:"last"`
	AccessKeyID string    `json:"access_key_id"`
	// ProfileOldestValid is when imdsd began fetching the oldest
	// credential of the profile it vended (to anyone) that is still valid:
	// not expired, and not cut off by a revoke imdsd made. STS issued it no
	// earlier; `imdsd revoke` would cut off it and everything newer. Zero
	// when none is left.
	ProfileOldestValid time.Time `json:"profile_oldest_valid,omitzero"`
	// ProfileValid counts the profile's vended credentials still valid.
	ProfileValid int `json:"profile_valid"`
	Identity
}

func (e *vendEntry) consumer() Consumer {
	e.idMu.Lock()
	id := e.id
	e.idMu.Unlock()
	return Consumer{Profile: e.key.profile, Face: e.key.face, Who: who(id, e.key.client), Requests: e.count.Load(),
		First: e.first, Last: time.Unix(0, e.last.Load()), AccessKeyID: e.key.akid, Identity: id}
}

// sessions groups recent consumers per profile and who they are: several
// connections of one process count as one consumer.
func (a *Auditor) Sessions() []Consumer {
	a.mu.Lock()
	all := append([]Consumer(nil), a.closed...)
	a.mu.Unlock()
	a.entries.Range(func(_, v any) bool {
		all = append(all, v.(*vendEntry).consumer())
		return true
	})
	by := map[string]*Consumer{}
	var order []string
	for _, c := range all {
		k := c.Profile + "\x00" + c.Face + "\x00" + c.Who
		g := by[k]
		if g == nil {
			cc := c
			by[k], order = &cc, append(order, k)
			continue
		}
		g.Requests += c.Requests
		if c.First.Before(g.First) {
			g.First = c.First
		}
		if c.Last.After(g.Last) {
			g.Last, g.AccessKeyID = c.Last, c.AccessKeyID
		}
	}
	oldest := a.horizon.oldest(a.now())
	out := make([]Consumer, 0, len(order))
	for _, k := range order {
		c := *by[k]
		o := oldest[c.Profile]
		c.ProfileOldestValid, c.ProfileValid = o.Issued, o.Valid
		out = append(out, c)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Profile != out[j].Profile {
			return out[i].Profile < out[j].Profile
		}
		return out[i].Last.After(out[j].Last)
	})
	return out
}

// who names a consumer: its process where known (not its port, which
// changes per connection), else its container, else its address.
func who(id Identity, client string) string {
	switch {
	case id.Container != "":
		return "container " + id.Container
	case id.PID > 0:
		return "uid " + strconv.Itoa(id.UID) + " pid " + strconv.Itoa(id.PID) + " (" + id.Comm + ")"
	case id.UID >= 0:
		return "uid " + strconv.Itoa(id.UID) + " at " + hostOnly(client)
	}
	return hostOnly(client)
}

func hostOnly(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// procIndex maps socket inodes to processes. Building it walks every
// /proc/*/fd, so it is rebuilt at most four times a second, and only when
// an inode is missing: many new clients share one walk.
type procIndex struct {
	byInode map[string]procInfo
	built   time.Time
	walks   int // for tests
}

type procInfo struct {
	pid  int
	comm string
}

func (p *procIndex) lookup(inode string) (int, string) {
	if pi, ok := p.byInode[inode]; ok {
		return pi.pid, pi.comm
	}
	if time.Since(p.built) < 250*time.Millisecond {
		return 0, ""
	}
	p.byInode, p.built = socketProcesses(), time.Now()
	p.walks++
	pi := p.byInode[inode]
	return pi.pid, pi.comm
}
