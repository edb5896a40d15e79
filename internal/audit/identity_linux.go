package audit

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// socketOf finds the owner of a local TCP client's end of a connection: its
// uid, and the inode that leads to its process (see socketProcesses).
// Clients from other hosts or containers have no socket here: uid -1.
func socketOf(client, listener string) (uid int, inode string) {
	c, err1 := netip.ParseAddrPort(client)
	l, err2 := netip.ParseAddrPort(listener)
	if err1 != nil || err2 != nil {
		return -1, ""
	}
	c = netip.AddrPortFrom(c.Addr().Unmap(), c.Port())
	l = netip.AddrPortFrom(l.Addr().Unmap(), l.Port())
	if uid, inode, ok := diag.lookup(c, l); ok {
		return uid, inode
	}
	// sock_diag unavailable (old kernel, seccomp): the socket tables.
	uid = -1
	if c.Addr().Is4() && l.Addr().Is4() {
		uid, inode = socketOwner("/proc/net/tcp", procAddr(c, false), procAddr(l, false))
	}
	if uid < 0 { // IPv6, or IPv4 through a dual-stack socket (mapped form)
		uid, inode = socketOwner("/proc/net/tcp6", procAddr(c, true), procAddr(l, true))
	}
	return uid, inode
}

// diag asks the kernel for exactly one socket over NETLINK_SOCK_DIAG,
// whose cost does not grow with the number of sockets (a machine under
// load has thousands in TIME_WAIT, all in /proc/net/tcp).
var diag sockDiag

type sockDiag struct {
	mu     sync.Mutex
	fd     int
	opened bool
	broken bool
}

const (
	sockDiagByFamily = 20 // SOCK_DIAG_BY_FAMILY
	inetDiagReqLen   = 56 // struct inet_diag_req_v2
	inetDiagMsgLen   = 72 // struct inet_diag_msg
)

func (d *sockDiag) lookup(client, server netip.AddrPort) (uid int, inode string, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.broken {
		return -1, "", false
	}
	if !d.opened {
		fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
		if err != nil {
			d.broken = true
			return -1, "", false
		}
		tv := unix.Timeval{Usec: 200000}
		_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		d.fd, d.opened = fd, true
	}
	// Both families: an IPv4 client of a dual-stack listener is an
	// AF_INET6 socket with mapped addresses.
	families := []uint8{unix.AF_INET6}
	if client.Addr().Is4() && server.Addr().Is4() {
		families = []uint8{unix.AF_INET, unix.AF_INET6}
	}
	for _, fam := range families {
		uid, inode, found, err := d.query(fam, client, server)
		if err != nil {
			unix.Close(d.fd)
			d.opened = false
			return -1, "", false
		}
		if found {
			return uid, inode, true
		}
	}
	return -1, "", true // answered: no such local socket
}

func (d *sockDiag) query(fam uint8, client, server netip.AddrPort) (uid int, inode string, found bool, err error) {
	req := make([]byte, unix.NLMSG_HDRLEN+inetDiagReqLen)
	ne := binary.NativeEndian
	ne.PutUint32(req[0:], uint32(len(req)))
	ne.PutUint16(req[4:], sockDiagByFamily)
	ne.PutUint16(req[6:], unix.NLM_F_REQUEST)
	b := req[unix.NLMSG_HDRLEN:]
	b[0], b[1] = fam, unix.IPPROTO_TCP
	ne.PutUint32(b[4:], 0xffffffff) // any state
	id := b[8:]
	// The client's end: its local address is the client, remote the server.
	binary.BigEndian.PutUint16(id[0:], client.Port())
	binary.BigEndian.PutUint16(id[2:], server.Port())
	putAddr(id[4:20], client.Addr(), fam)
	putAddr(id[20:36], server.Addr(), fam)
	ne.PutUint32(id[40:], 0xffffffff) // INET_DIAG_NOCOOKIE
	ne.PutUint32(id[44:], 0xffffffff)
	if err := unix.Sendto(d.fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return -1, "", false, err
	}
	buf := make([]byte, 8192)
	n, _, err := unix.Recvfrom(d.fd, buf, 0)
	if err != nil {
		return -1, "", false, err
	}
	msgs, err := syscall.ParseNetlinkMessage(buf[:n])
	if err != nil {
		return -1, "", false, err
	}
	for _, m := range msgs {
		switch m.Header.Type {
		case unix.NLMSG_ERROR:
			return -1, "", false, nil // ENOENT: not a local socket
		case sockDiagByFamily:
			if len(m.Data) < inetDiagMsgLen {
				return -1, "", false, fmt.Errorf("short inet_diag_msg")
			}
			return int(ne.Uint32(m.Data[64:])), strconv.FormatUint(uint64(ne.Uint32(m.Data[68:])), 10), true, nil
		}
	}
	return -1, "", false, nil
}

func putAddr(dst []byte, a netip.Addr, fam uint8) {
	if fam == unix.AF_INET {
		v := a.As4()
		copy(dst, v[:])
		return
	}
	v := a.As16() // IPv4 in its mapped form
	copy(dst, v[:])
}

// socketOwner scans a socket table for the entry whose local end is the
// client and remote end the listener.
func socketOwner(file, wantL, wantR string) (int, string) {
	f, err := os.Open(file)
	if err != nil {
		return -1, ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 || fields[1] != wantL || fields[2] != wantR {
			continue
		}
		uid, err := strconv.Atoi(fields[7])
		if err != nil {
			return -1, ""
		}
		return uid, fields[9]
	}
	return -1, ""
}

// procAddr renders an address as /proc/net/tcp does: each 32-bit word of
// the address in host (little-endian) byte order, then the port in hex.
func procAddr(ap netip.AddrPort, v6 bool) string {
	var b []byte
	if v6 {
		v := ap.Addr().As16() // v4 addresses in their mapped form
		b = v[:]
	} else {
		v := ap.Addr().As4()
		b = v[:]
	}
	out := make([]byte, len(b))
	for i := 0; i < len(b); i += 4 {
		out[i], out[i+1], out[i+2], out[i+3] = b[i+3], b[i+2], b[i+1], b[i]
	}
	return strings.ToUpper(hex.EncodeToString(out)) + ":" + fmt.Sprintf("%04X", ap.Port())
}

// socketProcesses maps every socket inode to the process holding it, in
// one walk of /proc/*/fd. It sees the processes this daemon may inspect
// (its own user's, or all as root).
func socketProcesses() map[string]procInfo {
	out := map[string]procInfo{}
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		pid, err := strconv.Atoi(filepath.Base(p))
		if err != nil {
			continue
		}
		fds, err := os.ReadDir(p + "/fd")
		if err != nil {
			continue
		}
		comm := ""
		for _, fd := range fds {
			l, err := os.Readlink(p + "/fd/" + fd.Name())
			if err != nil || !strings.HasPrefix(l, "socket:[") {
				continue
			}
			if comm == "" {
				c, _ := os.ReadFile(p + "/comm")
				comm = strings.TrimSpace(string(c))
			}
			out[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = procInfo{pid: pid, comm: comm}
		}
	}
	return out
}
