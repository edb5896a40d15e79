package hostnet

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDockerNamingRule(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		want bool
	}{
		{"docker0", true},
		{"br-0123456789ab", true},
		{"br-fedcba987654", true},
		{"br-lan", false}, // an OpenWrt LAN bridge: the attack
		{"br-0123456789AB", false},
		{"br-0123456789abc", false},
		{"br-0123456789a", false},
		{"br-012345", false},
		{"br-", false},
		{"br-0123456789ag", false},
		{"xbr-0123456789ab", false},
		{"br-0123456789ab ", false},
		{"docker1", false},
		{"docker", false},
		{"virbr0", false},
		{"", false},
	} {
		if got := dockerNamed(tt.name); got != tt.want {
			t.Errorf("dockerNamed(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestDockerSocket(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		env, want, err string
	}{
		{"", "/var/run/docker.sock", ""},
		{"unix:///var/run/docker.sock", "/var/run/docker.sock", ""},
		{"unix:///run/user/1000/docker.sock", "/run/user/1000/docker.sock", ""},
		{"tcp://127.0.0.1:2375", "", "not a local unix socket"},
		{"ssh://me@host", "", "not a local unix socket"},
		{"npipe:////./pipe/docker_engine", "", "not a local unix socket"},
		{"unix://", "", "must be absolute"},
		{"unix://run/docker.sock", "", "must be absolute"},
	} {
		got, err := dockerSocket(tt.env)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("dockerSocket(%q) = %q, %v; want an error with %q", tt.env, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("dockerSocket(%q) = %q, %v; want %q", tt.env, got, err, tt.want)
		}
	}
}

// The host as the tests see it: docker's two bridges, a LAN bridge named
// br-lan, and a stray interface with docker's naming that docker does not
// know (left over, or made by hand).
var testIfaces = []hostIface{
	{Name: "lo", Addrs: pfx("127.0.0.1/8", "::1/128")},
	{Name: "eth0", Addrs: pfx("192.0.2.2/24", "fe80::1/64")},
	{Name: "br-lan", Addrs: pfx("192.168.1.1/24", "fd12::1/64", "fe80::2/64")},
	{Name: "docker0", Addrs: pfx("172.17.0.1/16", "fe80::42:1/64")},
	{Name: "br-0123456789ab", Addrs: pfx("172.18.0.1/16", "fd00:db8:1::1/64", "fe80::3/64")},
	{Name: "br-aaaaaaaaaaaa", Addrs: pfx("172.30.0.1/16")},
	{Name: "br-bbbbbbbbbbbb", Addrs: pfx("172.31.0.1/16")},
	{Name: "br-cccccccccccc", Addrs: pfx("10.99.0.1/24")},
	{Name: "mybridge", Addrs: pfx("172.20.0.1/16")},
}

// networksJSON is a docker /networks answer (abridged from docker 27).
const networksJSON = `[
 {"Name":"bridge","Id":"5e3f1c9d0a7b4e2f8c6d1a3b5e7f9c0d2a4b6c8e0f1a3b5c7d9e1f3a5b7c9d0e","Scope":"local","Driver":"bridge",
  "IPAM":{"Driver":"default","Options":null,"Config":[{"Subnet":"172.17.0.0/16","Gateway":"172.17.0.1"}]},
  "Options":{"com.docker.network.bridge.default_bridge":"true","com.docker.network.bridge.name":"docker0"}},
 {"Name":"app","Id":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","Scope":"local","Driver":"bridge",
  "IPAM":{"Driver":"default","Options":{},"Config":[{"Subnet":"172.18.0.0/16","Gateway":"172.18.0.1"},{"Subnet":"fd00:db8:1::/64"}]},
  "Options":{}},
 {"Name":"custom","Id":"feedfeedfeedfeedfeedfeedfeedfeedfeedfeedfeedfeedfeedfeedfeedfeed","Driver":"bridge",
  "IPAM":{"Config":[{"Subnet":"172.20.0.0/16"}]},"Options":{"com.docker.network.bridge.name":"mybridge"}},
 {"Name":"elsewhere","Id":"abababababababababababababababababababababababababababababababab","Driver":"bridge",
  "IPAM":{"Config":[{"Subnet":"172.29.0.0/16"}]},"Options":{}},
 {"Name":"wrongsubnet","Id":"bbbbbbbbbbbb0000000000000000000000000000000000000000000000000000","Driver":"bridge",
  "IPAM":{"Config":[{"Subnet":"172.28.0.0/16"}]},"Options":{}},
 {"Name":"linklocal","Id":"cccccccccccc0000000000000000000000000000000000000000000000000000","Driver":"bridge",
  "IPAM":{"Config":[{"Subnet":"fe80::/64"},{"Subnet":"0.0.0.0/0"},{"Subnet":"not a subnet"}]},"Options":{}},
 {"Name":"claims-lan","Id":"1111111111110000000000000000000000000000000000000000000000000000","Driver":"macvlan",
  "IPAM":{"Config":[{"Subnet":"192.168.1.0/24"}]},"Options":{"parent":"br-lan"}},
 {"Name":"host","Id":"2222222222220000000000000000000000000000000000000000000000000000","Driver":"host","IPAM":{"Config":[]},"Options":{}},
 {"Name":"none","Id":"3333333333330000000000000000000000000000000000000000000000000000","Driver":"null","IPAM":{"Config":[]},"Options":{}}
]`

// fakeDocker serves handler on a unix socket in a fresh directory, as
// docker's engine would on /var/run/docker.sock.
func fakeDocker(t *testing.T, handler http.HandlerFunc) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "docker.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(handler)
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return sock
}

func networksHandler(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/networks" {
			http.Error(w, `{"message":"page not found"}`, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(body))
	}
}

func staticIfaces(ifs []hostIface) func() ([]hostIface, error) {
	return func() ([]hostIface, error) { return ifs, nil }
}

func TestDockerAPINetworks(t *testing.T) {
	t.Parallel()
	s := dockerScan{socket: fakeDocker(t, networksHandler(networksJSON)), ifaces: staticIfaces(testIfaces)}
	got, err := s.scan(context.Background())
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	// Docker's word and the host's interfaces, both: br-lan (a macvlan
	// parent is not docker's bridge), br-cccccccccccc (link-local and
	// 0.0.0.0/0 subnets), br-bbbbbbbbbbbb (docker has another subnet for
	// it), br-aaaaaaaaaaaa (docker does not know it) are all refused.
	want := []DockerNetwork{
		{netip.MustParsePrefix("172.17.0.0/16"), "docker0", RuleDockerAPI},
		{netip.MustParsePrefix("172.18.0.0/16"), "br-0123456789ab", RuleDockerAPI},
		{netip.MustParsePrefix("172.20.0.0/16"), "mybridge", RuleDockerAPI},
		{netip.MustParsePrefix("fd00:db8:1::/64"), "br-0123456789ab", RuleDockerAPI},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("networks:\n got %v\nwant %v", got, want)
	}
}

// Where docker cannot be asked, only docker's exact naming counts, with
// the interfaces' own non-link-local networks; the error says why.
func TestDockerNamingFallback(t *testing.T) {
	t.Parallel()
	want := []DockerNetwork{
		{netip.MustParsePrefix("10.99.0.0/24"), "br-cccccccccccc", RuleDockerNaming},
		{netip.MustParsePrefix("172.17.0.0/16"), "docker0", RuleDockerNaming},
		{netip.MustParsePrefix("172.18.0.0/16"), "br-0123456789ab", RuleDockerNaming},
		{netip.MustParsePrefix("172.30.0.0/16"), "br-aaaaaaaaaaaa", RuleDockerNaming},
		{netip.MustParsePrefix("172.31.0.0/16"), "br-bbbbbbbbbbbb", RuleDockerNaming},
		{netip.MustParsePrefix("fd00:db8:1::/64"), "br-0123456789ab", RuleDockerNaming},
	}
	hang := make(chan struct{})
	cases := []struct {
		name   string
		socket string
		err    string
	}{
		{"no docker", filepath.Join(t.TempDir(), "missing.sock"), "no such file or directory"},
		{"engine error", fakeDocker(t, func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, `{"message":"daemon is shutting down"}`, http.StatusInternalServerError)
		}), `500 Internal Server Error: "{\"message\":\"daemon is shutting down\"}"`},
		{"not JSON", fakeDocker(t, networksHandler("<html>")), "not a list of networks"},
		{"not a list", fakeDocker(t, networksHandler(`{"message":"hi"}`)), "not a list of networks"},
		{"hangs", fakeDocker(t, func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-hang:
			case <-r.Context().Done():
			}
		}), "no answer in time"},
	}
	// Before the servers close (cleanups run last first), so none waits.
	t.Cleanup(func() { close(hang) })
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := dockerScan{socket: tt.socket, timeout: 200 * time.Millisecond, ifaces: staticIfaces(testIfaces)}
			t0 := time.Now()
			got, err := s.scan(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), tt.socket) {
				t.Errorf("error %v; want one naming %s and saying %q", err, tt.socket, tt.err)
			}
			if d := time.Since(t0); d > 5*time.Second {
				t.Errorf("scan took %v with a 200ms API timeout", d)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("networks:\n got %v\nwant %v", got, want)
			}
		})
	}
}

// A DOCKER_HOST that is not a local socket is not asked; naming decides.
func TestDockerHostNotLocal(t *testing.T) {
	t.Setenv("DOCKER_HOST", "tcp://192.0.2.9:2375")
	got, err := dockerScan{ifaces: staticIfaces(testIfaces)}.scan(context.Background())
	if err == nil || !strings.Contains(err.Error(), "not a local unix socket") {
		t.Fatalf("error %v; want DOCKER_HOST refused", err)
	}
	for _, n := range got {
		if n.Rule != RuleDockerNaming {
			t.Fatalf("%v: want only %s", n, RuleDockerNaming)
		}
	}
}

func TestDockerPrefixes(t *testing.T) {
	t.Parallel()
	nets := []DockerNetwork{
		{netip.MustParsePrefix("172.18.0.0/16"), "br-0123456789ab", RuleDockerAPI},
		{netip.MustParsePrefix("172.17.0.0/16"), "docker0", RuleDockerAPI},
		{netip.MustParsePrefix("172.18.0.0/16"), "br-0123456789ab", RuleDockerNaming},
	}
	want := pfx("172.17.0.0/16", "172.18.0.0/16")
	if got := DockerPrefixes(nets); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if s := nets[0].String(); s != "172.18.0.0/16 on br-0123456789ab by docker API" {
		t.Fatalf("String() = %q", s)
	}
}

func pfx(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// On the real host (no docker engine here, or one): whatever is found has
// a rule, a docker-made interface and no loopback or link-local range.
func TestDockerBridgesHost(t *testing.T) {
	t.Parallel()
	nets, apiErr := DockerBridges()
	for _, n := range nets {
		if !trustable(n.Prefix) || (n.Rule == RuleDockerNaming && !dockerNamed(n.Iface)) || (n.Rule != RuleDockerNaming && n.Rule != RuleDockerAPI) {
			t.Errorf("%v: should not be trusted", n)
		}
	}
	t.Logf("networks %v, docker API error: %v", nets, apiErr)
}
