package audit

import (
	"net"
	"net/netip"
	"os"
	"testing"
)

// The netlink lookup names this process's own client socket, and agrees
// with the kernel's socket table.
func TestSocketOfFindsLocalClient(t *testing.T) {
	for _, network := range []string{"tcp4", "tcp6"} {
		addr := "127.0.0.1:0"
		if network == "tcp6" {
			addr = "[::1]:0"
		}
		ln, err := net.Listen(network, addr)
		if err != nil {
			t.Skipf("%s: %v", network, err)
		}
		defer ln.Close()
		c, err := net.Dial(network, ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		client, server := c.LocalAddr().String(), ln.Addr().String()
		uid, inode := socketOf(client, server)
		if uid != os.Getuid() || inode == "" || inode == "0" {
			t.Fatalf("%s: socketOf = %d, %q; want uid %d and an inode", network, uid, inode, os.Getuid())
		}
		if diag.broken {
			t.Fatal("sock_diag unavailable; the answer came from /proc")
		}
		cp, sp := netip.MustParseAddrPort(client), netip.MustParseAddrPort(server)
		file, v6 := "/proc/net/tcp", false
		if network == "tcp6" {
			file, v6 = "/proc/net/tcp6", true
		}
		if puid, pinode := socketOwner(file, procAddr(cp, v6), procAddr(sp, v6)); puid != uid || pinode != inode {
			t.Fatalf("%s: /proc says %d %s, netlink %d %s", network, puid, pinode, uid, inode)
		}
		if pid, _ := (&procIndex{}).lookup(inode); pid != os.Getpid() {
			t.Fatalf("%s: process of the socket: %d, want %d", network, pid, os.Getpid())
		}
		// A remote-looking client has no local socket.
		if uid, _ := socketOf("10.1.2.3:4000", server); uid != -1 {
			t.Fatalf("unknown client got uid %d", uid)
		}
	}
}
