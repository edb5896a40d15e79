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

	"github.com/imdsd/imdsd/internal/hostnet"
)

// A client on a docker bridge network is accepted once the bridge exists
// (discovered while running), and refused with docker = false; a client
// from anywhere else is refused. Needs root to create bridges. Serial: the
// bridges it makes would be changes TestBridgeWatchIsEventDriven must not
// see while it watches an idle machine.
func TestDockerBridgeClientsAccepted(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create test bridges")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2")
	}
	const bridgeIP, otherIP = "10.213.7.1", "10.213.8.1"
	// Docker's exact naming: with docker not to be asked, only that counts.
	ifname, other := dockerStyleName(t), "imdsdo"+randHex(t, 4)
	noDockerAPI(t)
	run := func(args ...string) {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Skipf("ip %v: %v %s", args, err, out)
		}
	}
	e := startEnv(t, envOptions{tune: func(o *Options) {}})
	// Listen on every address so a bridge client can connect at all.
	writeAtomic(t, e.cfgPath, strings.Replace(readFile(t, e.cfgPath), "[ecs]\nlisten = [\"127.0.0.1:0\"]", "[ecs]\nlisten = [\"0.0.0.0:0\"]", 1))
	must(t, e.d.Reload(context.Background()))
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
	run("link", "add", other, "type", "bridge")
	t.Cleanup(func() { exec.Command("ip", "link", "del", other).Run() })
	run("addr", "add", otherIP+"/24", "dev", other)
	run("link", "set", other, "up")
	run("link", "add", ifname, "type", "bridge")
	t.Cleanup(func() { exec.Command("ip", "link", "del", ifname).Run() })
	run("addr", "add", bridgeIP+"/24", "dev", ifname)
	run("link", "set", ifname, "up")

	waitFor(t, patience, func() bool { return get(bridgeIP, otherIP) == 200 }, "a client on a new docker bridge was not accepted")
	if code := get(otherIP, bridgeIP); code != http.StatusForbidden {
		t.Fatalf("a client from a non-docker network got %d, want 403", code)
	}
	writeAtomic(t, e.cfgPath, strings.Replace(readFile(t, e.cfgPath), "[ecs]\n", "[ecs]\ndocker = false\n", 1))
	must(t, e.d.Reload(context.Background()))
	if code := get(bridgeIP, otherIP); code != http.StatusForbidden {
		t.Fatalf("with docker = false a bridge client got %d, want 403", code)
	}
}

// Docker networks are followed from the kernel's interface events: an idle
// machine causes no scans at all (the daemon used to poll every 2 s), and
// a new bridge is picked up at once. The second half needs root. No other
// test running beside it changes interfaces (TestDockerBridgeClientsAccepted
// is serial), so it can run in parallel: its watching costs no wall time.
func TestBridgeWatchIsEventDriven(t *testing.T) {
	noDockerAPI(t)
	// The test hears the kernel's interface events as the daemon does:
	// something else on the machine (docker starting a container) may
	// change interfaces meanwhile, and only a scan without one is a poll.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changes, err := hostnet.LinkChanges(ctx)
	if err != nil {
		t.Skipf("no interface change notifications here: %v", err)
	}
	e := startEnv(t, envOptions{})
	// Two scans at start: New's (the networks logged at start) and the
	// watcher's first, for a network that came up before it subscribed.
	waitFor(t, patience, func() bool { return e.d.bridgeScans.Load() >= 2 }, "no initial scans of docker networks")
	n := e.d.bridgeScans.Load()
	changed := false
	idle := time.After(2500 * time.Millisecond)
watch:
	for {
		select {
		case <-changes:
			changed = true
		case <-idle:
			break watch
		}
	}
	switch m := e.d.bridgeScans.Load(); {
	case m != n && !changed:
		t.Fatalf("%d scans of docker networks in 2.5 s with no interface change; want none", m-n)
	case changed:
		t.Logf("interfaces changed on this machine during the idle check (%d scans): it proves nothing this time", m-n)
	}
	if os.Geteuid() != 0 {
		t.Skip("the rest needs root to create a bridge")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2")
	}
	const bridgeNet = "10.213.9.1/24"
	ifname := dockerStyleName(t)
	for _, args := range [][]string{{"link", "add", ifname, "type", "bridge"}, {"addr", "add", bridgeNet, "dev", ifname}} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Skipf("ip %v: %v %s", args, err, out)
		}
	}
	t.Cleanup(func() { exec.Command("ip", "link", "del", ifname).Run() })
	t0 := time.Now()
	waitFor(t, patience, func() bool {
		e.d.mu.Lock()
		defer e.d.mu.Unlock()
		for _, p := range e.d.bridges {
			if p.String() == "10.213.9.0/24" {
				return true
			}
		}
		return false
	}, "a new docker bridge was not seen")
	t.Logf("new bridge seen after %v", time.Since(t0).Round(time.Millisecond))
}
