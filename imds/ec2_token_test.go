package imds

import (
	"strings"
	"testing"
	"time"
)

func TestEC2TokenPUT(t *testing.T) {
	t.Parallel()
	e, _ := newTestEC2(t, ec2Settings(), nil)
	tests := []struct {
		name    string
		method  string
		hdr     map[string]string
		want    int
		wantTTL string
	}{
		{name: "go v2 ttl", method: "PUT", hdr: map[string]string{ttlHeader: "300"}, want: 200, wantTTL: "300"},
		{name: "max ttl", method: "PUT", hdr: map[string]string{ttlHeader: "21600"}, want: 200, wantTTL: "21600"},
		{name: "min ttl", method: "PUT", hdr: map[string]string{ttlHeader: "1"}, want: 200, wantTTL: "1"},
		{name: "lower-case header name", method: "PUT", hdr: map[string]string{"x-aws-ec2-metadata-token-ttl-seconds": "60"}, want: 200, wantTTL: "60"},
		{name: "ttl 0", method: "PUT", hdr: map[string]string{ttlHeader: "0"}, want: 400},
		{name: "ttl 21601", method: "PUT", hdr: map[string]string{ttlHeader: "21601"}, want: 400},
		{name: "ttl abc", method: "PUT", hdr: map[string]string{ttlHeader: "abc"}, want: 400},
		{name: "ttl negative", method: "PUT", hdr: map[string]string{ttlHeader: "-300"}, want: 400},
		{name: "ttl signed", method: "PUT", hdr: map[string]string{ttlHeader: "+300"}, want: 400},
		{name: "ttl fraction", method: "PUT", hdr: map[string]string{ttlHeader: "300.5"}, want: 400},
		{name: "ttl huge", method: "PUT", hdr: map[string]string{ttlHeader: "99999999999999999999999"}, want: 400},
		{name: "ttl missing", method: "PUT", want: 400},
		{name: "forwarded", method: "PUT", hdr: map[string]string{ttlHeader: "300", "X-Forwarded-For": "10.0.0.1"}, want: 403},
		{name: "forwarded empty", method: "PUT", hdr: map[string]string{ttlHeader: "300", "X-Forwarded-For": ""}, want: 403},
		{name: "forwarded rfc 7239", method: "PUT", hdr: map[string]string{ttlHeader: "300", "Forwarded": "for=10.0.0.1"}, want: 403},
		{name: "GET", method: "GET", hdr: map[string]string{ttlHeader: "300"}, want: 405},
		{name: "HEAD", method: "HEAD", hdr: map[string]string{ttlHeader: "300"}, want: 405},
		{name: "POST", method: "POST", hdr: map[string]string{ttlHeader: "300"}, want: 405},
		{name: "DELETE", method: "DELETE", want: 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := serve(e, req(tt.method, tokenPath, tt.hdr))
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d (body %q)", w.Code, tt.want, w.Body)
			}
			if ct := w.Header().Get("Content-Type"); ct != "text/plain" {
				t.Errorf("Content-Type %q, want text/plain", ct)
			}
			switch tt.want {
			case 200:
				if got := w.Header().Get(ttlHeader); got != tt.wantTTL {
					t.Errorf("TTL header %q, want %q", got, tt.wantTTL)
				}
				tok := w.Body.String()
				if tok == "" || strings.ContainsAny(tok, "\r\n \t") {
					t.Errorf("token %q is empty or has whitespace", tok)
				}
				if !e.tokens.valid(t0, tok) {
					t.Errorf("issued token %q does not verify", tok)
				}
			case 405:
				if got := w.Header().Get("Allow"); got != "PUT" {
					t.Errorf("Allow %q, want PUT", got)
				}
			default:
				if w.Header().Get(ttlHeader) != "" {
					t.Errorf("error response echoes the TTL header")
				}
			}
		})
	}
}

func TestEC2TokenRequired(t *testing.T) {
	t.Parallel()
	credDoc := credsPath + "/dev"
	for _, required := range []bool{true, false} {
		s := ec2Settings()
		s.TokensRequired = required
		e, clk := newTestEC2(t, s, nil)
		valid := token(t, e, "300")
		short := token(t, e, "1")
		clk.Advance(time.Second) // short is now expired
		other, _ := newTestEC2(t, s, nil)
		foreign := token(t, other, "300")
		tampered := []byte(valid)
		tampered[len(tampered)-1] ^= 1

		// Token-less requests from a proxy are the SSRF path: 403 even
		// when tokens are optional.
		proxiedNoToken := map[bool]int{true: 401, false: 403}[required]
		xff := map[string]string{"X-Forwarded-For": "203.0.113.9"}
		tests := []struct {
			name string
			tok  *string
			hdr  map[string]string
			want int
		}{
			{name: "no token", tok: nil, want: map[bool]int{true: 401, false: 200}[required]},
			{name: "no token via X-Forwarded-For", hdr: xff, want: proxiedNoToken},
			{name: "no token via empty X-Forwarded-For", hdr: map[string]string{"X-Forwarded-For": ""}, want: proxiedNoToken},
			{name: "no token via Forwarded", hdr: map[string]string{"Forwarded": "for=203.0.113.9;proto=http"}, want: proxiedNoToken},
			{name: "no token via lower-case forwarded", hdr: map[string]string{"forwarded": "for=203.0.113.9"}, want: proxiedNoToken},
			{name: "valid via X-Forwarded-For", tok: &valid, hdr: xff, want: 200},
			{name: "valid via Forwarded", tok: &valid, hdr: map[string]string{"Forwarded": "for=203.0.113.9"}, want: 200},
			{name: "expired via X-Forwarded-For", tok: &short, hdr: xff, want: 401},
			{name: "valid", tok: &valid, want: 200},
			{name: "expired", tok: &short, want: 401},
			{name: "other key", tok: &foreign, want: 401},
			{name: "tampered", tok: ptr(string(tampered)), want: 401},
			{name: "garbage", tok: ptr("not-a-token"), want: 401},
			{name: "empty", tok: ptr(""), want: 401},
			{name: "too long", tok: ptr(valid + "AAAA"), want: 401},
			{name: "huge", tok: ptr(strings.Repeat("A", 64<<10)), want: 401},
			{name: "truncated", tok: ptr(valid[:len(valid)-1]), want: 401},
		}
		for _, path := range []string{credDoc, credsPath, metaPath + "/instance-id", metaPath + "/nope"} {
			for _, tt := range tests {
				t.Run(map[bool]string{true: "required", false: "optional"}[required]+"/"+tt.name+path, func(t *testing.T) {
					hdr := map[string]string{}
					for k, v := range tt.hdr {
						hdr[k] = v
					}
					if tt.tok != nil {
						hdr[tokenHeader] = *tt.tok
					}
					for _, method := range []string{"GET", "HEAD"} {
						w := serve(e, req(method, path, hdr))
						want := tt.want
						if want == 200 && strings.HasSuffix(path, "/nope") {
							want = 404
						}
						if w.Code != want {
							t.Fatalf("%s: status %d, want %d", method, w.Code, want)
						}
						if w.Code == 401 && strings.Contains(w.Body.String(), testCreds().AccessKeyID) {
							t.Fatalf("401 body leaks credentials")
						}
					}
				})
			}
		}
	}
}

func ptr(s string) *string { return &s }

func TestEC2TokenExpiry(t *testing.T) {
	t.Parallel()
	e, clk := newTestEC2(t, ec2Settings(), nil)
	tok := token(t, e, "300")
	get := func() int {
		return serve(e, req("GET", credsPath+"/dev", map[string]string{tokenHeader: tok})).Code
	}
	clk.Advance(299 * time.Second)
	if got := get(); got != 200 {
		t.Fatalf("at 299 s of a 300 s token: status %d, want 200", got)
	}
	clk.Advance(time.Second)
	if got := get(); got != 401 {
		t.Fatalf("at 300 s of a 300 s token: status %d, want 401", got)
	}
	tok = token(t, e, "300")
	if got := get(); got != 200 {
		t.Fatalf("fresh token after expiry: status %d, want 200", got)
	}
}

func TestEC2TokenSurvivesUpdate(t *testing.T) {
	t.Parallel()
	e, _ := newTestEC2(t, ec2Settings(), nil)
	tok := token(t, e, "300")
	s := ec2Settings()
	s.Region = "us-west-2"
	e.Update(s)
	w := serve(e, req("GET", placementPath+"/region", map[string]string{tokenHeader: tok}))
	if w.Code != 200 || w.Body.String() != "us-west-2" {
		t.Fatalf("after Update: %d %q, want 200 us-west-2", w.Code, w.Body)
	}
}

func TestTokenTamperEveryPosition(t *testing.T) {
	t.Parallel()
	s := newTokenSigner()
	tok := s.mint(t0, 300)
	if len(tok) != tokenLen {
		t.Fatalf("token length %d, want %d", len(tok), tokenLen)
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := range tok {
		for _, c := range []byte(alphabet) {
			if c == tok[i] {
				continue
			}
			b := []byte(tok)
			b[i] = c
			if s.valid(t0, string(b)) {
				t.Fatalf("token with position %d changed to %q verifies", i, c)
			}
		}
	}
}

// The expiry is inside the MAC: moving it forward invalidates the token.
func TestTokenExpiryIsAuthenticated(t *testing.T) {
	t.Parallel()
	s := newTokenSigner()
	raw := make([]byte, tokenRawLen)
	n, err := tokenEncoding.Decode(raw, []byte(s.mint(t0, 1)))
	if err != nil || n != tokenRawLen {
		t.Fatal(err)
	}
	raw[tokenExpiryLen-2]++ // about 4.6 hours later
	if s.valid(t0.Add(2*time.Second), tokenEncoding.EncodeToString(raw)) {
		t.Fatal("token with extended expiry verifies")
	}
}

// Verification needs only the key: a second signer with the same key
// accepts tokens it never saw, so there is no per-token state anywhere.
func TestTokenStateless(t *testing.T) {
	t.Parallel()
	a := newTokenSigner()
	b := newTokenSigner()
	tok := a.mint(t0, 300)
	if b.valid(t0, tok) {
		t.Fatal("token verifies under a different key")
	}
	b = newTokenSignerWithKey(a.key)
	if !b.valid(t0, tok) {
		t.Fatal("token does not verify under the same key in another signer")
	}
}

// Minting many tokens leaves the heap where it was. Not parallel: the
// heap is the process's, and other tests would move it.
func TestTokenMemoryFlat(t *testing.T) {
	e, _ := newTestEC2(t, ec2Settings(), nil)
	put := req("PUT", tokenPath, map[string]string{ttlHeader: "21600"})
	const n = 20000
	before := heapInUse()
	for range n {
		if w := serve(e, put); w.Code != 200 {
			t.Fatalf("PUT: %d", w.Code)
		}
	}
	after := heapInUse()
	// A token kept anywhere costs at least its 32 bytes and a header of
	// 16: 20,000 of them would be ~1 MB.
	if grow := int64(after) - int64(before); grow > 512<<10 {
		t.Fatalf("heap grew by %d bytes over %d tokens", grow, n)
	}
}

func TestParseTTL(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]int{"1": 1, "300": 300, "0300": 300, "21600": 21600} {
		if got, ok := parseTTL(v); !ok || got != want {
			t.Errorf("parseTTL(%q) = %d, %v; want %d, true", v, got, ok, want)
		}
	}
	for _, v := range []string{"", "0", "21601", " 300", "300 ", "3e2", "0x10", "-1", "+1", "99999999999"} {
		if got, ok := parseTTL(v); ok {
			t.Errorf("parseTTL(%q) = %d, true; want false", v, got)
		}
	}
}
