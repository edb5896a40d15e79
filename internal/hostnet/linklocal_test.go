package hostnet

import (
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"testing"
)

func TestLinkLocalTarget(t *testing.T) {
	assigned := []localAddr{
		{Addr: netip.MustParseAddr("127.0.0.1")},
		{Addr: netip.MustParseAddr("169.254.170.2")},
	}
	for _, tt := range []struct {
		listen string
		want   string // "" = nothing to add
	}{
		{"169.254.169.254:80", "169.254.169.254"},
		{"169.254.170.2:80", ""}, // already assigned
		{"169.254.170.23:80", "169.254.170.23"},
		{"169.254.0.1:9911", "169.254.0.1"},
		{"127.0.0.1:9911", ""},
		{"0.0.0.0:80", ""},
		{"10.0.0.1:80", ""},
		{"169.255.0.1:80", ""}, // outside 169.254/16
		{"[::1]:80", ""},
		{"[fd00:ec2::254]:80", ""}, // IPv6 is not handled
		{"[::ffff:169.254.169.254]:80", "169.254.169.254"},
		{"localhost:80", ""},
		{"garbage", ""},
	} {
		got, ok := linkLocalTarget(tt.listen, assigned)
		if tt.want == "" {
			if ok {
				t.Errorf("%s: would add %s", tt.listen, got)
			}
			continue
		}
		if !ok || got.String() != tt.want {
			t.Errorf("%s: got %v %v, want %s", tt.listen, got, ok, tt.want)
		}
	}
}

// fakeLinkLocal is a loopback interface in memory.
type fakeLinkLocal struct {
	mu      sync.Mutex
	have    map[netip.Addr]bool // address -> ours
	addErr  error
	added   []netip.Addr
	deleted []netip.Addr
}

func newFakeLinkLocal(assigned ...string) *fakeLinkLocal {
	f := &fakeLinkLocal{have: map[netip.Addr]bool{netip.MustParseAddr("127.0.0.1"): false}}
	for _, a := range assigned {
		f.have[netip.MustParseAddr(a)] = false
	}
	return f
}

func (f *fakeLinkLocal) addrs() ([]localAddr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []localAddr
	for a, ours := range f.have {
		out = append(out, localAddr{Addr: a, Ours: ours})
	}
	return out, nil
}

func (f *fakeLinkLocal) add(a netip.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.addErr != nil {
		return f.addErr
	}
	if _, ok := f.have[a]; ok {
		return errAddrExists
	}
	f.have[a] = true
	f.added = append(f.added, a)
	return nil
}

func (f *fakeLinkLocal) del(a netip.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ours, ok := f.have[a]; ok && ours {
		delete(f.have, a)
		f.deleted = append(f.deleted, a)
	}
	return nil
}

func (f *fakeLinkLocal) present(a string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.have[netip.MustParseAddr(a)]
	return ok
}

func newTestRegistry(f *fakeLinkLocal) *linkLocalAddrs {
	return &linkLocalAddrs{os: f, uses: map[netip.Addr]*linkLocalUse{}}
}

var llQuiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestLinkLocalAddsAndRemovesOnlyItsOwn(t *testing.T) {
	f := newFakeLinkLocal("169.254.170.2") // assigned by someone else
	r := newTestRegistry(f)

	relIMDS, err := r.acquire("169.254.169.254:80", llQuiet)
	if err != nil {
		t.Fatal(err)
	}
	relIMDS2, err := r.acquire("169.254.169.254:8080", llQuiet) // same address, second listener
	if err != nil {
		t.Fatal(err)
	}
	relECS, err := r.acquire("169.254.170.2:80", llQuiet)
	if err != nil {
		t.Fatal(err)
	}
	relLoop, err := r.acquire("127.0.0.1:9911", llQuiet)
	if err != nil {
		t.Fatal(err)
	}
	if want := []netip.Addr{netip.MustParseAddr("169.254.169.254")}; !reflect.DeepEqual(f.added, want) {
		t.Fatalf("added %v, want %v", f.added, want)
	}

	relIMDS(true)
	relIMDS(true) // idempotent
	if !f.present("169.254.169.254") {
		t.Fatal("removed while another listener still uses it")
	}
	relIMDS2(true)
	if f.present("169.254.169.254") {
		t.Fatal("not removed when its last listener closed")
	}
	relECS(true)
	relLoop(true)
	if !f.present("169.254.170.2") {
		t.Fatal("removed an address imdsd did not add")
	}
	if len(f.deleted) != 1 {
		t.Fatalf("deleted %v", f.deleted)
	}

	// Again from scratch: a reload or restart adds it again.
	rel, err := r.acquire("169.254.169.254:80", llQuiet)
	if err != nil {
		t.Fatal(err)
	}
	rel(true)
	if len(f.added) != 2 || f.present("169.254.169.254") {
		t.Fatalf("second cycle: added %v, present %v", f.added, f.present("169.254.169.254"))
	}
}

func TestLinkLocalBindFailureRemovesWhatItAdded(t *testing.T) {
	f := newFakeLinkLocal()
	r := newTestRegistry(f)
	rel, err := r.acquire("169.254.169.254:80", llQuiet)
	if err != nil {
		t.Fatal(err)
	}
	rel(false)
	if f.present("169.254.169.254") {
		t.Fatal("address left after a failed bind")
	}
}

func TestLinkLocalAdoptsLeftovers(t *testing.T) {
	// An earlier imdsd was killed and left its (labelled) address.
	f := newFakeLinkLocal()
	f.have[netip.MustParseAddr("169.254.169.254")] = true
	r := newTestRegistry(f)

	// A bind failure (another imdsd serving?) leaves it alone.
	rel, err := r.acquire("169.254.169.254:80", llQuiet)
	if err != nil {
		t.Fatal(err)
	}
	rel(false)
	if !f.present("169.254.169.254") {
		t.Fatal("removed an adopted address after a failed bind")
	}
	// A listener that served removes it at the end.
	rel, err = r.acquire("169.254.169.254:80", llQuiet)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.added) != 0 {
		t.Fatal("re-added an existing address")
	}
	rel(true)
	if f.present("169.254.169.254") {
		t.Fatal("leftover not removed")
	}

	// Two listeners on an adopted address: one served, the other's bind
	// failed last. It served here, so it goes.
	f.have[netip.MustParseAddr("169.254.169.254")] = true
	relA, _ := r.acquire("169.254.169.254:80", llQuiet)
	relB, _ := r.acquire("169.254.169.254:81", llQuiet)
	relA(true)
	relB(false)
	if f.present("169.254.169.254") {
		t.Fatal("adopted address that served not removed")
	}
}

func TestLinkLocalAddError(t *testing.T) {
	f := newFakeLinkLocal()
	f.addErr = errors.New("operation not permitted: needs CAP_NET_ADMIN")
	r := newTestRegistry(f)
	if _, err := r.acquire("169.254.169.254:80", llQuiet); err == nil || err != f.addErr {
		t.Fatalf("err = %v", err)
	}
	if len(r.uses) != 0 {
		t.Fatal("failed acquire left a use behind")
	}
	// Someone else adding it concurrently is fine, and theirs.
	f.addErr = errAddrExists
	rel, err := r.acquire("169.254.169.254:80", llQuiet)
	if err != nil {
		t.Fatal(err)
	}
	f.addErr = nil
	rel(true)
	if len(f.deleted) != 0 {
		t.Fatal("removed an address someone else added")
	}
}

func TestSweepLinkLocal(t *testing.T) {
	f := newFakeLinkLocal("169.254.170.2")
	f.have[netip.MustParseAddr("169.254.169.254")] = true
	gone, err := sweepLinkLocal(f)
	if err != nil {
		t.Fatal(err)
	}
	if want := []netip.Addr{netip.MustParseAddr("169.254.169.254")}; !reflect.DeepEqual(gone, want) {
		t.Fatalf("swept %v", gone)
	}
	if !f.present("169.254.170.2") || !f.present("127.0.0.1") {
		t.Fatal("swept an address that is not imdsd's")
	}
}

func TestPermissionHint(t *testing.T) {
	h := permissionHint(netip.MustParseAddr("169.254.169.254"), "CAP_NET_ADMIN")
	for _, want := range []string{"CAP_NET_ADMIN", "imdsd service install", addCommand(netip.MustParseAddr("169.254.169.254"))} {
		if !strings.Contains(h, want) {
			t.Errorf("hint %q lacks %q", h, want)
		}
	}
}
