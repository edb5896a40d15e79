// Command dockerclient is the static client test/e2e/docker.sh runs in a
// FROM-scratch container: nothing in it but this binary, so whatever
// credentials it finds come from the network (IMDS at 169.254.169.254 or
// the ECS endpoint its environment names).
//
//	dockerclient -sts http://169.254.170.2:4599
//	    resolves credentials with aws-sdk-go-v2's default chain and signs
//	    sts:GetCallerIdentity; prints "SOURCE ARN" (the provider that
//	    answered and the caller's ARN), never a key.
//	dockerclient -status GET -url http://169.254.170.2/role/nope -ecs-token
//	    prints the HTTP status of one request ("000" when there is no
//	    answer); -ecs-token adds $AWS_CONTAINER_AUTHORIZATION_TOKEN as the
//	    Authorization header, -header K=V adds others.
//	dockerclient -sleep 15m
//	    does nothing for that long: the main process of a long-lived
//	    container the suite runs the client in with docker exec.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

type headers []string

func (h *headers) String() string     { return strings.Join(*h, " ") }
func (h *headers) Set(v string) error { *h = append(*h, v); return nil }

func main() {
	var (
		stsURL, region, method, url string
		ecsToken                    bool
		hdrs                        headers
		timeout, sleep              time.Duration
	)
	flag.StringVar(&stsURL, "sts", "", "STS endpoint URL to call GetCallerIdentity on")
	flag.StringVar(&region, "region", "us-east-1", "region for the STS client")
	flag.StringVar(&method, "status", "", "print the HTTP status of one request with this `method` instead")
	flag.StringVar(&url, "url", "", "URL for -status")
	flag.BoolVar(&ecsToken, "ecs-token", false, "with -status: send $AWS_CONTAINER_AUTHORIZATION_TOKEN as Authorization")
	flag.Var(&hdrs, "header", "with -status: extra header `K=V` (repeatable)")
	flag.DurationVar(&timeout, "timeout", 30*time.Second, "overall time limit")
	flag.DurationVar(&sleep, "sleep", 0, "only sleep this long (a container's main process)")
	flag.Parse()

	if sleep > 0 {
		time.Sleep(sleep)
		return
	}

	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var err error
	switch {
	case method != "":
		err = status(ctx, method, url, ecsToken, hdrs)
	case stsURL != "":
		err = callerIdentity(ctx, stsURL, region)
	default:
		err = errors.New("give -sts URL or -status METHOD -url URL")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dockerclient:", err)
		os.Exit(1)
	}
}

func callerIdentity(ctx context.Context, stsURL, region string) error {
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(region))
	if err != nil {
		return fmt.Errorf("loading the default config: %w", err)
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("resolving credentials: %w", err)
	}
	out, err := sts.NewFromConfig(cfg, func(o *sts.Options) { o.BaseEndpoint = aws.String(stsURL) }).
		GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return fmt.Errorf("GetCallerIdentity with %s credentials: %w", creds.Source, err)
	}
	fmt.Println(creds.Source, aws.ToString(out.Arn))
	return nil
}

func status(ctx context.Context, method, url string, ecsToken bool, hdrs headers) error {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return err
	}
	if ecsToken {
		tok := os.Getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN")
		if tok == "" {
			return errors.New("-ecs-token: AWS_CONTAINER_AUTHORIZATION_TOKEN is not set")
		}
		req.Header.Set("Authorization", tok)
	}
	for _, h := range hdrs {
		k, v, ok := strings.Cut(h, "=")
		if !ok {
			return fmt.Errorf("-header %q: want K=V", h)
		}
		req.Header.Set(k, v)
	}
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		fmt.Println("000")
		return nil
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	fmt.Println(resp.StatusCode)
	return nil
}
