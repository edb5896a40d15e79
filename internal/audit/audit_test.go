package audit

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/imdsd/imdsd/imds"
)

// vendRequest is a request as the server hands it to a handler.
func vendRequest(remote string) *http.Request {
	r := httptest.NewRequest("GET", "/creds", nil)
	r.RemoteAddr = remote
	return r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9912}))
}

// Repeat vends are the hot path under a polling client.
func BenchmarkVendRepeat(b *testing.B) {
	vend := New(quiet).Vend("ecs")
	r := vendRequest("127.0.0.1:40000")
	c := imds.Credentials{AccessKeyID: "ASIAFAKE0000000001", Expires: time.Now().Add(time.Hour)}
	vend(r, "dev", c, time.Now())
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		vend(r, "dev", c, time.Now())
	}
}

// Every vend is counted against its consumer (connection, profile, key),
// both for requests handed over bare and for requests of a keep-alive
// connection through imds.Server, where the connection remembers its last
// consumer. A consumer retired from the audit is not counted into again.
func TestVendCountsEveryRequestPerConsumer(t *testing.T) {
	creds := map[string]imds.Credentials{
		"1": {AccessKeyID: "ASIAFAKE0000000001", Expires: time.Now().Add(time.Hour)},
		"2": {AccessKeyID: "ASIAFAKE0000000002", Expires: time.Now().Add(time.Hour)},
	}
	var steps []vendStep
	for range 5 {
		steps = append(steps, vendStep{0, "dev", "1"})
	}
	steps = append(steps, vendStep{0, "dev", "2"}, vendStep{0, "dev", "1"}) // a new key on the same connection, and back
	for range 3 {
		steps = append(steps, vendStep{1, "ops", "1"})
	}
	want := map[string]int64{"0/dev/ASIAFAKE0000000001": 6, "0/dev/ASIAFAKE0000000002": 1, "1/ops/ASIAFAKE0000000001": 3}

	for _, mode := range []string{"bare requests", "keep-alive connections"} {
		t.Run(mode, func(t *testing.T) {
			a := newAuditor()
			vend := a.Vend("ecs")
			conns := map[string]int{} // client address -> connection index
			var do func(s vendStep)
			if mode == "bare requests" {
				reqs := []*http.Request{vendRequest("127.0.0.1:40000"), vendRequest("127.0.0.1:40001")}
				conns["127.0.0.1:40000"], conns["127.0.0.1:40001"] = 0, 1
				do = func(s vendStep) { vend(reqs[s.conn], s.profile, creds[s.key], time.Now()) }
			} else {
				do = keepAliveVends(t, vend, creds, conns)
			}
			count := func() map[string]int64 {
				got := map[string]int64{}
				a.entries.Range(func(_, v any) bool {
					e := v.(*vendEntry)
					got[strconv.Itoa(conns[e.key.client])+"/"+e.key.profile+"/"+e.key.akid] += e.count.Load()
					return true
				})
				return got
			}
			for _, s := range steps {
				do(s)
			}
			if got := count(); !maps.Equal(got, want) {
				t.Fatalf("consumers %v, want %v", got, want)
			}
			a.flushAll(true) // retires every consumer
			do(steps[0])
			if got, want := count(), map[string]int64{"0/dev/ASIAFAKE0000000001": 1}; !maps.Equal(got, want) {
				t.Errorf("after retirement: consumers %v, want %v", got, want)
			}
		})
	}
	vend := New(quiet).Vend("ecs")
	r := vendRequest("127.0.0.1:40000")
	if allocs := testing.AllocsPerRun(100, func() { vend(r, "dev", creds["1"], time.Now()) }); allocs != 0 {
		t.Errorf("a repeat vend allocates %.0f times; want 0", allocs)
	}
}

// vendStep is one credential request: on which connection, for what.
type vendStep struct {
	conn         int
	profile, key string
}

// keepAliveVends serves vend behind imds.Server on loopback and returns a
// function making each step's request on its own keep-alive connection.
func keepAliveVends(t *testing.T, vend imds.VendFunc, creds map[string]imds.Credentials, conns map[string]int) func(s vendStep) {
	t.Helper()
	srv := imds.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		vend(r, r.URL.Query().Get("p"), creds[r.URL.Query().Get("k")], time.Now())
		_, _ = w.Write([]byte(r.RemoteAddr))
	}), quiet)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	clients := []*http.Client{{Transport: &http.Transport{}}, {Transport: &http.Transport{}}}
	return func(s vendStep) {
		resp, err := clients[s.conn].Get("http://" + ln.Addr().String() + "/?p=" + s.profile + "&k=" + s.key)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if n, seen := conns[string(body)]; seen && n != s.conn {
			t.Fatalf("connections %d and %d share client address %s", n, s.conn, body)
		}
		conns[string(body)] = s.conn
	}
}

// A client that is gone before its process was found (a CLI call that took
// milliseconds) is looked for at its first vend and once more at the next
// flush, not at every flush until it retires: each look walks every
// /proc/*/fd on the machine.
func TestGoneClientIsLookedForTwice(t *testing.T) {
	a := newAuditor()
	vend := a.Vend("imds")
	vend(vendRequest("127.0.0.1:40000"), "dev", imds.Credentials{AccessKeyID: "ASIAFAKE0000000001", Expires: time.Now().Add(time.Hour)}, time.Now())
	var e *vendEntry
	a.entries.Range(func(_, v any) bool { e = v.(*vendEntry); return false })
	// As if the socket had been found owned by uid 0 and the process had
	// exited since: an inode no process holds.
	e.id = Identity{UID: 0, inode: "4294967295"}
	a.identify(<-a.fresh)
	for range 5 {
		a.procs.built = time.Time{} // the rate limit is not what stops it
		a.flushAll(false)
	}
	if a.procs.walks != identifyTries {
		t.Fatalf("the process table was walked %d times for one gone client; want %d", a.procs.walks, identifyTries)
	}
	if got := e.consumer().Who; got != "uid 0 at 127.0.0.1" {
		t.Errorf("consumer %q, want it named by uid and address", got)
	}
}

// The audit wakes only when it has something to do: to log counts after a
// repeat, and to retire a consumer once it has been idle long enough. In
// between, and once every consumer is retired, it does not wake at all.
func TestAuditWakesOnlyWhenNeeded(t *testing.T) {
	// A fake clock: the flush and idle intervals pass in no real time.
	synctest.Test(t, func(t *testing.T) {
		a := newAuditor()
		a.flush, a.idle = 50*time.Millisecond, 600*time.Millisecond
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() { a.Run(stop); close(done) }()
		defer func() { close(stop); <-done }()
		vend := a.Vend("imds")
		// No such socket (no client port is 1): nothing to look for again.
		r := vendRequest("127.0.0.1:1")
		c := imds.Credentials{AccessKeyID: "ASIAFAKE0000000001", Expires: time.Now().Add(time.Hour)}
		vend(r, "dev", c, time.Now())
		time.Sleep(300 * time.Millisecond)
		synctest.Wait()
		if n := a.flushes.Load(); n != 0 {
			t.Fatalf("%d flushes after one vend with nothing to log; want none before its retirement", n)
		}
		vend(r, "dev", c, time.Now()) // a repeat: its count is to be logged
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
		if a.flushes.Load() < 1 {
			t.Fatal("a repeat was not flushed")
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		n := 0
		a.entries.Range(func(any, any) bool { n++; return true })
		if n != 0 {
			t.Fatal("an idle consumer was not retired")
		}
		got := a.Sessions()
		if len(got) != 1 || got[0].Requests != 2 {
			t.Fatalf("sessions after retirement: %+v, want one consumer with 2 requests", got)
		}
		f := a.flushes.Load()
		time.Sleep(time.Hour)
		synctest.Wait()
		if m := a.flushes.Load(); m != f {
			t.Errorf("%d flushes in an hour with no consumer left; want none", m-f)
		}
	})
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// newAuditor is New without the docker API. A test must not depend on a
// docker daemon running on the machine, nor wait on its socket: real I/O
// holds a synctest bubble's clock still (with dockerd up, the API's idle
// keep-alive connection stopped TestAuditWakesOnlyWhenNeeded's clock
// until dockerd closed it, a minute later), and the connection would
// outlive the test.
func newAuditor() *Auditor {
	a := New(quiet)
	a.containers = &containers{client: &http.Client{Transport: noDocker{}}}
	return a
}

type noDocker struct{}

func (noDocker) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("no docker API in tests")
}
