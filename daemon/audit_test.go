package daemon

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
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
	vend := newAuditor(quiet).vend("ecs")
	r := vendRequest("127.0.0.1:40000")
	c := imds.Credentials{AccessKeyID: "ASIAFAKE0000000001", Expires: time.Now().Add(time.Hour)}
	vend(r, "dev", c)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		vend(r, "dev", c)
	}
}

func TestVendCountsEveryRequestPerConsumer(t *testing.T) {
	a := newAuditor(quiet)
	vend := a.vend("ecs")
	c1 := imds.Credentials{AccessKeyID: "ASIAFAKE0000000001", Expires: time.Now().Add(time.Hour)}
	c2 := imds.Credentials{AccessKeyID: "ASIAFAKE0000000002", Expires: time.Now().Add(time.Hour)}
	one, two := vendRequest("127.0.0.1:40000"), vendRequest("127.0.0.1:40001")
	for range 5 {
		vend(one, "dev", c1)
	}
	vend(one, "dev", c2) // a new key on the same connection
	vend(one, "dev", c1) // and back
	for range 3 {
		vend(two, "ops", c1)
	}
	got := map[string]int64{}
	a.entries.Range(func(_, v any) bool {
		e := v.(*vendEntry)
		got[e.key.client+"/"+e.key.profile+"/"+e.key.akid] += e.count.Load()
		return true
	})
	want := map[string]int64{
		"127.0.0.1:40000/dev/ASIAFAKE0000000001": 6,
		"127.0.0.1:40000/dev/ASIAFAKE0000000002": 1,
		"127.0.0.1:40001/ops/ASIAFAKE0000000001": 3,
	}
	if len(got) != len(want) {
		t.Fatalf("consumers %v, want %v", got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: counted %d vends, want %d", k, got[k], n)
		}
	}
	if allocs := testing.AllocsPerRun(100, func() { vend(one, "dev", c1) }); allocs != 0 {
		t.Errorf("a repeat vend allocates %.0f times; want 0", allocs)
	}
}
