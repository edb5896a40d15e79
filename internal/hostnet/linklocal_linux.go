//go:build linux

package hostnet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// platformLinkLocal manages loopback addresses with rtnetlink
// (RTM_NEWADDR / RTM_DELADDR on "lo"), which needs CAP_NET_ADMIN for
// changes and nothing for listing.
type platformLinkLocal struct{}

// linkLocalLabel marks the addresses imdsd added ("ip addr" shows it), so
// a daemon restarted after a crash recognises, and later removes, the ones
// its predecessor left, and `imdsd service uninstall` can sweep them.
// IPv4 labels must start with the interface name.
const linkLocalLabel = "lo:imdsd"

func addCommand(a netip.Addr) string {
	return "sudo ip addr add " + a.String() + "/32 dev lo"
}

func (platformLinkLocal) addrs() ([]localAddr, error) {
	msgs, err := netlinkRequest(unix.RTM_GETADDR, unix.NLM_F_DUMP, ifAddrMsg(0, 0), nil)
	if err != nil {
		return nil, fmt.Errorf("netlink: listing addresses: %w", err)
	}
	return parseAddrDump(msgs), nil
}

func (platformLinkLocal) add(a netip.Addr) error {
	lo, err := loopbackIndex()
	if err != nil {
		return err
	}
	_, err = netlinkRequest(unix.RTM_NEWADDR, unix.NLM_F_CREATE|unix.NLM_F_EXCL|unix.NLM_F_ACK, ifAddrMsg(lo, unix.RT_SCOPE_HOST), addrAttrs(a, linkLocalLabel))
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EEXIST):
		return errAddrExists
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return fmt.Errorf("%w: %s", err, permissionHint(a, "CAP_NET_ADMIN"))
	}
	return fmt.Errorf("cannot add %s/32 to the loopback interface: %w", a, err)
}

func (platformLinkLocal) del(a netip.Addr) error {
	lo, err := loopbackIndex()
	if err != nil {
		return err
	}
	// The label is part of the match, so only an address imdsd added can
	// be removed, whatever the caller believes.
	_, err = netlinkRequest(unix.RTM_DELADDR, unix.NLM_F_ACK, ifAddrMsg(lo, 0), addrAttrs(a, linkLocalLabel))
	switch {
	case err == nil, errors.Is(err, unix.EADDRNOTAVAIL), errors.Is(err, unix.ENODEV):
		return nil // already gone
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return fmt.Errorf("cannot remove %s/32 from the loopback interface: %w: needs CAP_NET_ADMIN; remove it yourself: sudo ip addr del %s/32 dev lo", a, err, a)
	}
	return fmt.Errorf("cannot remove %s/32 from the loopback interface: %w", a, err)
}

func loopbackIndex() (int, error) {
	ifi, err := net.InterfaceByName("lo")
	if err != nil {
		return 0, fmt.Errorf("no loopback interface \"lo\": %w", err)
	}
	return ifi.Index, nil
}

// ifAddrMsg is a struct ifaddrmsg for AF_INET /32 addresses.
func ifAddrMsg(index int, scope uint8) []byte {
	b := make([]byte, unix.SizeofIfAddrmsg)
	b[0] = unix.AF_INET
	if index != 0 {
		b[1] = 32 // prefix length
	}
	b[3] = scope
	binary.NativeEndian.PutUint32(b[4:], uint32(index))
	return b
}

// addrAttrs are the attributes naming a/32 with a label.
func addrAttrs(a netip.Addr, label string) []byte {
	ip := a.As4()
	var b []byte
	b = appendAttr(b, unix.IFA_LOCAL, ip[:])
	b = appendAttr(b, unix.IFA_ADDRESS, ip[:])
	return appendAttr(b, unix.IFA_LABEL, append([]byte(label), 0))
}

func appendAttr(b []byte, typ uint16, data []byte) []byte {
	var h [unix.SizeofRtAttr]byte
	binary.NativeEndian.PutUint16(h[0:], uint16(unix.SizeofRtAttr+len(data)))
	binary.NativeEndian.PutUint16(h[2:], typ)
	b = append(append(b, h[:]...), data...)
	for len(b)%unix.NLMSG_ALIGNTO != 0 {
		b = append(b, 0)
	}
	return b
}

var netlinkSeq atomic.Uint32

// netlinkMsg is one message of a netlink answer.
type netlinkMsg struct {
	typ  uint16
	seq  uint32
	data []byte
}

// netlinkRequest sends one rtnetlink request and collects the answer: the
// messages of a dump, or the acknowledgement, whose error it returns.
func netlinkRequest(typ uint16, flags uint16, hdr, attrs []byte) ([]netlinkMsg, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	defer unix.Close(fd)
	// A kernel that never answers must not hang a start or a shutdown.
	tv := unix.Timeval{Sec: 5}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("netlink bind: %w", err)
	}
	seq := netlinkSeq.Add(1)
	req := netlinkMessage(typ, unix.NLM_F_REQUEST|flags, seq, append(append([]byte(nil), hdr...), attrs...))
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("netlink send: %w", err)
	}
	var out []netlinkMsg
	buf := make([]byte, 1<<16)
	for {
		n, from, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return nil, fmt.Errorf("netlink receive: %w", err)
		}
		if sa, ok := from.(*unix.SockaddrNetlink); !ok || sa.Pid != 0 {
			continue // only the kernel answers
		}
		// Messages point into what they were parsed from, and a dump
		// spans several datagrams: keep each its own copy.
		msgs, err := parseNetlink(append([]byte(nil), buf[:n]...))
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			if m.seq != seq {
				continue
			}
			switch m.typ {
			case unix.NLMSG_DONE:
				return out, nil
			case unix.NLMSG_ERROR:
				return out, netlinkAckError(m.data)
			default:
				out = append(out, m)
			}
		}
	}
}

func netlinkMessage(typ, flags uint16, seq uint32, payload []byte) []byte {
	b := make([]byte, unix.SizeofNlMsghdr, unix.SizeofNlMsghdr+len(payload))
	binary.NativeEndian.PutUint32(b[0:], uint32(unix.SizeofNlMsghdr+len(payload)))
	binary.NativeEndian.PutUint16(b[4:], typ)
	binary.NativeEndian.PutUint16(b[6:], flags)
	binary.NativeEndian.PutUint32(b[8:], seq)
	// b[12:16], the port id, stays 0: the kernel fills it in.
	return append(b, payload...)
}

// parseNetlink splits a datagram into messages.
func parseNetlink(b []byte) ([]netlinkMsg, error) {
	var out []netlinkMsg
	for len(b) >= unix.SizeofNlMsghdr {
		l := int(binary.NativeEndian.Uint32(b[0:]))
		if l < unix.SizeofNlMsghdr || l > len(b) {
			return nil, fmt.Errorf("netlink: malformed message (length %d of %d bytes)", l, len(b))
		}
		out = append(out, netlinkMsg{
			typ:  binary.NativeEndian.Uint16(b[4:]),
			seq:  binary.NativeEndian.Uint32(b[8:]),
			data: b[unix.SizeofNlMsghdr:l],
		})
		l = nlAlign(l)
		if l > len(b) {
			break
		}
		b = b[l:]
	}
	return out, nil
}

// netlinkAckError reads a struct nlmsgerr: errno 0 is the success ack.
func netlinkAckError(data []byte) error {
	if len(data) < 4 {
		return errors.New("netlink: short error message")
	}
	if e := int32(binary.NativeEndian.Uint32(data)); e != 0 {
		return unix.Errno(-e)
	}
	return nil
}

// parseAddrDump reads the IPv4 addresses out of an RTM_GETADDR dump.
func parseAddrDump(msgs []netlinkMsg) []localAddr {
	var out []localAddr
	for _, m := range msgs {
		if m.typ != unix.RTM_NEWADDR || len(m.data) < unix.SizeofIfAddrmsg || m.data[0] != unix.AF_INET {
			continue
		}
		var local, addr netip.Addr
		var label string
		for b := m.data[unix.SizeofIfAddrmsg:]; len(b) >= unix.SizeofRtAttr; {
			l := int(binary.NativeEndian.Uint16(b[0:]))
			if l < unix.SizeofRtAttr || l > len(b) {
				break
			}
			v := b[unix.SizeofRtAttr:l]
			switch binary.NativeEndian.Uint16(b[2:]) {
			case unix.IFA_LOCAL:
				local, _ = netip.AddrFromSlice(v)
			case unix.IFA_ADDRESS:
				addr, _ = netip.AddrFromSlice(v)
			case unix.IFA_LABEL:
				label = string(trimNUL(v))
			}
			if l = nlAlign(l); l > len(b) {
				break
			}
			b = b[l:]
		}
		// IFA_ADDRESS is the peer on point-to-point links; IFA_LOCAL,
		// when present, is always this machine's.
		if local.IsValid() {
			addr = local
		}
		if addr.IsValid() {
			out = append(out, localAddr{Addr: addr.Unmap(), Ours: label == linkLocalLabel})
		}
	}
	return out
}

func nlAlign(n int) int { return (n + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1) }

func trimNUL(b []byte) []byte {
	for i, c := range b {
		if c == 0 {
			return b[:i]
		}
	}
	return b
}
