package daemon

import (
	"bufio"
	"context"
	"net"
	"os"
	"strings"
	"testing"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"

	"github.com/imdsd/imdsd/config"
	"github.com/imdsd/imdsd/internal/clientenv"
	"github.com/imdsd/imdsd/internal/relay"
)

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// applyExports sets the variables an `eval "$(imdsd env)"` would.
func applyExports(t *testing.T, out string) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "unset "):
			for _, k := range strings.Fields(line)[1:] {
				t.Setenv(k, "")
				os.Unsetenv(k)
			}
		case strings.HasPrefix(line, "export ") && !strings.HasPrefix(line, "export NO_PROXY"):
			k, v, _ := strings.Cut(strings.TrimPrefix(line, "export "), "=")
			t.Setenv(k, strings.Trim(v, "'"))
		}
	}
}

// Serial: `imdsd env` output is applied with t.Setenv.
func TestEnvPointsTheSDKAtTheDaemon(t *testing.T) {
	imdsAddr, ecsAddr := freePort(t), freePort(t)
	e := startEnv(t, envOptions{ecsTOML: `profiles = ["ops"]`})
	writeAtomic(t, e.cfgPath, strings.Replace(strings.Replace(readFile(t, e.cfgPath),
		`[imds]
listen = ["127.0.0.1:0"]`, `[imds]
listen = ["`+imdsAddr+`"]`, 1), `[ecs]
listen = ["127.0.0.1:0"]`, `[ecs]
listen = ["`+ecsAddr+`"]`, 1))
	must(t, e.d.Reload(context.Background()))
	cfg, err := config.Load(e.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		profile, wantIn, wantRole string
	}{
		{"", "AWS_EC2_METADATA_SERVICE_ENDPOINT=http://" + imdsAddr + "/", "dev"},
		{"ops", "AWS_CONTAINER_CREDENTIALS_FULL_URI=http://" + ecsAddr + "/role/ops", "ops"},
	} {
		out, err := clientenv.Render(cfg, clientenv.Options{Profile: tc.profile})
		if err != nil || !strings.Contains(out, tc.wantIn) {
			t.Fatalf("env --profile %q: %v\n%s", tc.profile, err, out)
		}
		t.Run("sdk-"+tc.wantRole, func(t *testing.T) {
			t.Setenv("AWS_PROFILE", "someone-else")
			t.Setenv("AWS_CONFIG_FILE", os.DevNull)
			t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
			applyExports(t, out)
			// The SDK's default chain, as any program would use it.
			ac, err := awsconfig.LoadDefaultConfig(context.Background(), awsconfig.WithRegion("us-east-1"))
			if err != nil {
				t.Fatal(err)
			}
			c, err := ac.Credentials.Retrieve(context.Background())
			if err != nil {
				t.Fatalf("default chain after `imdsd env`: %v", err)
			}
			if iss, _ := e.sts.Issued(c.AccessKeyID); !strings.HasSuffix(iss.RoleArn, ":role/"+tc.wantRole) {
				t.Fatalf("got %s's credentials, want %s", iss.RoleArn, tc.wantRole)
			}
		})
	}
	if _, err := clientenv.Render(cfg, clientenv.Options{Profile: "qa"}); err == nil || !strings.Contains(err.Error(), "ecs.profiles") {
		t.Fatalf("unserved profile: %v", err)
	}
	if _, err := clientenv.Render(cfg, clientenv.Options{Docker: true}); err == nil || !strings.Contains(err.Error(), "service install") {
		t.Fatalf("docker with loopback listeners: %v", err)
	}
}

func TestEnvDockerFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tok := dir + "/tok"
	must(t, os.WriteFile(tok, []byte("TOKEN-FAKE-123"), 0o600))
	cfg, err := config.Parse("c.toml", []byte(`profile = "dev"
[imds]
listen = ["169.254.169.254:80", "127.0.0.1:9911"]
[ecs]
listen = ["169.254.170.2:80"]
token_file = "`+tok+`"
profiles = ["ops"]
`))
	if err != nil {
		t.Fatal(err)
	}
	out, err := clientenv.Render(cfg, clientenv.Options{Docker: true, Profile: "ops"})
	if err != nil || strings.TrimSpace(out) != "-e AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/role/ops -e AWS_CONTAINER_AUTHORIZATION_TOKEN=TOKEN-FAKE-123" {
		t.Fatalf("docker flags: %v %q", err, out)
	}
	out, err = clientenv.Render(cfg, clientenv.Options{Compose: true, Profile: "ops"})
	if err != nil || out != "environment:\n  AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: \"/role/ops\"\n  AWS_CONTAINER_AUTHORIZATION_TOKEN: \"TOKEN-FAKE-123\"\n" {
		t.Fatalf("compose: %v %q", err, out)
	}
	out, err = clientenv.Render(cfg, clientenv.Options{})
	if err != nil || !strings.Contains(out, "AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:9911/") || !strings.Contains(out, "NO_PROXY") {
		t.Fatalf("host env prefers loopback: %v %q", err, out)
	}
}

// Serial: the relay takes an address, not a listener, so its port is
// released by freePort before the relay binds it, and a parallel test's
// listener could be handed it in between.
func TestRelayForwardsWithTheToken(t *testing.T) {
	e := startEnv(t, envOptions{ecsTOML: `profiles = ["ops"]`})
	addr := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- relay.Run(ctx, relay.Options{Listen: addr, Upstream: e.ecsURL, Token: e.token, Logger: newTestLogger(e.logs)})
	}()
	defer func() { cancel(); <-done }()
	waitFor(t, patience, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, "relay not listening")
	// A container knows no token: only the relative URI.
	p := endpointcreds.New("http://"+addr+"/role/ops", func(o *endpointcreds.Options) { o.HTTPClient = e.hc })
	c, err := p.Retrieve(context.Background())
	if err != nil {
		t.Fatalf("through the relay: %v", err)
	}
	if iss, _ := e.sts.Issued(c.AccessKeyID); iss.RoleArn != opsRole {
		t.Fatalf("relay served %s", iss.RoleArn)
	}
	if code, _ := e.get("http://"+addr+"/role/qa", nil); code != 404 {
		t.Fatalf("unknown profile through the relay: %d", code)
	}
	// The host daemon gone: a clear 502, not a hang.
	e.stop()
	code, body := e.get("http://"+addr+"/creds", nil)
	if code != 502 || !strings.Contains(body, "cannot reach the host daemon") {
		t.Fatalf("upstream down: %d %q", code, body)
	}
}
