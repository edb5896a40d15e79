package imds

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// fuzzRequest builds a request the way net/http's server would hand it
// over, but without the server's validation, so the handlers see the worst.
func fuzzRequest(method, path, host string, hdr map[string]string) *http.Request {
	r := &http.Request{
		Method:     method,
		URL:        &url.URL{Path: path},
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Host:       host,
		Header:     http.Header{},
		RemoteAddr: "127.0.0.1:40000",
	}
	for k, v := range hdr {
		r.Header[k] = []string{v}
	}
	return r
}

var validStatus = map[int]bool{200: true, 400: true, 401: true, 403: true, 404: true, 405: true, 503: true}

// hostAllowed is the Guard's rule restated for the oracle (no extra
// Hosts configured, loopback client).
func hostAllowed(host string) bool {
	if host == "" {
		return true
	}
	name := hostName(host)
	if strings.EqualFold(strings.TrimSuffix(name, "."), "localhost") {
		return true
	}
	a, err := netip.ParseAddr(name)
	if err != nil {
		return false
	}
	a = a.Unmap().WithZone("")
	return a.IsLoopback() || slices.Contains(metadataHosts, a)
}

func FuzzEC2Request(f *testing.F) {
	e, _ := newTestEC2(f, ec2Settings(), nil)
	e.tokens = newTokenSignerWithKey([32]byte{1, 2, 3})
	h := NewGuard(Policy{}, e)
	valid := e.tokens.mint(t0, 300)
	secret := testCreds().SecretAccessKey
	credPaths := map[string]bool{
		credsPath + "/dev": true, credsPath + "/dev/": true, credsExtPath + "/dev": true, credsExtPath + "/dev/": true,
	}

	for _, s := range []struct {
		method, path, host, tok, ttl, xff string
		sendTok, required                 bool
	}{
		{"GET", credsPath + "/dev", "169.254.169.254", valid, "", "", true, true},
		{"GET", credsPath + "/dev", "169.254.169.254", "", "", "", false, false},
		{"GET", credsPath + "/dev", "169.254.169.254", "", "", "10.0.0.1", false, false},
		{"GET", credsPath + "/dev", "169.254.169.254", "", "", "for=10.0.0.10", false, false}, // odd: Forwarded
		{"GET", credsPath + "/%2e%2e/dev", "169.254.169.254", valid, "", "", true, true},
		{"GET", credsPath + "/../security-credentials/dev", "169.254.169.254", valid, "", "", true, true},
		{"GET", credsPath + "/dev\r\nX-Injected: 1", "localhost", valid, "", "", true, true},
		{"GET", credsPath + "/dév", "localhost:80", valid, "", "", true, true},
		{"GET", credsPath + "/dev", "[fd00:ec2::254]:80", valid + "\r\n", "", "", true, true},
		{"GET", credsPath + "/dev", "evil.example", valid, "", "", true, true},
		{"HEAD", credsExtPath + "/dev/", "127.0.0.1:9911", valid, "", "", true, true},
		{"PUT", tokenPath, "169.254.169.254", "", "300", "", false, true},
		{"PUT", tokenPath, "169.254.169.254", "", "21600", "10.0.0.1", false, true},
		{"PUT", tokenPath, "169.254.169.254", "", strings.Repeat("9", 5000), "", false, true},
		{"GET", strings.Repeat("/latest", 2000), "169.254.169.254", strings.Repeat("A", 10000), "", "", true, true},
		{"get", credsPath + "/dev", "169.254.169.254", valid, "", "", true, true},
		{"", "", "", "", "", "", false, false},
		{"GET", "\x00\xff", "\x00", "\x00", "\x00", "", true, false},
	} {
		f.Add(s.method, s.path, s.host, s.tok, s.ttl, s.xff, s.sendTok, s.required)
	}

	f.Fuzz(func(t *testing.T, method, path, host, tok, ttl, xff string, sendTok, required bool) {
		st := ec2Settings()
		st.TokensRequired = required
		e.Update(st)
		hdr := map[string]string{}
		if sendTok {
			hdr[tokenHeader] = tok
		}
		if ttl != "" {
			hdr[ttlHeader] = ttl
		}
		// xff is a proxy's forwarding header: X-Forwarded-For, or RFC
		// 7239's Forwarded when its length is odd (one string parameter
		// for both keeps the seed corpus valid).
		if xff != "" {
			if len(xff)%2 == 1 {
				hdr["Forwarded"] = xff
			} else {
				hdr["X-Forwarded-For"] = xff
			}
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, fuzzRequest(method, path, host, hdr))
		body := w.Body.String()

		if !validStatus[w.Code] {
			t.Fatalf("status %d", w.Code)
		}
		// Without a token: IMDSv1 mode only, and never through a proxy.
		tokenOK := (sendTok && tok == valid) || (!sendTok && !required && xff == "")
		if strings.Contains(body, secret) {
			ok := w.Code == 200 && (method == "GET") && credPaths[path] && tokenOK && hostAllowed(host)
			if !ok {
				t.Fatalf("credentials served for %s %q host %q tok %v %q required %v: %d",
					method, path, host, sendTok, tok, required, w.Code)
			}
		}
		if w.Code == 200 && path == tokenPath {
			n, ok := parseTTL(ttl)
			if method != "PUT" || !ok || xff != "" || !e.tokens.valid(t0, body) || w.Header().Get(ttlHeader) == "" || n == 0 {
				t.Fatalf("token issued for %s ttl %q xff %q", method, ttl, xff)
			}
		}
		if w.Code == 200 && method != "GET" && method != "HEAD" && path != tokenPath {
			t.Fatalf("%s %q answered 200", method, path)
		}
		if w.Code == 200 && !tokenOK && method != "PUT" {
			t.Fatalf("%s %q answered 200 without a valid token", method, path)
		}
	})
}

func FuzzECSRequest(f *testing.F) {
	src := perProfileSource("dev", "prod", "ci")
	e := newTestECS(f, ecsSettings(), src)
	h := NewGuard(Policy{}, e)
	secret := testCreds().SecretAccessKey
	served := map[string]bool{"/creds": true, "/role/dev": true, "/role/prod": true, "/role/ci": true}

	for _, s := range []struct {
		method, path, host, auth string
		sendAuth                 bool
	}{
		{"GET", "/creds", "169.254.170.2", ecsToken, true},
		{"GET", "/creds", "169.254.170.2", "", false},
		{"GET", "/role/prod", "127.0.0.1:9912", "Bearer " + ecsToken, true},
		{"GET", "/role/%2e%2e/creds", "localhost", ecsToken, true},
		{"GET", "/role/../creds", "localhost", ecsToken, true},
		{"GET", "/role/dev\r\nX: y", "localhost", ecsToken + "\r\n", true},
		{"GET", "/role/dév", "[fd00:ec2::23]:80", ecsToken, true},
		{"GET", "/creds", "rebind.example", ecsToken, true},
		{"POST", "/creds", "localhost", ecsToken, true},
		{"GET", "/creds", "localhost", strings.Repeat("x", 100000), true},
		{"", "", "", "", false},
	} {
		f.Add(s.method, s.path, s.host, s.auth, s.sendAuth)
	}

	f.Fuzz(func(t *testing.T, method, path, host, auth string, sendAuth bool) {
		hdr := map[string]string{}
		if sendAuth {
			hdr["Authorization"] = auth
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, fuzzRequest(method, path, host, hdr))
		if !validStatus[w.Code] {
			t.Fatalf("status %d", w.Code)
		}
		if strings.Contains(w.Body.String(), secret) || w.Code == 200 {
			ok := w.Code == 200 && method == "GET" && served[path] && sendAuth && auth == ecsToken && hostAllowed(host)
			if !ok {
				t.Fatalf("%s %q host %q auth %v %q: %d %q", method, path, host, sendAuth, auth, w.Code, w.Body)
			}
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/json" && w.Code != 403 {
			t.Fatalf("Content-Type %q for %d", ct, w.Code)
		}
	})
}
