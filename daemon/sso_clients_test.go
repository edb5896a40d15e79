package daemon

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pipPython is the python3 on PATH when it has pip's boto3 (botocore 1.31
// or later reads AWS_ENDPOINT_URL_SSO, so it can be pointed at the fake).
func pipPython(t *testing.T) (py, aws string) {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3 on PATH")
	}
	out, err := exec.Command(py, "-c", `import sys, sysconfig, botocore; v = tuple(int(x) for x in botocore.__version__.split(".")[:2]); print(sys.executable if v >= (1, 31) else ""); print(sysconfig.get_path("scripts"))`).Output()
	lines := strings.Fields(string(out))
	if err != nil || len(lines) != 2 {
		t.Skip("no boto3 with AWS_ENDPOINT_URL_* support (botocore >= 1.31) for python3 on PATH: pip install boto3 awscli")
	}
	return lines[0], filepath.Join(lines[1], "aws")
}

// A token imdsd signed in and then renewed is read by pip's boto3 and AWS
// CLI v1 as their own: they get role credentials from the portal with it,
// with no sign-in and no renewal of their own.
func TestSSOCacheSharedWithBotocore(t *testing.T) {
	py, awsCLI := pipPython(t)
	fake, home := startFakeSSO(t)
	e := startEnv(t, envOptions{awsConfig: ssoAWSConfig, imdsdTOML: `profile = "sso"`, watch: true})
	watching(t, e)
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	ssoLogin(ctx, t, e, fake)
	tokens := fake.Calls("CreateToken")
	ageToken(t, ssoCache(home), time.Now().Add(10*time.Minute))
	waitFor(t, patience, func() bool { return fake.Calls("CreateToken") == tokens+1 }, "the daemon did not renew the token")
	waitFor(t, patience, func() bool { return fake.TokenValid(cachedAccessToken(t, ssoCache(home))) }, "the renewed token is not in the cache file")
	signIns, tokens, roles := fake.Calls("StartDeviceAuthorization"), fake.Calls("CreateToken"), fake.Calls("GetRoleCredentials")

	env := append(os.Environ(),
		"AWS_CONFIG_FILE="+e.awsCfg, "AWS_SHARED_CREDENTIALS_FILE="+e.awsCreds, "AWS_PROFILE=sso",
		"AWS_ENDPOINT_URL="+fake.URL(), // nothing else may leave loopback either
		// Anything that ignored the endpoints would hit a closed port.
		"HTTPS_PROXY=http://127.0.0.1:9", "HTTP_PROXY=http://127.0.0.1:9", "NO_PROXY=127.0.0.1",
		"AWS_EC2_METADATA_DISABLED=true",
	)
	script := `import boto3; c = boto3.Session().get_credentials().get_frozen_credentials(); print(c.access_key)`
	cmd := exec.CommandContext(ctx, py, "-c", script)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	akid := strings.TrimSpace(string(out))
	if err != nil {
		t.Fatalf("boto3: %v\n%s", err, out)
	}
	if c, ok := fake.Issued(akid); !ok || c.RoleName != "Dev" {
		t.Fatalf("boto3 resolved %q, which the portal did not issue for Dev", akid)
	}
	clients := []string{"boto3"}
	if _, err := os.Stat(awsCLI); err == nil {
		// CLI v1 has no export-credentials; configure list resolves the
		// credentials and shows their last four characters.
		cmd := exec.CommandContext(ctx, awsCLI, "configure", "list")
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("aws configure list: %v\n%s", err, out)
		}
		var shown string
		for _, l := range strings.Split(string(out), "\n") {
			if f := strings.Fields(l); len(f) >= 3 && f[0] == "access_key" {
				shown = strings.TrimLeft(f[1], "*")
			}
		}
		if shown == "" || fake.Calls("GetRoleCredentials") != roles+2 {
			t.Fatalf("aws configure list did not resolve SSO credentials:\n%s", out)
		}
		clients = append(clients, "aws CLI v1")
	}
	if n, m := fake.Calls("CreateToken")-tokens, fake.Calls("StartDeviceAuthorization")-signIns; n != 0 || m != 0 {
		t.Fatalf("%v: %d token renewals and %d sign-ins of their own, want none", clients, n, m)
	}
	t.Logf("read the imdsd-renewed token: %v", clients)
}
