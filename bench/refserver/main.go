// Command refserver is the benchmark's yardstick: a plain net/http server
// answering the IMDSv2 and ECS credential requests with constant bodies
// (the same sizes and content types as imdsd's), so that what imdsd adds
// over net/http itself can be measured on the same machine. It prints its
// base URL as the first line on stdout and listens on loopback only.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
)

func main() {
	imdsBody := flag.String("imds-body", "", "file with the IMDS credential document")
	ecsBody := flag.String("ecs-body", "", "file with the ECS credential document")
	flag.Parse()
	imdsDoc, err1 := os.ReadFile(*imdsBody)
	ecsDoc, err2 := os.ReadFile(*ecsBody)
	ln, err3 := net.Listen("tcp", "127.0.0.1:0")
	for _, err := range []error{err1, err2, err3} {
		if err != nil {
			fmt.Fprintln(os.Stderr, "refserver:", err)
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
