//go:build unix

package daemon

import (
	"strconv"
	"syscall"
	"testing"
)

// closedPort returns a loopback address where nothing listens and nothing
// will while the test runs: a socket holds the port bound without
// listening, so a dial is refused at once and no parallel test's
// listener can be handed the port (as it could after a listen and close).
func closedPort(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return "127.0.0.1:" + strconv.Itoa(sa.(*syscall.SockaddrInet4).Port)
}
