//go:build linux

package hostnet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestNetlinkMessageRoundTrip(t *testing.T) {
	a := netip.MustParseAddr("169.254.169.254")
	req := netlinkMessage(unix.RTM_NEWADDR, unix.NLM_F_REQUEST|unix.NLM_F_ACK, 7, append(ifAddrMsg(1, unix.RT_SCOPE_HOST), addrAttrs(a, linkLocalLabel)...))
	if got := binary.NativeEndian.Uint32(req); int(got) != len(req) {
		t.Fatalf("length field %d, message %d bytes", got, len(req))
	}
	if len(req)%4 != 0 {
		t.Fatalf("message not aligned: %d bytes", len(req))
	}
	msgs, err := parseNetlink(req)
	if err != nil || len(msgs) != 1 || msgs[0].typ != unix.RTM_NEWADDR || msgs[0].seq != 7 {
		t.Fatalf("parse: %+v %v", msgs, err)
	}
	if d := msgs[0].data; d[0] != unix.AF_INET || d[1] != 32 || d[3] != unix.RT_SCOPE_HOST || binary.NativeEndian.Uint32(d[4:]) != 1 {
		t.Fatalf("ifaddrmsg = % x", d[:8])
	}
	// The kernel answers a dump with the same layout.
	got := parseAddrDump(msgs)
	if len(got) != 1 || got[0].Addr != a || !got[0].Ours {
		t.Fatalf("dump parse = %+v", got)
	}
	// Two messages in one datagram, and a foreign label.
	other := netlinkMessage(unix.RTM_NEWADDR, 0, 7, append(ifAddrMsg(1, 0), addrAttrs(netip.MustParseAddr("169.254.170.2"), "lo")...))
	msgs, err = parseNetlink(append(append([]byte(nil), req...), other...))
	if err != nil || len(msgs) != 2 {
		t.Fatalf("parse two: %v %v", len(msgs), err)
	}
	got = parseAddrDump(msgs)
	if len(got) != 2 || got[1].Ours {
		t.Fatalf("dump parse = %+v", got)
	}
	if _, err := parseNetlink(req[:20]); err == nil {
		t.Fatal("truncated message accepted")
	}
}

func TestNetlinkAckError(t *testing.T) {
	ack := make([]byte, unix.SizeofNlMsgerr)
	if err := netlinkAckError(ack); err != nil {
		t.Fatalf("success ack: %v", err)
	}
	minusEPERM := -int32(unix.EPERM)
	binary.NativeEndian.PutUint32(ack, uint32(minusEPERM))
	if err := netlinkAckError(ack); !errors.Is(err, unix.EPERM) {
		t.Fatalf("got %v, want EPERM", err)
	}
}

// Listing needs no privilege.
func TestNetlinkListsAddresses(t *testing.T) {
	addrs, err := platformLinkLocal{}.addrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if a.Addr == netip.MustParseAddr("127.0.0.1") {
			return
		}
	}
	t.Fatalf("127.0.0.1 not among %v", addrs)
}

const netnsChildEnv = "IMDSD_TEST_NETNS_CHILD"

// runInNamespace runs this test again in a child process with new
// namespaces, so address changes never touch this machine's interfaces.
func runInNamespace(t *testing.T, mode string, flags uintptr) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), netnsChildEnv+"="+mode)
	attr := &syscall.SysProcAttr{Cloneflags: flags}
	if flags&syscall.CLONE_NEWUSER != 0 {
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}}
	}
	cmd.SysProcAttr = attr
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("child timed out:\n%s", out)
	}
	if err != nil && (cmd.ProcessState == nil || errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EINVAL)) {
		t.Skipf("cannot create namespaces here: %v", err)
	}
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("in namespace: %v\n%s", err, out)
	}
}

func TestNetlinkAddRemoveInNetns(t *testing.T) {
	if os.Getenv(netnsChildEnv) == "netns" {
		netnsChild(t)
		return
	}
	flags := uintptr(syscall.CLONE_NEWNET)
	if os.Geteuid() != 0 {
		flags |= syscall.CLONE_NEWUSER
	}
	runInNamespace(t, "netns", flags)
}

func netnsChild(t *testing.T) {
	setLinkUp(t, "lo")
	sys := platformLinkLocal{}
	imdsAddr := netip.MustParseAddr("169.254.169.254")
	ecsAddr := netip.MustParseAddr("169.254.170.2")

	// add, list (marked as ours), add again, delete, delete again.
	if err := sys.add(imdsAddr); err != nil {
		t.Fatal(err)
	}
	if ours, ok := lookupAddr(t, imdsAddr); !ok || !ours {
		t.Fatalf("after add: present %v, ours %v", ok, ours)
	}
	if err := sys.add(imdsAddr); !errors.Is(err, errAddrExists) {
		t.Fatalf("second add: %v", err)
	}
	if err := sys.del(imdsAddr); err != nil {
		t.Fatal(err)
	}
	if _, ok := lookupAddr(t, imdsAddr); ok {
		t.Fatal("still present after del")
	}
	if err := sys.del(imdsAddr); err != nil {
		t.Fatalf("del of an absent address: %v", err)
	}

	// An address someone else added (no imdsd label) survives del.
	lo, _ := loopbackIndex()
	if _, err := netlinkRequest(unix.RTM_NEWADDR, unix.NLM_F_CREATE|unix.NLM_F_EXCL|unix.NLM_F_ACK, ifAddrMsg(lo, unix.RT_SCOPE_HOST), addrAttrs(ecsAddr, "lo")); err != nil {
		t.Fatal(err)
	}
	if err := sys.del(ecsAddr); err != nil {
		t.Fatal(err)
	}
	if ours, ok := lookupAddr(t, ecsAddr); !ok || ours {
		t.Fatalf("foreign address: present %v, ours %v", ok, ours)
	}

	// The real path: a listener on the metadata address adds it, serves
	// on port 80, and takes it away when it closes. The other one, not
	// ours, stays.
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	serve := func(addr string) func() {
		release, err := AcquireLinkLocal(addr, llQuiet)
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			release(false)
			t.Fatal(err)
		}
		srv := &http.Server{Handler: h}
		go srv.Serve(ln)
		return func() { srv.Close(); release(true) }
	}
	close1 := serve("169.254.169.254:80")
	close2 := serve("169.254.170.2:80")
	for _, u := range []string{"http://169.254.169.254/", "http://169.254.170.2/"} {
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(u)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "ok" {
			t.Fatalf("%s: %q", u, body)
		}
	}
	close1()
	close2()
	if _, ok := lookupAddr(t, imdsAddr); ok {
		t.Fatal("169.254.169.254 left after the listener closed")
	}
	if _, ok := lookupAddr(t, ecsAddr); !ok {
		t.Fatal("removed 169.254.170.2, which imdsd did not add")
	}

	// A leftover from a killed imdsd is swept.
	if err := sys.add(imdsAddr); err != nil {
		t.Fatal(err)
	}
	gone, err := sweepLinkLocal(sys)
	if err != nil || len(gone) != 1 || gone[0] != imdsAddr {
		t.Fatalf("sweep: %v %v", gone, err)
	}
}

// Without CAP_NET_ADMIN over the network namespace (here: a child in a
// new user namespace, looking at this machine's namespace), adding fails
// with the explanation, and nothing changes.
func TestNetlinkPermissionError(t *testing.T) {
	if os.Getenv(netnsChildEnv) == "userns" {
		err := platformLinkLocal{}.add(netip.MustParseAddr("169.254.169.254"))
		if !errors.Is(err, unix.EPERM) {
			t.Fatalf("got %v, want EPERM", err)
		}
		for _, want := range []string{"CAP_NET_ADMIN", "sudo ip addr add 169.254.169.254/32 dev lo", "imdsd service install"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q lacks %q", err, want)
			}
		}
		if _, err = AcquireLinkLocal("169.254.169.254:80", llQuiet); err == nil || !strings.Contains(err.Error(), "CAP_NET_ADMIN") {
			t.Fatalf("acquire: %v, want the permission explained", err)
		}
		return
	}
	if os.Geteuid() != 0 {
		// Unprivileged already: the plain call must fail the same way,
		// unless the address exists here.
		if _, ok := lookupAddr(t, netip.MustParseAddr("169.254.169.254")); ok {
			t.Skip("169.254.169.254 is assigned on this machine")
		}
		err := platformLinkLocal{}.add(netip.MustParseAddr("169.254.169.254"))
		if !errors.Is(err, unix.EPERM) {
			t.Fatalf("got %v, want EPERM", err)
		}
		return
	}
	runInNamespace(t, "userns", syscall.CLONE_NEWUSER)
}

func lookupAddr(t *testing.T, a netip.Addr) (ours, ok bool) {
	t.Helper()
	addrs, err := platformLinkLocal{}.addrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range addrs {
		if l.Addr == a {
			return l.Ours, true
		}
	}
	return false, false
}

// setLinkUp brings an interface up: a new namespace's lo starts down.
func setLinkUp(t *testing.T, name string) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		t.Fatal(fmt.Errorf("SIOCGIFFLAGS: %w", err))
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		t.Fatal(fmt.Errorf("SIOCSIFFLAGS: %w", err))
	}
	if _, err := net.InterfaceByName(name); err != nil {
		t.Fatal(err)
	}
}
