package clientenv

import (
	"slices"
	"strings"
)

// conflicting are the variables an SDK would use before the container
// endpoint (or that point it elsewhere): a command run by `imdsd exec`
// must get its credentials from imdsd and nowhere else.
var conflicting = []string{
	"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
	"AWS_CREDENTIAL_EXPIRATION", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
	"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME",
	"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
	"AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
	"AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_EC2_METADATA_DISABLED",
	"AWS_REGION", "AWS_DEFAULT_REGION", "IMDSD_PROFILE",
}

// ExecEnv is environ (KEY=value entries) for a command that gets profile's
// credentials from the container endpoint at url with token, in region:
// what would compete with it is removed, the rest is kept.
func ExecEnv(environ []string, profile, url, token, region string) []string {
	out := slices.DeleteFunc(slices.Clone(environ), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return slices.Contains(conflicting, k)
	})
	out = append(out,
		"AWS_CONTAINER_CREDENTIALS_FULL_URI="+url,
		"AWS_CONTAINER_AUTHORIZATION_TOKEN="+token,
		"IMDSD_PROFILE="+profile, // for shell prompts, as AWS_VAULT is
	)
	if region != "" {
		out = append(out, "AWS_REGION="+region, "AWS_DEFAULT_REGION="+region)
	}
	// A proxy must not see the local endpoint (or its token).
	for i, kv := range out {
		for _, k := range []string{"NO_PROXY=", "no_proxy="} {
			if rest, ok := strings.CutPrefix(kv, k); ok && !strings.Contains(rest, "127.0.0.1") {
				out[i] = k + strings.TrimPrefix(rest+",127.0.0.1", ",")
			}
		}
	}
	if !slices.ContainsFunc(out, func(kv string) bool { return strings.HasPrefix(kv, "NO_PROXY=") }) {
		out = append(out, "NO_PROXY=127.0.0.1")
	}
	return out
}
