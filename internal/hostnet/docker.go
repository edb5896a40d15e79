package hostnet

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"
)

// The rules by which a network is trusted as docker's.
const (
	// RuleDockerAPI: docker's own API lists it as a bridge network with
	// this subnet, and its interface is here with an address in it.
	RuleDockerAPI = "docker API"
	// RuleDockerNaming: docker could not be asked, and the interface has
	// exactly the name docker gives its bridges (docker0, br- and 12 hex
	// digits of the network's id).
	RuleDockerNaming = "docker naming"
)

// DockerNetwork is a local docker bridge network whose containers may ask
// for credentials: they reach the host's metadata addresses through it.
type DockerNetwork struct {
	Prefix netip.Prefix // the clients' range
	Iface  string       // the bridge interface on this host
	Rule   string       // RuleDockerAPI or RuleDockerNaming
}

func (n DockerNetwork) String() string {
	return fmt.Sprintf("%s on %s by %s", n.Prefix, n.Iface, n.Rule)
}

// DockerBridges lists the docker bridge networks on this host, sorted.
// Docker's API (DOCKER_HOST if it is a unix socket, else
// /var/run/docker.sock) decides which they are, within about a second;
// where it cannot be asked (no docker, a daemon user outside the docker
// group, an error), only interfaces with docker's exact naming count, and
// apiErr says why. The networks are valid either way.
//
// Trusting any docker0/br-* interface let a neighbour on a LAN bridge
// named br-lan (OpenWrt style) take credentials: a name is not proof.
func DockerBridges() (nets []DockerNetwork, apiErr error) {
	return dockerScan{}.scan(context.Background())
}

// DockerPrefixes is the sorted set of the networks' client ranges.
func DockerPrefixes(nets []DockerNetwork) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(nets))
	for _, n := range nets {
		out = append(out, n.Prefix)
	}
	slices.SortFunc(out, comparePrefix)
	return slices.Compact(out)
}

// dockerAPITimeout bounds the whole API call: a hung docker daemon must not
// hold up the daemon's start or its rescans.
const dockerAPITimeout = time.Second

// dockerScan is one look at the docker networks; the zero value is the
// real host. Tests set the fields, so no global state is shared.
type dockerScan struct {
	socket  string                      // docker API socket; "" = from DOCKER_HOST
	timeout time.Duration               // 0 = dockerAPITimeout
	ifaces  func() ([]hostIface, error) // nil = the host's interfaces
}

// hostIface is an interface with its addresses (address/prefix length).
type hostIface struct {
	Name  string
	Addrs []netip.Prefix
}

func (s dockerScan) scan(ctx context.Context) ([]DockerNetwork, error) {
	list := s.ifaces
	if list == nil {
		list = hostIfaces
	}
	ifs, err := list()
	if err != nil {
		return nil, fmt.Errorf("listing network interfaces: %w", err)
	}
	socket := s.socket
	if socket == "" {
		socket, err = dockerSocket(os.Getenv("DOCKER_HOST"))
	}
	var apiErr error
	if err != nil {
		apiErr = err
	} else {
		timeout := cmp.Or(s.timeout, dockerAPITimeout)
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		nets, err := dockerAPINetworks(ctx, socket)
		if err == nil {
			return sortNets(fromAPI(nets, ifs)), nil
		}
		apiErr = err
	}
	return sortNets(byNaming(ifs)), apiErr
}

// fromAPI keeps docker's bridge networks whose interface is on this host
// with an address in the subnet docker gave it. A network docker reports
// but whose bridge is elsewhere (rootless docker's namespace, a VM) or has
// another address admits no one: only docker's own bridge is proof.
func fromAPI(nets []apiNetwork, ifs []hostIface) []DockerNetwork {
	var out []DockerNetwork
	for _, n := range nets {
		name, ok := n.bridgeName()
		if !ok {
			continue
		}
		i := slices.IndexFunc(ifs, func(h hostIface) bool { return h.Name == name })
		if i < 0 {
			continue
		}
		for _, c := range n.IPAM.Config {
			p, err := netip.ParsePrefix(c.Subnet)
			if err != nil || !trustable(p) {
				continue
			}
			p = p.Masked()
			if slices.ContainsFunc(ifs[i].Addrs, func(a netip.Prefix) bool { return p.Contains(a.Addr().Unmap()) }) {
				out = append(out, DockerNetwork{Prefix: p, Iface: name, Rule: RuleDockerAPI})
			}
		}
	}
	return out
}

// byNaming keeps the interfaces named as docker names its bridges, each
// with the networks of its addresses.
func byNaming(ifs []hostIface) []DockerNetwork {
	var out []DockerNetwork
	for _, ifc := range ifs {
		if !dockerNamed(ifc.Name) {
			continue
		}
		for _, a := range ifc.Addrs {
			p := a.Masked()
			if trustable(p) {
				out = append(out, DockerNetwork{Prefix: p, Iface: ifc.Name, Rule: RuleDockerNaming})
			}
		}
	}
	return out
}

// dockerNamed: docker0, or br- and exactly 12 lowercase hex digits (the
// start of a network id). Not br-*: br-lan is a LAN (OpenWrt) or VM bridge
// whose neighbours must not get credentials.
func dockerNamed(name string) bool {
	if name == "docker0" {
		return true
	}
	id, ok := strings.CutPrefix(name, "br-")
	return ok && len(id) == 12 && isLowerHex(id)
}

func isLowerHex(s string) bool {
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return s != ""
}

// Ranges never trusted as a docker network, whatever claims them.
var untrusted = []netip.Prefix{
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("fe80::/10"),
}

// trustable leaves out link-local ranges: fe80::/64 is on every link, so
// it would admit neighbours on the LAN too; and loopback, and anything
// overlapping them (a 0.0.0.0/0 "subnet" would admit the world).
func trustable(p netip.Prefix) bool {
	if !p.IsValid() || p.Bits() == 0 {
		return false
	}
	for _, u := range untrusted {
		if p.Overlaps(u) {
			return false
		}
	}
	return true
}

func sortNets(nets []DockerNetwork) []DockerNetwork {
	slices.SortFunc(nets, func(a, b DockerNetwork) int {
		return cmp.Or(comparePrefix(a.Prefix, b.Prefix), strings.Compare(a.Iface, b.Iface), strings.Compare(a.Rule, b.Rule))
	})
	return slices.Compact(nets)
}

func comparePrefix(a, b netip.Prefix) int { return strings.Compare(a.String(), b.String()) }

func hostIfaces() ([]hostIface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	out := make([]hostIface, 0, len(ifs))
	for _, ifc := range ifs {
		h := hostIface{Name: ifc.Name}
		addrs, _ := ifc.Addrs() // an interface gone meanwhile has none
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil {
				h.Addrs = append(h.Addrs, p)
			}
		}
		out = append(out, h)
	}
	return out, nil
}
