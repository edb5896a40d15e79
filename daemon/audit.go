package daemon

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

// VendRecord is one credential document served: who took which key.
type VendRecord struct {
	Time        time.Time `json:"time"`
	Face        string    `json:"face"`     // imds or ecs
	Listener    string    `json:"listener"` // local address
	Client      string    `json:"client"`   // remote address
	Profile     string    `json:"profile"`
	AccessKeyID string    `json:"access_key_id"`
	Expires     time.Time `json:"expires"`
	Identity
}

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

// auditor logs every vend as one structured line and keeps the recent ones
// for `imdsd sessions`. Handlers only enqueue; identity lookups (which read
// /proc) happen on the auditor's goroutine, never on the request path.
type auditor struct {
	log     *slog.Logger
	ch      chan VendRecord
	dropped atomic.Int64

	mu   sync.Mutex
	ring []VendRecord
	next int
	full bool

	// conns caches the socket owner per client address (connSocket),
	// looked up on the request path once per connection while it is
	// surely open; procs caches inode -> process on the audit goroutine.
	conns   sync.Map
	connsAt atomic.Int64
	procs   map[string]cachedIdentity
	procsAt time.Time

	containers *containers
}

type connSocket struct {
	uid   int
	inode string
	exp   int64 // unix nanos
}

type cachedIdentity struct {
	id  Identity
	exp time.Time
}

const auditRing = 4096

func newAuditor(log *slog.Logger) *auditor {
	return &auditor{log: log, ch: make(chan VendRecord, 1024), ring: make([]VendRecord, auditRing), procs: map[string]cachedIdentity{}, containers: newContainers()}
}

// vend returns the hook for one face.
func (a *auditor) vend(face string) imds.VendFunc {
	return func(r *http.Request, profile string, c imds.Credentials) {
		rec := VendRecord{Time: time.Now(), Face: face, Client: r.RemoteAddr, Profile: profile, AccessKeyID: c.AccessKeyID, Expires: c.Expires}
		if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			rec.Listener = la.String()
		}
		rec.UID, rec.inode = a.socket(rec.Client, rec.Listener, rec.Time)
		select {
		case a.ch <- rec:
		default:
			a.dropped.Add(1) // never block a client on auditing
		}
	}
}

func (a *auditor) run(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case rec := <-a.ch:
			rec.Identity = a.identify(rec)
			a.log.Info("credentials vended", "face", rec.Face, "listener", rec.Listener, "client", rec.Client,
				"uid", rec.UID, "pid", rec.PID, "comm", rec.Comm, "container", rec.Container, "profile", rec.Profile,
				"access_key_id", rec.AccessKeyID, "remaining", time.Until(rec.Expires).Round(time.Second))
			a.mu.Lock()
			a.ring[a.next] = rec
			a.next = (a.next + 1) % len(a.ring)
			a.full = a.full || a.next == 0
			a.mu.Unlock()
		}
	}
}

// socket finds who owns the client's end of the connection, once per
// connection (a minute's cache by address; ports are not reused that fast).
// It runs on the request path because a client that closes at once takes
// its socket-table entry with it.
func (a *auditor) socket(client, listener string, now time.Time) (int, string) {
	n := now.UnixNano()
	if v, ok := a.conns.Load(client); ok {
		if cs := v.(connSocket); n < cs.exp {
			return cs.uid, cs.inode
		}
	}
	if last := a.connsAt.Load(); n-last > int64(time.Minute) && a.connsAt.CompareAndSwap(last, n) {
		a.conns.Range(func(k, v any) bool {
			if n >= v.(connSocket).exp {
				a.conns.Delete(k)
			}
			return true
		})
	}
	uid, inode := socketOf(client, listener)
	a.conns.Store(client, connSocket{uid: uid, inode: inode, exp: n + int64(time.Minute)})
	return uid, inode
}

// identify adds the process behind the socket, cached by inode.
func (a *auditor) identify(rec VendRecord) Identity {
	id := rec.Identity
	if id.UID < 0 {
		// Not a local process: perhaps a container on a docker bridge.
		if ap, err := netip.ParseAddrPort(rec.Client); err == nil {
			id.Container = a.containers.lookup(ap.Addr().Unmap())
		}
		return id
	}
	if id.inode == "" || id.inode == "0" {
		return id
	}
	now := time.Now()
	if now.Sub(a.procsAt) > time.Minute {
		for k, v := range a.procs {
			if now.After(v.exp) {
				delete(a.procs, k)
			}
		}
		a.procsAt = now
	}
	if c, ok := a.procs[id.inode]; ok && now.Before(c.exp) {
		id.PID, id.Comm = c.id.PID, c.id.Comm
		return id
	}
	id.PID, id.Comm = processOf(id.inode)
	a.procs[id.inode] = cachedIdentity{id: id, exp: now.Add(time.Minute)}
	return id
}

// recent returns the records in the ring, oldest first.
func (a *auditor) recent() []VendRecord {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.full {
		return append([]VendRecord(nil), a.ring[:a.next]...)
	}
	return append(append([]VendRecord(nil), a.ring[a.next:]...), a.ring[:a.next]...)
}

// Consumer summarises one client of a profile.
type Consumer struct {
	Profile     string    `json:"profile"`
	Face        string    `json:"face"`
	Who         string    `json:"who"` // "uid 1000 pid 42 (aws)" or the address
	Requests    int       `json:"requests"`
	First       time.Time `json:"first"`
	Last        time.Time `json:"last"`
	AccessKeyID string    `json:"access_key_id"`
	Identity
}

// sessions groups the recent vends per profile and consumer.
func (a *auditor) sessions() []Consumer {
	by := map[string]*Consumer{}
	for _, r := range a.recent() {
		who := r.who()
		k := r.Profile + "\x00" + r.Face + "\x00" + who
		c := by[k]
		if c == nil {
			c = &Consumer{Profile: r.Profile, Face: r.Face, Who: who, First: r.Time, Identity: r.Identity}
			by[k] = c
		}
		c.Requests++
		c.Last, c.AccessKeyID = r.Time, r.AccessKeyID
	}
	out := make([]Consumer, 0, len(by))
	for _, c := range by {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Profile != out[j].Profile {
			return out[i].Profile < out[j].Profile
		}
		return out[i].Last.After(out[j].Last)
	})
	return out
}

func (r VendRecord) who() string {
	switch {
	case r.Container != "":
		return "container " + r.Container
	case r.PID > 0:
		return "uid " + itoa(r.UID) + " pid " + itoa(r.PID) + " (" + r.Comm + ")"
	case r.UID >= 0:
		return "uid " + itoa(r.UID) + " at " + hostOnly(r.Client)
	}
	return hostOnly(r.Client)
}

func hostOnly(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

func itoa(i int) string { return strconv.Itoa(i) }
