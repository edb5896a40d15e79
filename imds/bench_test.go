package imds

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// discardWriter is a ResponseWriter that keeps nothing, so the benchmarks
// count the handler's own allocations only.
type discardWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }
func (w *discardWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

func benchHandler(b *testing.B, h http.Handler, r *http.Request) {
	w := &discardWriter{h: http.Header{}}
	h.ServeHTTP(w, r)
	if w.code != 200 || w.n == 0 {
		b.Fatalf("status %d, %d bytes", w.code, w.n)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, r)
	}
}

func BenchmarkEC2CredentialGET(b *testing.B) {
	e, _ := newTestEC2(b, ec2Settings(), nil)
	e.now = func() time.Time { return t0 }
	r := req("GET", credsPath+"/dev", map[string]string{tokenHeader: e.tokens.mint(t0, 21600)})
	benchHandler(b, NewGuard(Policy{}, e), r)
}

func BenchmarkECSCredentialGET(b *testing.B) {
	e := newTestECS(b, ecsSettings(), staticSource(testCreds(), "dev"))
	e.now = func() time.Time { return t0 }
	benchHandler(b, NewGuard(Policy{}, e), ecsReq("GET", "/creds", ecsToken))
}

// BenchmarkLoopback compares full HTTP round trips over loopback, client
// included: a net/http server writing a constant JSON body (asked with no
// header, and with the same header the faces need) against the Guard and
// each face serving the same credentials. Compare ns/op of ec2 and ecs with
// the constant case that sends the same header.
func BenchmarkLoopback(b *testing.B) {
	c := liveCreds("ASIALOOPBACK00000001")
	src := staticSource(c, "dev")
	ec2 := NewEC2(src, ec2Settings(), quietOpts)
	tok := ec2.tokens.mint(time.Now(), 21600)
	body := renderEC2(c, time.Now())
	constant := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})

	for _, tc := range []struct {
		name, path, hdr, val string
		h                    http.Handler
	}{
		{"constant", "/", "", "", constant},
		{"constant-token-header", "/", tokenHeader, tok, constant},
		{"ec2", credsPath + "/dev", tokenHeader, tok, NewGuard(Policy{}, ec2)},
		{"constant-auth-header", "/", "Authorization", ecsToken, constant},
		{"ecs", "/creds", "Authorization", ecsToken, NewGuard(Policy{}, NewECS(src, ecsSettings(), quietOpts))},
	} {
		b.Run(tc.name, func(b *testing.B) {
			srv := httptest.NewServer(tc.h)
			defer srv.Close()
			tr := &http.Transport{MaxIdleConnsPerHost: 64, Proxy: nil}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				r, _ := http.NewRequestWithContext(context.Background(), "GET", srv.URL+tc.path, nil)
				if tc.hdr != "" {
					r.Header.Set(tc.hdr, tc.val)
				}
				for pb.Next() {
					resp, err := client.Do(r)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			})
		})
	}
}
