//go:build !linux && !darwin

package daemon

import (
	"fmt"
	"net"
	"net/netip"
)

// platformLinkLocal can only look: adding addresses is not implemented on
// this platform, so a link-local listen address must already exist.
type platformLinkLocal struct{}

func addCommand(a netip.Addr) string {
	return "assign " + a.String() + " to a network interface"
}

func (platformLinkLocal) addrs() ([]localAddr, error) {
	as, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	var out []localAddr
	for _, a := range as {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap().Is4() {
				out = append(out, localAddr{Addr: ip.Unmap()})
			}
		}
	}
	return out, nil
}

func (platformLinkLocal) add(a netip.Addr) error {
	return fmt.Errorf("no interface has %s, and imdsd cannot add addresses on this platform: %s yourself, or remove it from the listen list", a, addCommand(a))
}

func (platformLinkLocal) del(netip.Addr) error { return nil }
