//go:build !linux

package hostnet

import (
	"net"
	"net/netip"
)

// interfaceAddrs lists the IPv4 addresses of all interfaces (where no
// netlink tells which imdsd added).
func interfaceAddrs() ([]localAddr, error) {
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
