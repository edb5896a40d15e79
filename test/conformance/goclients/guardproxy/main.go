// Command guardproxy is the conformance suite's loopback guard. Clients
// run with HTTP_PROXY/HTTPS_PROXY pointing here and NO_PROXY covering
// loopback, so any request a client would send off the machine (the real
// STS, 169.254.169.254, ...) arrives here instead and is refused with 403.
// It prints its base URL as the first stdout line and logs one line per
// refused request to stderr ("blocked method=CONNECT host=sts.amazonaws.com:443"),
// which the suite reads to report what a client tried to reach.
package main

import (
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	logger := log.New(os.Stderr, "guardproxy: ", 0)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if r.Method != http.MethodConnect && r.URL.Host != "" {
			host = r.URL.Host
		}
		logger.Printf("blocked method=%s host=%s", r.Method, host)
		http.Error(w, "blocked by the imdsd conformance suite: traffic must stay on loopback", http.StatusForbidden)
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
