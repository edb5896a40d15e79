package hostnet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
)

// defaultDockerSocket is where docker's engine listens on Linux.
const defaultDockerSocket = "/var/run/docker.sock"

// bridgeNameOption names a bridge network's interface when docker was told
// to (docker0 for the default network); otherwise it is br- and the first
// 12 hex digits of the network's id.
const bridgeNameOption = "com.docker.network.bridge.name"

// maxDockerResponse bounds the /networks answer read: a few KB a network.
const maxDockerResponse = 8 << 20

// dockerSocket is the unix socket of docker's API given DOCKER_HOST: its
// path when it is unix://, the default when unset. A docker reached over
// TCP or SSH is not asked: its networks need not be this host's, and it
// could name any of ours.
func dockerSocket(dockerHost string) (string, error) {
	if dockerHost == "" {
		return defaultDockerSocket, nil
	}
	p, ok := strings.CutPrefix(dockerHost, "unix://")
	if !ok {
		return "", fmt.Errorf("DOCKER_HOST=%q is not a local unix socket (unix:///path); docker's networks are not asked", dockerHost)
	}
	if !path.IsAbs(p) {
		return "", fmt.Errorf("DOCKER_HOST=%q: the socket path must be absolute (unix:///path); docker's networks are not asked", dockerHost)
	}
	return p, nil
}

// apiNetwork is the part of docker's GET /networks answer that matters.
type apiNetwork struct {
	ID      string            `json:"Id"`
	Driver  string            `json:"Driver"`
	Options map[string]string `json:"Options"`
	IPAM    struct {
		Config []struct {
			Subnet string `json:"Subnet"`
		} `json:"Config"`
	} `json:"IPAM"`
}

// bridgeName is the host interface of a bridge-driver network. Other
// drivers (macvlan, ipvlan, overlay, host) have no bridge of docker's on
// this host whose clients are containers, so they admit no one.
func (n apiNetwork) bridgeName() (string, bool) {
	if n.Driver != "bridge" {
		return "", false
	}
	if name := n.Options[bridgeNameOption]; name != "" {
		return name, true
	}
	if len(n.ID) >= 12 && isLowerHex(n.ID[:12]) {
		return "br-" + n.ID[:12], true
	}
	return "", false
}

// dockerAPINetworks asks the docker engine on a unix socket for its
// networks. ctx bounds the whole exchange.
func dockerAPINetworks(ctx context.Context, socket string) ([]apiNetwork, error) {
	tr := &http.Transport{
		// Only the socket: no proxy from the environment, no other host.
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	// Unversioned: docker answers in its own current version, where a
	// fixed one is refused as too old or too new by some engine.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/networks", nil)
	if err != nil {
		return nil, err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("docker API at %s: no answer in time: %w", socket, ctx.Err())
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("docker API at %s: %w", socket, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDockerResponse+1))
	if err != nil {
		return nil, fmt.Errorf("docker API at %s: reading GET /networks: %w", socket, err)
	}
	if resp.StatusCode != http.StatusOK {
		msg := strings.TrimSpace(string(body[:min(len(body), 300)]))
		return nil, fmt.Errorf("docker API at %s: GET /networks: %s: %q", socket, resp.Status, msg)
	}
	if len(body) > maxDockerResponse {
		return nil, fmt.Errorf("docker API at %s: GET /networks: answer over %d bytes", socket, maxDockerResponse)
	}
	var nets []apiNetwork
	if err := json.Unmarshal(body, &nets); err != nil {
		return nil, fmt.Errorf("docker API at %s: GET /networks: not a list of networks: %w", socket, err)
	}
	return nets, nil
}
