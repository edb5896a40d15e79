//go:build linux || darwin

package control

import (
	"errors"
	"net"
)

// peerUID asks the kernel who is on the other end of a unix socket.
func peerUID(c net.Conn) (int, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return -1, errors.New("not a unix socket")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return -1, err
	}
	uid := -1
	var gerr error
	err = raw.Control(func(fd uintptr) { uid, gerr = sockPeerUID(int(fd)) })
	if err != nil {
		return -1, err
	}
	return uid, gerr
}
