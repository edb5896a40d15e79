// Command depfloor is the benchmark's floor for idle memory: the reference
// server (bench/refserver's handler) plus the one dependency imdsd cannot
// drop, aws-sdk-go-v2's shared-config loader, used once as the daemon uses
// it at its start: load a profile and fetch its credentials. What an idle
// imdsd holds above this is imdsd's own; what this holds above the
// reference is the SDK's (its package tables, clients and the collection
// they lead to). It prints its base URL as the first line on stdout.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/config"
)

func main() {
	imdsBody := flag.String("imds-body", "", "file with the IMDS credential document")
	ecsBody := flag.String("ecs-body", "", "file with the ECS credential document")
	profile := flag.String("profile", "dev", "AWS profile whose credentials are fetched once at the start")
	region := flag.String("region", "us-east-1", "AWS region for the fetch")
	flag.Parse()
	imdsDoc, err1 := os.ReadFile(*imdsBody)
	ecsDoc, err2 := os.ReadFile(*ecsBody)
	ln, err3 := net.Listen("tcp", "127.0.0.1:0")
	for _, err := range []error{err1, err2, err3} {
		if err != nil {
			fmt.Fprintln(os.Stderr, "depfloor:", err)
			os.Exit(1)
		}
	}
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx, config.WithSharedConfigProfile(*profile), config.WithRegion(*region))
	if err == nil {
		_, err = cfg.Credentials.Retrieve(ctx)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "depfloor:", err)
		os.Exit(1)
	}
	const token = "REFERENCEtokenREFERENCEtoken0001" // as refserver's
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
