// Command depfloor is the benchmark's floor for idle memory: the reference
// server (bench/refhttp, as bench/refserver) plus the one dependency imdsd cannot
// drop, aws-sdk-go-v2's shared-config loader, used once as the daemon uses
// it at its start: load a profile and fetch its credentials. What an idle
// imdsd holds above this is imdsd's own; what this holds above the
// reference is the SDK's (its package tables, clients and the collection
// they lead to). It prints its base URL as the first line on stdout.
package main

import (
	"context"
	"flag"

	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/imdsd/imdsd/bench/refhttp"
)

func main() {
	imdsBody := flag.String("imds-body", "", "file with the IMDS credential document")
	ecsBody := flag.String("ecs-body", "", "file with the ECS credential document")
	profile := flag.String("profile", "dev", "AWS profile whose credentials are fetched once at the start")
	region := flag.String("region", "us-east-1", "AWS region for the fetch")
	flag.Parse()
	refhttp.Main("depfloor", *imdsBody, *ecsBody, func() error {
		ctx := context.Background()
		cfg, err := config.LoadDefaultConfig(ctx, config.WithSharedConfigProfile(*profile), config.WithRegion(*region))
		if err == nil {
			_, err = cfg.Credentials.Retrieve(ctx)
		}
		return err
	})
}
