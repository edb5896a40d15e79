//go:build linux

package hostnet

import (
	"context"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// LinkChanges reports, coalesced, that a network interface or address
// came, went or changed: the kernel multicasts rtnetlink link and address
// events to subscribers, which needs no privilege. The channel is closed
// when ctx ends or the socket fails. An idle machine sends nothing, so an
// idle daemon does nothing (a poll every few seconds allocated ~60 KB/s
// of netlink buffers and woke the process for nothing).
func LinkChanges(ctx context.Context) (<-chan struct{}, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	groups := uint32(unix.RTMGRP_LINK | unix.RTMGRP_IPV4_IFADDR | unix.RTMGRP_IPV6_IFADDR)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: groups}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netlink subscribe: %w", err)
	}
	// Non-blocking, so reads wait in the runtime's poller and Close ends
	// them, instead of a thread parked in recvfrom.
	f := os.NewFile(uintptr(fd), "rtnetlink")
	ch := make(chan struct{}, 1)
	go func() {
		<-ctx.Done()
		f.Close()
	}()
	go func() {
		defer close(ch)
		// Only that something changed matters, not what: the scan reads
		// the current state. A burst beyond the socket buffer is
		// ENOBUFS, which means the same.
		buf := make([]byte, 8192)
		for {
			_, err := f.Read(buf)
			if err != nil && !errors.Is(err, unix.ENOBUFS) {
				return
			}
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}()
	return ch, nil
}
