package daemon

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// socketOf finds the owner of a local TCP client's end of a connection in
// the kernel's socket table (/proc/net/tcp{,6}): its uid, and the inode
// that leads to the process (processOf). Clients from other hosts or
// containers are not in the table: uid -1.
func socketOf(client, listener string) (uid int, inode string) {
	c, err1 := netip.ParseAddrPort(client)
	l, err2 := netip.ParseAddrPort(listener)
	if err1 != nil || err2 != nil {
		return -1, ""
	}
	c = netip.AddrPortFrom(c.Addr().Unmap(), c.Port())
	l = netip.AddrPortFrom(l.Addr().Unmap(), l.Port())
	uid = -1
	if c.Addr().Is4() && l.Addr().Is4() {
		uid, inode = socketOwner("/proc/net/tcp", procAddr(c, false), procAddr(l, false))
	}
	if uid < 0 { // IPv6, or IPv4 through a dual-stack socket (mapped form)
		uid, inode = socketOwner("/proc/net/tcp6", procAddr(c, true), procAddr(l, true))
	}
	return uid, inode
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
		if len(fields) < 10 || fields[1] != wantL {
			continue
		}
		if fields[2] != wantR {
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

// processOf finds the process holding a socket inode. It reads only
// processes this daemon may inspect (its own user's, or all as root).
func processOf(inode string) (int, string) {
	target := "socket:[" + inode + "]"
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
		for _, fd := range fds {
			if l, err := os.Readlink(p + "/fd/" + fd.Name()); err == nil && l == target {
				comm, _ := os.ReadFile(p + "/comm")
				return pid, strings.TrimSpace(string(comm))
			}
		}
	}
	return 0, ""
}
