// Command imdsv1proxy stands in front of imdsd's IMDS listener and refuses
// the IMDSv2 token PUT (403 by default, as IMDS answers a PUT that carries
// X-Forwarded-For), so that a real SDK takes its IMDSv1 fallback path and
// sends its metadata GETs without a token. Everything else is passed
// through unchanged. It prints its base URL as the first stdout line and
// logs one line per request to stderr (method, path, whether a token header
// was sent, status); the suite reads that log to prove the client really
// used IMDSv1.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"syscall"
)

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func main() {
	target := flag.String("target", "", "imdsd IMDS base URL, e.g. http://127.0.0.1:9911")
	tokenStatus := flag.Int("token-status", http.StatusForbidden, "status for PUT /latest/api/token")
	flag.Parse()
	u, err := url.Parse(*target)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		log.Fatalf("imdsv1proxy: -target %q: want http://host:port", *target)
	}
	// Rewrite (unlike Director) adds no X-Forwarded-* headers, and SetURL
	// sets the Host header to the target's, so imdsd sees a plain loopback
	// client.
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(u) }}
	logger := log.New(os.Stderr, "imdsv1proxy: ", 0)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		if r.Method == http.MethodPut && r.URL.Path == "/latest/api/token" {
			http.Error(sw, "token PUT refused by imdsv1proxy", *tokenStatus)
		} else {
			rp.ServeHTTP(sw, r)
		}
		logger.Printf("method=%s path=%s token=%t status=%d", r.Method, r.URL.Path,
			r.Header.Get("X-aws-ec2-metadata-token") != "", sw.status)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("http://%s\n", ln.Addr())
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		<-sig
		os.Exit(0)
	}()
	log.Fatal(http.Serve(ln, h))
}
