// Command refserver is the benchmark's yardstick: a plain net/http server
// answering the IMDSv2 and ECS credential requests with constant bodies
// (the same sizes and content types as imdsd's), so that what imdsd adds
// over net/http itself can be measured on the same machine. It prints its
// base URL as the first line on stdout and listens on loopback only.
package main

import (
	"flag"

	"github.com/imdsd/imdsd/bench/refhttp"
)

func main() {
	imdsBody := flag.String("imds-body", "", "file with the IMDS credential document")
	ecsBody := flag.String("ecs-body", "", "file with the ECS credential document")
	flag.Parse()
	refhttp.Main("refserver", *imdsBody, *ecsBody, nil)
}
