package hostnet

import (
	"net"
	"net/netip"
	"slices"
	"strings"
)

// DockerBridges lists the networks of the local docker bridges (docker0
// and the br-* of user-defined networks): their containers reach the
// host's link-local metadata addresses through their default route.
// Link-local prefixes are left out: fe80::/64 exists on every link, so it
// would admit neighbours on the LAN too.
func DockerBridges() []netip.Prefix {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var out []netip.Prefix
	for _, ifc := range ifs {
		if ifc.Name != "docker0" && !strings.HasPrefix(ifc.Name, "br-") {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			p, err := netip.ParsePrefix(a.String())
			if err != nil || p.Addr().IsLinkLocalUnicast() || p.Addr().IsLoopback() {
				continue
			}
			out = append(out, p.Masked())
		}
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int { return strings.Compare(a.String(), b.String()) })
	return slices.Compact(out)
}
