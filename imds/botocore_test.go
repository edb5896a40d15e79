package imds

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"testing"
	"time"
)

// botocoreScript resolves credentials the way the AWS CLI and boto3 do:
// InstanceMetadataProvider for IMDS, ContainerProvider for the ECS URL.
const botocoreScript = `
import json, sys
from botocore.utils import InstanceMetadataFetcher
from botocore.credentials import InstanceMetadataProvider, ContainerProvider
imds_url, ecs_url, tok = sys.argv[1:4]
out = {}
fetcher = InstanceMetadataFetcher(timeout=2, num_attempts=1, base_url=imds_url)
for name, p in (("ec2", InstanceMetadataProvider(iam_role_fetcher=fetcher)),
                ("ecs", ContainerProvider(environ={
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI": ecs_url,
                    "AWS_CONTAINER_AUTHORIZATION_TOKEN": tok}))):
    c = p.load()
    if c is None:
        out[name] = None
        continue
    f = c.get_frozen_credentials()
    out[name] = {"key": f.access_key, "secret": f.secret_key, "token": f.token,
                 "expiry": c._expiry_time.isoformat()}
print(json.dumps(out))
`

// TestBotocore runs botocore, when installed, against both faces.
func TestBotocore(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("spawns python3")
	}
	py, err := exec.LookPath("python3")
	if err != nil || exec.Command(py, "-c", "import botocore").Run() != nil {
		t.Skip("python3 with botocore not installed")
	}
	want := liveCreds("ASIABOTOCORE00000001")
	src := staticSource(want, "dev")
	ec2 := httptest.NewServer(NewGuard(Policy{}, NewEC2(src, ec2Settings(), quietOpts)))
	defer ec2.Close()
	ecs := httptest.NewServer(NewGuard(Policy{}, NewECS(src, ecsSettings(), quietOpts)))
	defer ecs.Close()

	cmd := exec.Command(py, "-c", botocoreScript, ec2.URL+"/", ecs.URL+"/creds", ecsToken)
	// Loopback only, whatever the developer's proxy settings.
	cmd.Env = append(os.Environ(), "NO_PROXY=*", "no_proxy=*", "AWS_EC2_METADATA_DISABLED=false")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("botocore: %v\n%s", err, out)
	}
	var got map[string]*struct{ Key, Secret, Token, Expiry string }
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("botocore output %q: %v", out, err)
	}
	for _, face := range []string{"ec2", "ecs"} {
		c := got[face]
		if c == nil {
			t.Errorf("%s: botocore found no credentials", face)
			continue
		}
		exp, err := time.Parse(time.RFC3339, c.Expiry)
		if c.Key != want.AccessKeyID || c.Secret != want.SecretAccessKey || c.Token != want.SessionToken ||
			err != nil || !exp.Equal(want.Expires) {
			t.Errorf("%s: botocore got %+v, want keys of %+v", face, *c, want)
		}
	}
}
