//go:build !linux && !darwin

package control

import "net"

// peerUID: no portable peer credentials here; the socket's file mode is
// the guard. -1 means unknown.
func peerUID(net.Conn) (int, error) { return -1, nil }

func peer(net.Conn) (uid, pid int, err error) { return -1, 0, nil }
