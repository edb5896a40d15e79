//go:build !unix

package daemon

import (
	"net"
	"testing"
)

// closedPort returns a loopback address where nothing listens (a port
// just released, which another listener could in principle be given).
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
