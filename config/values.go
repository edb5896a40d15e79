package config

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"unicode"
)

// str requires a string value; example is shown in the fix.
func (p *cfgParser) str(key string, v any, example string) (string, bool) {
	s, ok := v.(string)
	if !ok {
		p.fail(key, "must be a quoted string like %s, not %s", example, tomlTypeName(v))
	}
	return s, ok
}

// table returns the [name] table, if present and really a table.
func (p *cfgParser) table(raw map[string]any, name string) (map[string]any, bool) {
	v, ok := raw[name]
	if !ok {
		return nil, false
	}
	t, ok := v.(map[string]any)
	if !ok {
		if _, aot := v.([]map[string]any); aot {
			p.fail(name, "must be a single table written [%s], not [[%s]]", name, name)
		} else {
			p.fail(name, "must be a table: write [%s] on its own line and its settings below it", name)
		}
	}
	return t, ok
}

// strList requires a list of strings; it reports each bad element and
// returns the good ones with their indexes.
func (p *cfgParser) strList(key string, v any, example string) ([]string, []int, bool) {
	list, ok := v.([]any)
	if !ok {
		if s, isStr := v.(string); isStr {
			p.fail(key, "must be a list, not a string; write %s = [%q]", key[strings.LastIndexByte(key, '.')+1:], s)
		} else {
			p.fail(key, "must be a list of strings like %s, not %s", example, tomlTypeName(v))
		}
		return nil, nil, false
	}
	out := make([]string, 0, len(list))
	idx := make([]int, 0, len(list))
	good := true
	for i, e := range list {
		s, ok := e.(string)
		if !ok {
			p.failAt(elemKey(key, i), key, "item %d is %s; items must be quoted strings like %s", i+1, tomlTypeName(e), example)
			good = false
			continue
		}
		out = append(out, s)
		idx = append(idx, i)
	}
	return out, idx, good
}

func elemKey(key string, i int) string { return key + "[" + strconv.Itoa(i) + "]" }

// listen validates a listen list and returns canonical host:port strings.
func (p *cfgParser) listen(key string, v any) []string {
	list, idx, _ := p.strList(key, v, `"127.0.0.1:9911"`)
	if list == nil {
		return nil
	}
	out := make([]string, 0, len(list))
	seen := map[string]bool{}
	for n, s := range list {
		ek := elemKey(key, idx[n])
		ap, err := parseListenAddr(s)
		if err != nil {
			p.failAt(ek, key, "%v", err)
			continue
		}
		if seen[ap] {
			p.failAt(ek, key, "%q is listed twice; remove one", s)
			continue
		}
		seen[ap] = true
		out = append(out, ap)
	}
	return out
}

// parseListenAddr checks one listen address and returns it in canonical
// form (IPv6 bracketed and compressed), so duplicates are spotted and a
// reload can compare listener sets.
func parseListenAddr(s string) (string, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		switch {
		case !strings.Contains(s, ":"):
			return "", fmt.Errorf("%q has no port; write it as host:port, e.g. %q", s, s+":9911")
		case strings.Count(s, ":") > 1 && !strings.HasPrefix(s, "["):
			return "", fmt.Errorf("%q is ambiguous; put IPv6 addresses in brackets, e.g. \"[::1]:9911\"", s)
		}
		return "", fmt.Errorf("%q is not host:port; write e.g. \"127.0.0.1:9911\" or \"[::1]:9911\"", s)
	}
	if port == "" {
		return "", fmt.Errorf("%q has no port; add one, e.g. %q", s, net.JoinHostPort(host, "9911"))
	}
	if strings.Trim(port, "0123456789") != "" {
		// Service names ("http") would need a lookup; signs are typos.
		return "", fmt.Errorf("%q: port %q is not a number; use a port from 1 to 65535", s, port)
	}
	pn, err := strconv.Atoi(port)
	switch {
	case err != nil || pn < 0 || pn > 65535:
		// Port 0 (any free port, shown in the log) serves tests and
		// throwaway instances.
		return "", fmt.Errorf("%q: port %s is out of range; use a port from 1 to 65535", s, port)
	}
	switch {
	case host == "":
		return "", fmt.Errorf("%q has no host; write \"127.0.0.1:%d\" for this machine only, or \"0.0.0.0:%d\" for every interface", s, pn, pn)
	case strings.EqualFold(host, "localhost"):
		return "localhost:" + strconv.Itoa(pn), nil
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return "", fmt.Errorf("%q: host %q is not an IP address or \"localhost\"; imdsd listens on literal addresses such as 127.0.0.1, ::1 or 0.0.0.0", s, host)
	}
	return netip.AddrPortFrom(addr, uint16(pn)).String(), nil
}

// listenConflict reports whether two canonical listen addresses would
// fight over the same socket. Go listens dual-stack on 0.0.0.0 and ::, so
// an unspecified address clashes with every address on its port.
func listenConflict(a, b string) bool {
	ha, pa, _ := net.SplitHostPort(a)
	hb, pb, _ := net.SplitHostPort(b)
	if pa != pb || pa == "0" {
		return false
	}
	if ha == hb {
		return true
	}
	aa, errA := netip.ParseAddr(ha)
	ab, errB := netip.ParseAddr(hb)
	if errA == nil && aa.IsUnspecified() || errB == nil && ab.IsUnspecified() {
		return true
	}
	// localhost is 127.0.0.1 and ::1.
	if ha == "localhost" && errB == nil && ab.IsLoopback() || hb == "localhost" && errA == nil && aa.IsLoopback() {
		return true
	}
	return false
}

// checkListenConflicts rejects addresses that two listeners would both
// need, within a list or across [imds] and [ecs], and a config that
// serves nothing.
func (p *cfgParser) checkListenConflicts(cfg *Config) {
	type entry struct{ key, addr string }
	var all []entry
	for _, a := range cfg.IMDS.Listen {
		all = append(all, entry{"imds.listen", a})
	}
	for _, a := range cfg.ECS.Listen {
		all = append(all, entry{"ecs.listen", a})
	}
	for i := range all {
		for j := 0; j < i; j++ {
			a, b := all[j], all[i]
			if a.addr == b.addr && a.key == b.key {
				continue // reported as a duplicate already
			}
			if listenConflict(a.addr, b.addr) {
				what := "also in"
				if a.addr != b.addr {
					what = "overlaps " + strconv.Quote(a.addr) + " in"
				}
				p.fail(b.key, "%q %s %s; two listeners cannot share an address and port, so change one of them", b.addr, what, a.key)
				break
			}
		}
	}
	if len(cfg.IMDS.Listen) == 0 && len(cfg.ECS.Listen) == 0 && len(p.errs) == 0 {
		key := "ecs.listen"
		if p.lines["imds.listen"] > p.lines[key] {
			key = "imds.listen"
		}
		p.fail(key, "imds.listen and ecs.listen are both empty, so imdsd would serve nothing; give at least one of them an address")
	}
}

// allow validates CIDRs and bare addresses (a single host).
func (p *cfgParser) allow(key string, v any) []netip.Prefix {
	list, idx, _ := p.strList(key, v, `"172.17.0.0/16"`)
	if list == nil {
		return nil
	}
	var out []netip.Prefix
	for n, s := range list {
		ek := elemKey(key, idx[n])
		if strings.Contains(s, "/") {
			pfx, err := netip.ParsePrefix(s)
			if err != nil {
				p.failAt(ek, key, "%q is not a CIDR range; write it like \"172.17.0.0/16\" or \"fd00::/8\", or give a single address", s)
				continue
			}
			// Host bits are almost always a slip ("172.17.0.1/16" for the
			// bridge network); the masked range is what matching uses.
			out = append(out, pfx.Masked())
			continue
		}
		addr, err := netip.ParseAddr(s)
		if err != nil || addr.Zone() != "" {
			p.failAt(ek, key, "%q is not an IP address or CIDR range; write it like \"10.0.0.5\" or \"172.17.0.0/16\"", s)
			continue
		}
		out = append(out, netip.PrefixFrom(addr, addr.BitLen()))
	}
	return out
}

// hosts validates Host header names.
func (p *cfgParser) hosts(key string, v any) []string {
	list, idx, _ := p.strList(key, v, `"imds.local"`)
	if list == nil {
		return nil
	}
	var out []string
	for n, s := range list {
		ek := elemKey(key, idx[n])
		switch {
		case s == "":
			p.failAt(ek, key, "item %d is empty; remove it or write a host name like \"imds.local\"", idx[n]+1)
		case strings.Contains(s, "://") || strings.ContainsRune(s, '/'):
			p.failAt(ek, key, "%q is a URL; write only the host name, like \"imds.local\"", s)
		case strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
			p.failAt(ek, key, "%q contains whitespace; a host name cannot", s)
		default:
			out = append(out, s)
		}
	}
	return out
}

// profiles validates ecs.profiles.
func (p *cfgParser) profiles(key string, v any) []string {
	list, idx, _ := p.strList(key, v, `"ops"`)
	if list == nil {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	for n, s := range list {
		ek := elemKey(key, idx[n])
		if msg := profileNameProblem(s); msg != "" {
			p.failAt(ek, key, "%q %s", s, msg)
			continue
		}
		if seen[s] {
			p.failAt(ek, key, "%q is listed twice; remove one", s)
			continue
		}
		seen[s] = true
		out = append(out, s)
	}
	return out
}

// profileNameProblem says why s can't be a profile name, or "" if it can.
// A "/" would make /role/<profile> and the IMDS role path ambiguous.
func profileNameProblem(s string) string {
	switch {
	case s == "":
		return "is empty; name an AWS profile, e.g. \"default\""
	case strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return "contains whitespace; AWS profile names cannot"
	case strings.ContainsRune(s, '/'):
		return "contains \"/\", which cannot be served in a URL path; rename the profile"
	}
	return ""
}

// validRegion accepts the shape of every AWS region name (lower-case
// letters, digits and inner hyphens) without a list that would go stale.
func validRegion(s string) bool {
	if s[0] == '-' || s[len(s)-1] == '-' || !strings.ContainsRune(s, '-') {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// maxConns is a connection cap: 16..65536, so that a typo cannot lock the
// local clients out (0) or lift the bound (a huge number).
func (p *cfgParser) maxConns(key string, v any) int {
	n, ok := v.(int64)
	switch {
	case !ok:
		p.fail(key, "must be a number of connections, e.g. %d, not %s", DefaultMaxConnections, tomlTypeName(v))
		return DefaultMaxConnections
	case n < 16 || n > 65536:
		p.fail(key, "%d is out of range; use 16 to 65536 (default %d)", n, DefaultMaxConnections)
		return DefaultMaxConnections
	}
	return int(n)
}
