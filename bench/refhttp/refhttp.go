// Package refhttp is the benchmark's plain net/http server: it answers the
// IMDSv2 and ECS credential requests with constant bodies (the same sizes
// and content types as imdsd's). bench/refserver is it alone, and
// bench/depfloor it plus the SDK's config loader, so the two differ by
// the SDK alone.
package refhttp

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
)

// Main reads the two documents, listens on loopback, runs before (nil:
// nothing), prints the base URL as the first line on stdout and serves
// until the process ends. Errors end the process, naming name.
func Main(name, imdsBody, ecsBody string, before func() error) {
	imdsDoc, err1 := os.ReadFile(imdsBody)
	ecsDoc, err2 := os.ReadFile(ecsBody)
	ln, err3 := net.Listen("tcp", "127.0.0.1:0")
	var err4 error
	if err1 == nil && err2 == nil && err3 == nil && before != nil {
		err4 = before()
	}
	for _, err := range []error{err1, err2, err3, err4} {
		if err != nil {
			fmt.Fprintln(os.Stderr, name+":", err)
			os.Exit(1)
		}
	}
	const token = "REFERENCEtokenREFERENCEtoken0001" // 32 bytes, as imdsd's
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		switch p := r.URL.Path; {
		case r.Method == http.MethodPut && p == "/latest/api/token":
			w.Header().Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", r.Header.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds"))
			w.Header().Set("Content-Type", "text/plain")
			w.Write([]byte(token))
		case strings.HasSuffix(p, "/security-credentials/"):
			w.Header().Set("Content-Type", "text/plain")
			w.Write([]byte("dev"))
		case strings.HasPrefix(p, "/latest/"):
			w.Header().Set("Content-Type", "text/plain")
			w.Write(imdsDoc)
		default:
			w.Header().Set("Content-Type", "application/json")
			w.Write(ecsDoc)
		}
	})
	fmt.Println("http://" + ln.Addr().String())
	fmt.Fprintln(os.Stderr, http.Serve(ln, nil))
}
