package imds

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

// okHandler answers 200 "ok" so that the Guard's decision is visible.
var okHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })

func guardReq(remote, host string) *http.Request {
	r := req("GET", "/latest/meta-data/", nil)
	r.RemoteAddr = remote
	r.Host = host
	return r
}

func TestGuardClientAddress(t *testing.T) {
	t.Parallel()
	g := NewGuard(Policy{Allow: []netip.Prefix{
		netip.MustParsePrefix("192.168.1.0/24"),
		netip.MustParsePrefix("::ffff:172.17.0.0/112"), // 4-in-6 form of 172.17.0.0/16
		netip.MustParsePrefix("fe80::/10"),
		netip.MustParsePrefix("fd12:3456::/32"),
	}}, okHandler)
	tests := []struct {
		remote string
		want   int
	}{
		{"127.0.0.1:40000", 200},
		{"127.8.9.10:1", 200},
		{"[::1]:40000", 200},
		{"[::ffff:127.0.0.1]:40000", 200},
		{"192.168.1.77:5", 200},
		{"[::ffff:192.168.1.77]:5", 200},
		{"172.17.0.2:5", 200},
		{"[fe80::1%eth0]:5", 200},
		{"[fd12:3456::9]:5", 200},
		{"192.168.2.1:5", 403},
		{"10.0.0.5:5", 403},
		{"[2001:db8::1]:5", 403},
		{"[::ffff:10.0.0.5]:5", 403},
		{"0.0.0.0:5", 403},
		{"", 403},
		{"@", 403},
		{"127.0.0.1", 403}, // no port: not a TCP peer address
		{"localhost:5", 403},
	}
	for _, tt := range tests {
		w := serve(g, guardReq(tt.remote, "169.254.169.254"))
		if w.Code != tt.want {
			t.Errorf("RemoteAddr %q: %d, want %d", tt.remote, w.Code, tt.want)
		}
		if tt.want == 403 && (w.Body.String() == "ok" || w.Header().Get("Content-Type") != "text/plain" || !strings.Contains(w.Body.String(), "client address")) {
			t.Errorf("RemoteAddr %q: denial %q", tt.remote, w.Body)
		}
	}
}

func TestGuardIgnoresForwardedFor(t *testing.T) {
	t.Parallel()
	g := NewGuard(Policy{}, okHandler)
	r := guardReq("10.0.0.5:5", "169.254.169.254")
	r.Header.Set("X-Forwarded-For", "127.0.0.1")
	r.Header.Set("X-Real-Ip", "127.0.0.1")
	r.Header.Set("Forwarded", "for=127.0.0.1")
	if w := serve(g, r); w.Code != 403 {
		t.Fatalf("spoofed forwarding headers: %d, want 403", w.Code)
	}
}

func TestGuardHost(t *testing.T) {
	t.Parallel()
	g := NewGuard(Policy{
		Allow: []netip.Prefix{netip.MustParsePrefix("172.17.0.0/16")},
		Hosts: []string{"Docker.Host", "172.17.0.1", "[fd00::1]", "imdsd.internal."},
	}, okHandler)
	tests := []struct {
		host   string
		remote string
		want   int
	}{
		{"169.254.169.254", "", 200},
		{"169.254.169.254:80", "", 200},
		{"169.254.170.2", "", 200},
		{"169.254.170.2:80", "", 200},
		{"169.254.170.23:80", "", 200},
		{"[fd00:ec2::254]", "", 200},
		{"[fd00:ec2::254]:80", "", 200},
		{"[fd00:ec2::23]:80", "", 200},
		{"fd00:ec2::254", "", 200}, // bare v6 as some clients send it
		{"localhost", "", 200},
		{"LOCALHOST:9911", "", 200},
		{"localhost.:9911", "", 200},
		{"127.0.0.1:9911", "", 200},
		{"127.1.2.3", "", 200},
		{"[::1]:9911", "", 200},
		{"[::ffff:127.0.0.1]:9911", "", 200},
		{"docker.host:9911", "", 200},
		{"DOCKER.HOST", "", 200},
		{"172.17.0.1:9911", "", 200},
		{"[fd00::1]:9911", "", 200},
		{"imdsd.internal", "", 200},
		{"", "", 200}, // HTTP/1.0 from loopback
		{"", "172.17.0.2:5", 403},
		{"172.17.0.1:9911", "172.17.0.2:5", 200},
		{"evil.example", "", 403},
		{"evil.example:9911", "", 403},
		{"169.254.169.254.evil.example", "", 403},
		{"localhost.evil.example", "", 403},
		{"evil-localhost", "", 403},
		{"10.0.0.1", "", 403},
		{"169.254.169.253", "", 403},
		{"[fd00:ec2::254", "", 403},
		{"[fd00:ec2::254]x", "", 403},
		{"[fd00:ec2::254]:x", "", 403},
		{"localhost:abc", "", 403},
		{"localhost:80:80", "", 403},
		{"[]:80", "", 403},
		{":80", "", 403},
		{"docker.host.evil", "", 403},
	}
	for _, tt := range tests {
		remote := tt.remote
		if remote == "" {
			remote = "127.0.0.1:40000"
		}
		w := serve(g, guardReq(remote, tt.host))
		if w.Code != tt.want {
			t.Errorf("Host %q from %s: %d, want %d", tt.host, remote, w.Code, tt.want)
		}
		if tt.want == 403 && w.Body.String() == "ok" {
			t.Errorf("Host %q reached the handler", tt.host)
		}
	}
}

func TestGuardUpdate(t *testing.T) {
	t.Parallel()
	g := NewGuard(Policy{}, okHandler)
	r := guardReq("10.1.2.3:5", "host.example")
	if w := serve(g, r); w.Code != 403 {
		t.Fatalf("before Update: %d", w.Code)
	}
	g.Update(Policy{Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, Hosts: []string{"host.example"}})
	if w := serve(g, r); w.Code != 200 || w.Body.String() != "ok" {
		t.Fatalf("after Update: %d %q", w.Code, w.Body)
	}
	g.Update(Policy{})
	if w := serve(g, r); w.Code != 403 {
		t.Fatalf("after revoking: %d", w.Code)
	}
}

// The Guard sits in front of both faces; a denial must come before any
// credential logic.
func TestGuardInFrontOfFaces(t *testing.T) {
	t.Parallel()
	e, _ := newTestEC2(t, ec2Settings(), nil)
	g := NewGuard(Policy{}, e)
	r := req("PUT", tokenPath, map[string]string{ttlHeader: "300"})
	r.Host = "attacker.example"
	if w := serve(g, r); w.Code != 403 || strings.Contains(w.Body.String(), "Bad") {
		t.Fatalf("rebinding PUT: %d %q", w.Code, w.Body)
	}
	ecs := newTestECS(t, ecsSettings(), nil)
	r = ecsReq("GET", "/creds", ecsToken)
	r.RemoteAddr = "10.9.9.9:1"
	if w := serve(NewGuard(Policy{}, ecs), r); w.Code != 403 || strings.Contains(w.Body.String(), "AccessKeyId") {
		t.Fatalf("remote ECS: %d %q", w.Code, w.Body)
	}
}

// A local process connecting to a metadata address held on lo has that
// address as its source; it is local, while the same source on a request
// to another local address is not.
func TestGuardClientOnOwnAddressIsLocal(t *testing.T) {
	t.Parallel()
	g := NewGuard(Policy{}, okHandler)
	for _, tc := range []struct {
		remote, local string
		want          int
	}{
		{"169.254.169.254:40000", "169.254.169.254:80", 200},
		{"169.254.170.2:40000", "169.254.170.2:80", 200},
		{"169.254.169.254:40000", "169.254.170.2:80", 403},
		{"10.0.0.5:40000", "169.254.169.254:80", 403},
	} {
		r := guardReq(tc.remote, "169.254.169.254")
		r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, net.TCPAddrFromAddrPort(netip.MustParseAddrPort(tc.local))))
		if w := serve(g, r); w.Code != tc.want {
			t.Errorf("%s -> %s: %d, want %d", tc.remote, tc.local, w.Code, tc.want)
		}
	}
}
