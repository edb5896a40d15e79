package daemon

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/imdsd/imdsd/test/fakests"
)

// The profile settings users write in ~/.aws/config reach STS as they
// would through the AWS CLI.
func TestProfileFeaturesReachSTS(t *testing.T) {
	t.Parallel()
	extRole := "arn:aws:iam::" + account + ":role/partner"
	chainRole := "arn:aws:iam::" + account + ":role/chained"
	e := startEnv(t, envOptions{
		awsConfig: `
[profile partner]
role_arn = ` + extRole + `
source_profile = base
external_id = ext-42
duration_seconds = 1800
role_session_name = alice-laptop

[profile chained]
role_arn = ` + chainRole + `
source_profile = dev

[profile proc]
credential_process = /bin/sh -c 'printf "{\"Version\":1,\"AccessKeyId\":\"` + baseKeyID + `\",\"SecretAccessKey\":\"` + baseKey + `\"}"'
`,
		ecsTOML: `profiles = ["partner", "chained", "proc"]`,
	})
	e.sts.AddRole(extRole, fakests.RoleOptions{TrustedPrincipals: []string{userARN}, ExternalID: "ext-42"})
	e.sts.AddRole(chainRole, fakests.RoleOptions{TrustedPrincipals: []string{devRole}})
	e.d.Refresh()
	ctx := context.Background()

	get := func(profile string) fakests.Issued {
		t.Helper()
		var iss fakests.Issued
		waitFor(t, patience, func() bool {
			c, err := e.ecsCreds(ctx, "/role/"+profile)
			if err != nil {
				return false
			}
			iss, _ = e.sts.Issued(c.AccessKeyID)
			return iss.AccessKeyID != ""
		}, "profile "+profile+" not served: "+tail(e.logs.String(), 5))
		return iss
	}
	if iss := get("partner"); iss.RoleArn != extRole || iss.SessionName != "alice-laptop" || time.Until(iss.Expires) > 31*time.Minute || time.Until(iss.Expires) < 29*time.Minute {
		t.Fatalf("partner: %+v (want external id honoured, session alice-laptop, 30m)", iss)
	}
	if iss := get("chained"); iss.RoleArn != chainRole || !strings.Contains(iss.Caller, ":assumed-role/dev/") {
		t.Fatalf("chained: %+v (want chained's role assumed by dev's session)", iss)
	}
	if iss := get("proc"); iss.Action != "GetSessionToken" || iss.SourceAccessKeyID != baseKeyID {
		t.Fatalf("credential_process with long-term keys: %+v (want them exchanged with GetSessionToken)", iss)
	}
}

// With no endpoint in the environment, a profile's services section
// decides where STS is: the SDK's own resolution. (A role profile's own
// endpoint_url is not used by the SDK for its AssumeRole call; the
// services section and AWS_ENDPOINT_URL_STS are.) Every test reaches its
// fake STS this way (fakeSTSServices); here the profile names a section
// of its own.
func TestProfileServicesEndpoint(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{
		imdsdTOML: `profile = "viaservices"`,
		awsConfigFn: func(url string) string {
			return `
[profile viaservices]
role_arn = ` + opsRole + `
source_profile = base
services = fake

[services fake]
sts =
  endpoint_url = ` + url + `
`
		},
	})
	c, err := e.ecsCreds(context.Background(), "/creds")
	if err != nil {
		t.Fatal(err)
	}
	if iss, _ := e.sts.Issued(c.AccessKeyID); iss.RoleArn != opsRole {
		t.Fatalf("served %s", iss.RoleArn)
	}
}
