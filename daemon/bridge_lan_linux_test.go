package daemon

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testLinkAlias marks the interfaces these tests make, so a leftover of a
// killed run can be told from the host's own (a real br-lan is never
// touched).
const testLinkAlias = "imdsd-test"

// A neighbour on a LAN bridge named br-lan (OpenWrt style) is refused
// IMDS and ECS credentials: the daemon used to trust every br-* interface
// as docker's. A bridge with docker's exact naming is still trusted when
// docker cannot be asked. Needs root for bridges and a network namespace.
func TestDockerBridgeLANNeighbourRefused(t *testing.T) {
	needIPRoot(t)
	noDockerAPI(t)
	sfx := randHex(t, 3)
	const lan, lanIP, peerIP, dockIP = "br-lan", "10.213.10.1", "10.213.10.2", "10.213.12.1"
	ns := "imdsd-lan-" + sfx
	vHost, vPeer := "imdsdl"+sfx+"h", "imdsdl"+sfx+"p"
	dock := dockerStyleName(t)

	e := startEnv(t, envOptions{})
	imdsPort, ecsPort := listenOnAll(t, e)

	// The LAN: br-lan with the host's address, and a neighbour in a
	// network namespace on a veth port of it.
	addTestBridge(t, lan, lanIP+"/24")
	ipOrSkip(t, "netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	ipOrSkip(t, "link", "add", vHost, "type", "veth", "peer", "name", vPeer)
	t.Cleanup(func() { exec.Command("ip", "link", "del", vHost).Run() })
	ipOrSkip(t, "link", "set", vHost, "master", lan)
	ipOrSkip(t, "link", "set", vHost, "up")
	ipOrSkip(t, "link", "set", vPeer, "netns", ns)
	ipOrSkip(t, "-n", ns, "addr", "add", peerIP+"/24", "dev", vPeer)
	ipOrSkip(t, "-n", ns, "link", "set", vPeer, "up")
	ipOrSkip(t, "-n", ns, "link", "set", "lo", "up")
	ipOrSkip(t, "-n", ns, "route", "add", "default", "via", lanIP)
	// A bridge as docker names one: br- and 12 hex digits.
	addTestBridge(t, dock, dockIP+"/24")

	imdsTok := e.imdsToken()
	dockClient := clientFrom(dockIP)
	// Accepted once the bridge is seen: by then br-lan, made before it,
	// has been scanned too.
	waitFor(t, 10*time.Second, func() bool {
		rs := lanProbe(dockClient, "http://"+lanIP+":"+imdsPort, "http://"+lanIP+":"+ecsPort, imdsTok, e.token)
		return allStatus(rs, http.StatusOK)
	}, "a client on a bridge with docker's naming ("+dock+") was not accepted within 10s")

	// The attack: the neighbour asks for a token and credentials.
	rs := netnsProbe(t, ns, "http://"+lanIP+":"+imdsPort, "http://"+lanIP+":"+ecsPort, imdsTok, e.token)
	for _, r := range rs {
		if r.Err != "" {
			t.Fatalf("neighbour on %s: %s: no answer from the daemon (%s): the test network is broken, nothing was shown", lan, r.Step, r.Err)
		}
	}
	if !allStatus(rs, http.StatusForbidden) || !allDenied(rs) {
		t.Fatalf("a neighbour on %s (not docker's) was not refused by address: %v", lan, rs)
	}
	// The host's own br-lan address is no docker client either.
	lanClient := clientFrom(lanIP)
	if rs := lanProbe(lanClient, "http://"+dockIP+":"+imdsPort, "http://"+dockIP+":"+ecsPort, imdsTok, e.token); !allStatus(rs, http.StatusForbidden) {
		t.Fatalf("a client from %s's subnet got %v, want 403s", lan, rs)
	}

	e.d.mu.Lock()
	bridges := fmt.Sprint(e.d.bridges)
	e.d.mu.Unlock()
	if strings.Contains(bridges, "10.213.10.") || !strings.Contains(bridges, "10.213.12.0/24") {
		t.Fatalf("trusted networks %s: want %s's 10.213.12.0/24 and not %s's", bridges, dock, lan)
	}
	logs := e.logs.String()
	if want := "10.213.12.0/24 on " + dock + " by docker naming"; !strings.Contains(logs, want) || !strings.Contains(logs, "docker_api_error=") {
		t.Fatalf("the log does not say %q with why docker was not asked:\n%s", want, tail(logs, 20))
	}
	assertNoSecretsLogged(t, logs, imdsTok, e.token)
}

// TestLANProbeHelper is the neighbour's side, run by netnsProbe inside the
// network namespace; it does nothing in a normal run.
func TestLANProbeHelper(t *testing.T) {
	arg := os.Getenv("IMDSD_TEST_LAN_PROBE")
	if arg == "" {
		t.Skip("run by TestDockerBridgeLANNeighbourRefused inside a network namespace")
	}
	var in struct{ IMDS, ECS, IMDSToken, ECSToken string }
	if err := json.Unmarshal([]byte(arg), &in); err != nil {
		t.Fatalf("IMDSD_TEST_LAN_PROBE: %v", err)
	}
	hc := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}, Timeout: 5 * time.Second}
	// Wait for the link (the veth was just set up), not for a verdict.
	var rs []lanResult
	deadline := time.Now().Add(10 * time.Second)
	for {
		rs = lanProbe(hc, in.IMDS, in.ECS, in.IMDSToken, in.ECSToken)
		if rs[0].Err == "" || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	b, _ := json.Marshal(rs)
	fmt.Printf("LANPROBE %s\n", b)
}

// lanResult is one request's outcome. Only a refusal's text is kept: a
// 200's body holds credentials.
type lanResult struct {
	Step   string
	Status int
	Denial string `json:",omitempty"`
	Err    string `json:",omitempty"`
}

func (r lanResult) String() string {
	if r.Err != "" {
		return r.Step + ": " + r.Err
	}
	return fmt.Sprintf("%s: %d %s", r.Step, r.Status, r.Denial)
}

// lanProbe does what an SDK does: an IMDSv2 token, then the credential
// document (with the token got, or the given one when refused), and the
// ECS credentials with the ECS token.
func lanProbe(hc *http.Client, imdsBase, ecsBase, imdsTok, ecsTok string) []lanResult {
	do := func(step, method, url, host string, hdr map[string]string) (lanResult, string) {
		r := lanResult{Step: step}
		req, err := http.NewRequest(method, url, nil)
		if err != nil {
			r.Err = err.Error()
			return r, ""
		}
		req.Host = host
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := hc.Do(req)
		if err != nil {
			r.Err = err.Error()
			return r, ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		r.Status = resp.StatusCode
		if resp.StatusCode == http.StatusForbidden {
			r.Denial = strings.TrimSpace(string(b))
		}
		return r, string(b)
	}
	tokR, tok := do("IMDS token PUT", http.MethodPut, imdsBase+"/latest/api/token", "169.254.169.254",
		map[string]string{"X-aws-ec2-metadata-token-ttl-seconds": "21600"})
	if tokR.Status != http.StatusOK {
		tok = imdsTok
	}
	docR, _ := do("IMDS credentials GET", http.MethodGet, imdsBase+"/latest/meta-data/iam/security-credentials/dev", "169.254.169.254",
		map[string]string{"X-aws-ec2-metadata-token": tok})
	ecsR, _ := do("ECS credentials GET", http.MethodGet, ecsBase+"/creds", "169.254.170.2",
		map[string]string{"Authorization": ecsTok})
	return []lanResult{tokR, docR, ecsR}
}

// netnsProbe runs lanProbe from inside the network namespace ns, in this
// test binary (curl or python may be missing; the binary is there).
func netnsProbe(t *testing.T, ns, imdsBase, ecsBase, imdsTok, ecsTok string) []lanResult {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	arg, _ := json.Marshal(map[string]string{"IMDS": imdsBase, "ECS": ecsBase, "IMDSToken": imdsTok, "ECSToken": ecsTok})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, exe, "-test.run=^TestLANProbeHelper$", "-test.count=1", "-test.timeout=50s")
	cmd.Env = append(os.Environ(), "IMDSD_TEST_LAN_PROBE="+string(arg))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if j, ok := strings.CutPrefix(sc.Text(), "LANPROBE "); ok {
			var rs []lanResult
			if err := json.Unmarshal([]byte(j), &rs); err != nil {
				t.Fatalf("probe output: %v", err)
			}
			return rs
		}
	}
	// The output may hold credentials if the probe got some: not shown.
	t.Fatalf("the probe in netns %s gave no result: %v\n%s", ns, err, tail(stderr.String(), 10))
	return nil
}

// clientFrom is a client whose connections come from a local address, as a
// container's would from its bridge (the address it dials differs).
func clientFrom(ip string) *http.Client {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: time.Second}
	return &http.Client{Transport: &http.Transport{Proxy: nil, DialContext: d.DialContext, DisableKeepAlives: true}, Timeout: 3 * time.Second}
}

func allStatus(rs []lanResult, code int) bool {
	for _, r := range rs {
		if r.Status != code {
			return false
		}
	}
	return len(rs) > 0
}

// allDenied: refused for the client's address, not for a token or a Host.
func allDenied(rs []lanResult) bool {
	for _, r := range rs {
		if !strings.Contains(r.Denial, "client address not allowed") {
			return false
		}
	}
	return len(rs) > 0
}

// listenOnAll moves both faces to 0.0.0.0 so clients on bridges can
// connect at all, and returns their ports. e.imdsURL and e.ecsURL follow.
func listenOnAll(t *testing.T, e *testEnv) (imdsPort, ecsPort string) {
	t.Helper()
	cfg := readFile(t, e.cfgPath)
	for _, face := range []string{"imds", "ecs"} {
		cfg = strings.Replace(cfg, "["+face+"]\nlisten = [\"127.0.0.1:0\"]", "["+face+"]\nlisten = [\"0.0.0.0:0\"]", 1)
	}
	writeAtomic(t, e.cfgPath, cfg)
	must(t, e.d.Reload(context.Background()))
	port := func(face string) string {
		for _, a := range e.d.Addrs()[face] {
			if h, p, err := net.SplitHostPort(a); err == nil && (h == "0.0.0.0" || h == "::") {
				return p
			}
		}
		t.Fatalf("%s does not listen on every address: %v", face, e.d.Addrs())
		return ""
	}
	imdsPort, ecsPort = port("imds"), port("ecs")
	e.imdsURL, e.ecsURL = "http://127.0.0.1:"+imdsPort, "http://127.0.0.1:"+ecsPort
	return imdsPort, ecsPort
}

func needIPRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create test bridges")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2")
	}
}

// noDockerAPI points DOCKER_HOST at a socket that does not exist, so the
// daemon cannot ask docker (as when it is not in the docker group) and
// the naming rule decides, whether or not this host runs docker.
func noDockerAPI(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "no-docker.sock"))
}

// dockerStyleName is a fresh bridge name as docker makes them: br- and 12
// hex digits of a network id.
func dockerStyleName(t *testing.T) string { return "br-" + randHex(t, 6) }

func randHex(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// addTestBridge makes an up bridge with an address, marked as this test's
// and removed at the end. A same-named interface of the host's own skips
// the test; one of a killed run is removed first.
func addTestBridge(t *testing.T, name, addr string) {
	t.Helper()
	if alias, err := os.ReadFile("/sys/class/net/" + name + "/ifalias"); err == nil {
		if strings.TrimSpace(string(alias)) != testLinkAlias {
			t.Skipf("this host has its own %s; not touching it", name)
		}
		exec.Command("ip", "link", "del", name).Run()
	}
	ipOrSkip(t, "link", "add", name, "type", "bridge")
	t.Cleanup(func() { exec.Command("ip", "link", "del", name).Run() })
	ipOrSkip(t, "link", "set", name, "alias", testLinkAlias)
	ipOrSkip(t, "addr", "add", addr, "dev", name)
	ipOrSkip(t, "link", "set", name, "up")
}

func ipOrSkip(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Skipf("ip %v: %v %s", args, err, out)
	}
}
