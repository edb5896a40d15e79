// Command sdkv2 resolves credentials the way an unmodified aws-sdk-go-v2
// program does (config.LoadDefaultConfig: environment, shared config, ECS
// container endpoint, EC2 IMDS) and signs sts:GetCallerIdentity with them,
// -calls times, -sleep apart, in one process (so the SDK's own credential
// cache and refresh logic is what is exercised).
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/imdsd/imdsd/test/conformance/goclients/internal/report"
)

func main() {
	f := report.Parse()
	ctx := context.Background()
	// Everything comes from the environment and the shared config files,
	// including the STS endpoint (AWS_ENDPOINT_URL_STS).
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sdkv2: load config:", err)
		os.Exit(1)
	}
	client := sts.NewFromConfig(cfg)
	failed := false
	for i := 1; i <= f.Calls; i++ {
		if i > 1 {
			time.Sleep(f.Sleep)
		}
		var akid string
		out, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}, func(o *sts.Options) {
			o.APIOptions = append(o.APIOptions, func(s *middleware.Stack) error {
				return s.Finalize.Add(signedKey(&akid), middleware.After)
			})
		})
		if err != nil {
			report.Fail(i, akid, err)
			failed = true
			continue
		}
		report.OK(i, akid, aws.ToString(out.Arn))
	}
	if failed {
		os.Exit(1)
	}
}

// signedKey records the access key id of the signed request, as sent.
func signedKey(akid *string) middleware.FinalizeMiddleware {
	return middleware.FinalizeMiddlewareFunc("conformanceSignedKey", func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
		if req, ok := in.Request.(*smithyhttp.Request); ok {
			*akid = report.AccessKeyID(req.Header.Get("Authorization"))
		}
		return next.HandleFinalize(ctx, in)
	})
}
