package imds

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

func BenchmarkXLoop(b *testing.B) {
	c := liveCreds("ASIALOOPBACK00000001")
	src := staticSource(c, "dev")
	ec2 := NewEC2(src, ec2Settings(), quietOpts)
	tok := ec2.tokens.mint(time.Now(), 21600)
	body := appendEC2Doc(nil, c, time.Now(), false)
	constant := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	cl := []string{strconv.Itoa(len(body))}
	constCL := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Content-Type"] = hdrTextPlain
		h["Content-Length"] = cl
		w.WriteHeader(200)
		_, _ = w.Write(body)
	})
	s2 := ec2Settings()
	s2.TokensRequired = false
	ec2v1 := NewEC2(src, s2, quietOpts)
	for _, tc := range []struct {
		name string
		h    http.Handler
		path string
		hdr  string
		val  string
	}{
		{"constant", constant, "/", "", ""},
		{"constanthdr", constant, "/", tokenHeader, tok},
		{"constcl", constCL, "/", tokenHeader, tok},
		{"ec2v1", ec2v1, credsPath + "/dev", "X-Aws-Ec2-Metadata-Tokex", tok},
		{"ec2bare", ec2, credsPath + "/dev", tokenHeader, tok},
		{"ec2", NewGuard(Policy{}, ec2), credsPath + "/dev", tokenHeader, tok},
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
				}
			})
		})
	}
}
