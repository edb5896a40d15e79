// Command sdkv1 resolves credentials the way an unmodified aws-sdk-go (v1)
// program does (session.NewSessionWithOptions with shared config enabled:
// environment, shared config, ECS container endpoint, EC2 IMDS) and signs
// sts:GetCallerIdentity with them, -calls times, -sleep apart, in one
// process.
//
// aws-sdk-go v1 does not read AWS_ENDPOINT_URL_STS, so this program maps it
// to an EndpointResolver for the "sts" service only, the documented v1 way
// to use a custom endpoint; the session hands the resolver to the STS
// client it builds for role_arn profiles too.
package main

//lint:file-ignore SA1019 aws-sdk-go v1 is deprecated; testing its users is the point.

import (
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/aws/endpoints"
	"github.com/aws/aws-sdk-go/aws/request"
	"github.com/aws/aws-sdk-go/aws/session"
	"github.com/aws/aws-sdk-go/service/sts"

	"github.com/imdsd/imdsd/test/conformance/goclients/internal/report"
)

func main() {
	f := report.Parse()
	stsURL := os.Getenv("AWS_ENDPOINT_URL_STS")
	if stsURL == "" {
		// Without it the SDK would call the real STS.
		fmt.Fprintln(os.Stderr, "sdkv1: AWS_ENDPOINT_URL_STS must be set")
		os.Exit(2)
	}
	def := endpoints.DefaultResolver()
	resolver := endpoints.ResolverFunc(func(service, region string, opts ...func(*endpoints.Options)) (endpoints.ResolvedEndpoint, error) {
		if service == sts.EndpointsID {
			return endpoints.ResolvedEndpoint{URL: stsURL, SigningRegion: region}, nil
		}
		return def.EndpointFor(service, region, opts...)
	})
	sess, err := session.NewSessionWithOptions(session.Options{
		SharedConfigState: session.SharedConfigEnable, // same as AWS_SDK_LOAD_CONFIG=1
		Config:            aws.Config{EndpointResolver: resolver},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "sdkv1: session:", err)
		os.Exit(1)
	}
	client := sts.New(sess)
	failed := false
	for i := 1; i <= f.Calls; i++ {
		if i > 1 {
			time.Sleep(f.Sleep)
		}
		var akid string
		req, out := client.GetCallerIdentityRequest(&sts.GetCallerIdentityInput{})
		// Send runs after Sign on every attempt: the header is what went out.
		req.Handlers.Send.PushFront(func(r *request.Request) {
			akid = report.AccessKeyID(r.HTTPRequest.Header.Get("Authorization"))
		})
		if err := req.Send(); err != nil {
			report.Fail(i, akid, err)
			failed = true
			continue
		}
		report.OK(i, akid, aws.StringValue(out.Arn))
	}
	if failed {
		os.Exit(1)
	}
}
