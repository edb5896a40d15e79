package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/imdsd/imdsd/imds"
)

// dockerBridges lists the networks of the local docker bridges (docker0
// and the br-* of user-defined networks): their containers reach the
// host's link-local metadata addresses through their default route.
// Link-local prefixes are left out: fe80::/64 exists on every link, so it
// would admit neighbours on the LAN too.
func dockerBridges() []netip.Prefix {
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

// policies composes each face's client policy: the configured ranges plus,
// when enabled, the docker bridges as they are now. Called with d.mu held.
func (d *Daemon) updatePolicies() {
	ec2 := imds.Policy{Allow: slices.Clone(d.cfg.IMDS.Allow), Hosts: d.cfg.IMDS.Hosts}
	ecs := imds.Policy{Allow: slices.Clone(d.cfg.ECS.Allow), Hosts: d.cfg.ECS.Hosts}
	if d.cfg.IMDS.Docker {
		ec2.Allow = append(ec2.Allow, d.bridges...)
	}
	if d.cfg.ECS.Docker {
		ecs.Allow = append(ecs.Allow, d.bridges...)
	}
	d.ec2Policy, d.ecsPolicy = ec2, ecs
	d.ec2Guard.Update(ec2)
	d.ecsGuard.Update(ecs)
}

// watchBridges follows docker networks as they come and go: it rescans
// when the kernel reports an interface or address change (a new network
// is several changes in a row: link, up, address, so it waits for them to
// settle), and polls only where no such reports can be had.
func (d *Daemon) watchBridges(ctx context.Context, poll time.Duration) {
	var tick <-chan time.Time
	pollInstead := func(err error) {
		d.log.Warn("no interface change notifications; polling for docker networks", "every", poll, "err", err)
		t := time.NewTicker(poll)
		context.AfterFunc(ctx, func() { t.Stop() })
		tick = t.C
	}
	changes, err := linkChanges(ctx)
	if err != nil {
		pollInstead(err)
	}
	// A network that came up before the subscription began.
	d.rescanBridges()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
		case _, ok := <-changes:
			if !ok {
				if ctx.Err() != nil {
					return
				}
				changes = nil
				pollInstead(errors.New("the netlink socket failed"))
				break
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(bridgeSettle):
			}
		}
		d.rescanBridges()
	}
}

// bridgeSettle is how long a burst of interface changes may last before
// the scan that follows it.
const bridgeSettle = 50 * time.Millisecond

// rescanBridges reads the docker networks now and, when they changed,
// gives the listeners' policies the new set.
func (d *Daemon) rescanBridges() {
	d.bridgeScans.Add(1)
	now := dockerBridges()
	d.mu.Lock()
	defer d.mu.Unlock()
	if !slices.Equal(now, d.bridges) {
		d.log.Info("docker networks changed; clients from them are accepted", "networks", now)
		d.bridges = now
		d.updatePolicies()
	}
}

// containers names docker containers by address, from the docker API when
// this user may read it; cached briefly. Only for the audit log.
type containers struct {
	mu     sync.Mutex
	byIP   map[netip.Addr]string
	at     time.Time
	client *http.Client
}

func newContainers() *containers {
	sock := "/var/run/docker.sock"
	if h := os.Getenv("DOCKER_HOST"); strings.HasPrefix(h, "unix://") {
		sock = strings.TrimPrefix(h, "unix://")
	}
	return &containers{client: &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var dl net.Dialer
			return dl.DialContext(ctx, "unix", sock)
		},
	}}}
}

// lookup answers from a list at most 2 s old (docker reuses a gone
// container's address at once, so older names may be wrong); an unknown
// address refreshes the list, at most four times a second.
func (c *containers) lookup(ip netip.Addr) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	age := time.Since(c.at)
	if name, ok := c.byIP[ip]; ok && age < 2*time.Second {
		return name
	}
	if age < 250*time.Millisecond {
		return c.byIP[ip]
	}
	c.at = time.Now()
	c.byIP = map[netip.Addr]string{}
	resp, err := c.client.Get("http://docker/containers/json")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var list []struct {
		ID              string   `json:"Id"`
		Names           []string `json:"Names"`
		NetworkSettings struct {
			Networks map[string]struct {
				IPAddress         string `json:"IPAddress"`
				GlobalIPv6Address string `json:"GlobalIPv6Address"`
			} `json:"Networks"`
		} `json:"NetworkSettings"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&list) != nil {
		return ""
	}
	for _, ct := range list {
		name := ct.ID
		if len(name) > 12 {
			name = name[:12]
		}
		if len(ct.Names) > 0 {
			name = strings.TrimPrefix(ct.Names[0], "/") + " (" + name + ")"
		}
		for _, n := range ct.NetworkSettings.Networks {
			for _, s := range []string{n.IPAddress, n.GlobalIPv6Address} {
				if a, err := netip.ParseAddr(s); err == nil {
					c.byIP[a] = name
				}
			}
		}
	}
	return c.byIP[ip]
}
