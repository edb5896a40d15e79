package daemon

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// A client on a docker bridge network is accepted once the bridge exists
// (discovered while running), and refused with docker = false; a client
// from anywhere else is refused. Needs root to create bridges.
func TestDockerBridgeClientsAccepted(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create test bridges")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2")
	}
	const ifname, bridgeIP, otherIP = "br-imdsdtest", "10.213.7.1", "10.213.8.1"
	run := func(args ...string) {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Skipf("ip %v: %v %s", args, err, out)
		}
	}
	exec.Command("ip", "link", "del", ifname).Run()
	exec.Command("ip", "link", "del", "imdsdother").Run()
	e := startEnv(t, envOptions{tune: func(o *Options) {}})
	// Listen on every address so a bridge client can connect at all.
	writeAtomic(t, e.cfgPath, strings.Replace(readFile(t, e.cfgPath), "[ecs]\nlisten = [\"127.0.0.1:0\"]", "[ecs]\nlisten = [\"0.0.0.0:0\"]", 1))
	must(t, e.d.Reload())
	var port string
	for _, a := range e.d.Addrs()["ecs"] {
		if strings.HasPrefix(a, "0.0.0.0:") || strings.HasPrefix(a, "[::]:") {
			_, port, _ = net.SplitHostPort(a)
		}
	}
	// from -> to: the client's source and the daemon address it dials
	// differ, as for a real container (whose own address is not the host's).
	get := func(from, to string) int {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: time.Second}
		hc := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}, Timeout: 3 * time.Second}
		req, _ := http.NewRequestWithContext(context.Background(), "GET", "http://"+to+":"+port+"/creds", nil)
		req.Host = "169.254.170.2"
		req.Header.Set("Authorization", e.token)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("from %s: %v", from, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	run("link", "add", "imdsdother", "type", "bridge")
	t.Cleanup(func() { exec.Command("ip", "link", "del", "imdsdother").Run() })
	run("addr", "add", otherIP+"/24", "dev", "imdsdother")
	run("link", "set", "imdsdother", "up")
	run("link", "add", ifname, "type", "bridge")
	t.Cleanup(func() { exec.Command("ip", "link", "del", ifname).Run() })
	run("addr", "add", bridgeIP+"/24", "dev", ifname)
	run("link", "set", ifname, "up")

	waitFor(t, 5*time.Second, func() bool { return get(bridgeIP, otherIP) == 200 }, "a client on a new docker bridge was not accepted within 5s")
	if code := get(otherIP, bridgeIP); code != http.StatusForbidden {
		t.Fatalf("a client from a non-docker network got %d, want 403", code)
	}
	writeAtomic(t, e.cfgPath, strings.Replace(readFile(t, e.cfgPath), "[ecs]\n", "[ecs]\ndocker = false\n", 1))
	must(t, e.d.Reload())
	if code := get(bridgeIP, otherIP); code != http.StatusForbidden {
		t.Fatalf("with docker = false a bridge client got %d, want 403", code)
	}
}
