package imds

import (
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
)

// Guard admits a request only if the client address is loopback or in
// Policy.Allow, and the Host header names this machine or a metadata
// address. The Host check is the DNS-rebinding defence: a web page whose
// name was re-pointed at 127.0.0.1 still sends its own name as Host.
type Guard struct {
	next   http.Handler
	policy atomic.Pointer[guardPolicy]
}

// guardPolicy is a Policy normalised for matching.
type guardPolicy struct {
	allow []netip.Prefix
	names []string     // lower case, no trailing dot
	addrs []netip.Addr // Hosts entries that are IP literals
}

// metadataHosts are the addresses SDKs use for IMDS and ECS; traffic to
// them reaches imdsd through a redirect or an alias address.
var metadataHosts = []netip.Addr{
	netip.MustParseAddr("169.254.169.254"),
	netip.MustParseAddr("169.254.170.2"),
	netip.MustParseAddr("169.254.170.23"),
	netip.MustParseAddr("fd00:ec2::254"),
	netip.MustParseAddr("fd00:ec2::23"),
}

// NewGuard returns next behind policy p.
func NewGuard(p Policy, next http.Handler) *Guard {
	g := &Guard{next: next}
	g.Update(p)
	return g
}

// Update swaps the policy atomically.
func (g *Guard) Update(p Policy) {
	gp := &guardPolicy{}
	for _, pr := range p.Allow {
		if !pr.IsValid() {
			continue
		}
		// Clients are compared unmapped, so a 4-in-6 range must be too.
		if a := pr.Addr(); a.Is4In6() && pr.Bits() >= 96 {
			pr = netip.PrefixFrom(a.Unmap(), pr.Bits()-96)
		}
		gp.allow = append(gp.allow, pr.Masked())
	}
	for _, h := range p.Hosts {
		h = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), ".")
		if h == "" {
			continue
		}
		if a, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
			gp.addrs = append(gp.addrs, a.Unmap().WithZone(""))
			continue
		}
		gp.names = append(gp.names, h)
	}
	g.policy.Store(gp)
}

// ServeHTTP implements http.Handler.
func (g *Guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := g.policy.Load()
	// RemoteAddr is the TCP peer; X-Forwarded-For is the client's say-so
	// and is ignored.
	client, ok := clientAddr(r.RemoteAddr)
	local := ok && (client.IsLoopback() || sameAsLocal(r, client))
	if !ok || !(local || p.allows(client)) {
		deny(w, r, "imdsd: client address not allowed")
		return
	}
	if !p.hostOK(r.Host, local) {
		deny(w, r, "imdsd: Host header not allowed")
		return
	}
	g.next.ServeHTTP(w, r)
}

func deny(w http.ResponseWriter, r *http.Request, msg string) {
	logDebug(nil, r, "request denied by policy", http.StatusForbidden,
		slog.String("reason", msg), slog.String("host", r.Host))
	writeText(w, r, http.StatusForbidden, msg)
}

// sameAsLocal: a process on this machine that connects to an address held
// here (169.254.169.254 on lo) gets that address as its source. No other
// host can complete a TCP handshake from our own address, so this is a
// local client too.
func sameAsLocal(r *http.Request, client netip.Addr) bool {
	la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return false
	}
	l, ok := clientAddr(la.String())
	return ok && l == client
}

// clientAddr parses RemoteAddr ("ip:port" or "[ip%zone]:port") into an
// unmapped address without zone.
func clientAddr(remote string) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap().WithZone(""), true
}

func (p *guardPolicy) allows(a netip.Addr) bool {
	for _, pr := range p.allow {
		if pr.Contains(a) {
			return true
		}
	}
	return false
}

// hostOK checks the Host header. An empty Host (HTTP/1.0) carries no
// evidence either way, so it is trusted only from this machine.
func (p *guardPolicy) hostOK(host string, loopbackClient bool) bool {
	name := hostName(host)
	if name == "" {
		return host == "" && loopbackClient
	}
	if a, err := netip.ParseAddr(name); err == nil {
		a = a.Unmap().WithZone("")
		if a.IsLoopback() {
			return true
		}
		for _, m := range metadataHosts {
			if a == m {
				return true
			}
		}
		for _, m := range p.addrs {
			if a == m {
				return true
			}
		}
		return false
	}
	name = strings.TrimSuffix(name, ".")
	if strings.EqualFold(name, "localhost") {
		return true
	}
	for _, n := range p.names {
		if strings.EqualFold(name, n) {
			return true
		}
	}
	return false
}

// hostName strips the port from a Host header: "name:port", "[v6]:port",
// "[v6]" or a bare name or address. It returns "" for a malformed value.
func hostName(host string) string {
	if strings.HasPrefix(host, "[") {
		end := strings.IndexByte(host, ']')
		if end < 0 {
			return ""
		}
		rest := host[end+1:]
		if rest != "" && (rest[0] != ':' || !digits(rest[1:])) {
			return ""
		}
		return host[1:end]
	}
	if i := strings.IndexByte(host, ':'); i >= 0 {
		if strings.Count(host, ":") > 1 {
			return host // a bare IPv6 address, as some clients send
		}
		if !digits(host[i+1:]) {
			return ""
		}
		return host[:i]
	}
	return host
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
