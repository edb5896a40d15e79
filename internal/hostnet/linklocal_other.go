//go:build !linux && !darwin

package hostnet

import (
	"fmt"
	"net/netip"
)

// platformLinkLocal can only look: adding addresses is not implemented on
// this platform, so a link-local listen address must already exist.
type platformLinkLocal struct{}

func addCommand(a netip.Addr) string {
	return "assign " + a.String() + " to a network interface"
}

func (platformLinkLocal) addrs() ([]localAddr, error) { return interfaceAddrs() }

func (platformLinkLocal) add(a netip.Addr) error {
	return fmt.Errorf("no interface has %s, and imdsd cannot add addresses on this platform: %s yourself, or remove it from the listen list", a, addCommand(a))
}

func (platformLinkLocal) del(netip.Addr) error { return nil }
