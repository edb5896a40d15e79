//go:build darwin

package hostnet

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
)

// platformLinkLocal manages lo0 aliases with ifconfig(8), which needs root.
// macOS has no address labels, so only the addresses this process added
// are removed.
type platformLinkLocal struct{}

func addCommand(a netip.Addr) string {
	return "sudo ifconfig lo0 alias " + a.String() + "/32"
}

func (platformLinkLocal) addrs() ([]localAddr, error) { return interfaceAddrs() }

func (platformLinkLocal) add(a netip.Addr) error {
	if os.Geteuid() != 0 {
		return errors.New(permissionHint(a, "root"))
	}
	if err := ifconfig("lo0", "alias", a.String()+"/32"); err != nil {
		return fmt.Errorf("cannot add %s/32 to lo0: %w", a, err)
	}
	return nil
}

func (platformLinkLocal) del(a netip.Addr) error {
	have, err := interfaceAddrs()
	if err == nil && !hasAddr(have, a) {
		return nil // already gone
	}
	if err := ifconfig("lo0", "-alias", a.String()); err != nil {
		return fmt.Errorf("cannot remove %s from lo0: %w; remove it yourself: sudo ifconfig lo0 -alias %s", a, err, a)
	}
	return nil
}

func ifconfig(args ...string) error {
	var stderr bytes.Buffer
	cmd := exec.Command("/sbin/ifconfig", args...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return fmt.Errorf("%w: %s", err, msg)
		}
		return err
	}
	return nil
}

func hasAddr(have []localAddr, a netip.Addr) bool {
	for _, l := range have {
		if l.Addr == a {
			return true
		}
	}
	return false
}
