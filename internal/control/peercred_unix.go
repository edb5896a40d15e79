//go:build linux || darwin

package control

import (
	"errors"
	"net"
)

// peerUID asks the kernel who is on the other end of a unix socket.
func peerUID(c net.Conn) (int, error) {
	uid, _, err := peer(c)
	return uid, err
}

// peer is the uid and, where the OS says, the pid at the other end.
func peer(c net.Conn) (uid, pid int, err error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return -1, 0, errors.New("not a unix socket")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return -1, 0, err
	}
	uid = -1
	var gerr error
	err = raw.Control(func(fd uintptr) { uid, pid, gerr = sockPeer(int(fd)) })
	if err != nil {
		return -1, 0, err
	}
	return uid, pid, gerr
}
