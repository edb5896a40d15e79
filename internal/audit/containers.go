package audit

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"
)

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
		// At most four lists a second: a unix dial each is cheap, and no
		// connection outlives the audit.
		DisableKeepAlives: true,
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
