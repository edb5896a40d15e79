package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// A profile the config does not serve is served at ECS /role/<profile>
// while an exec lease holds, and no longer once it is released.
func TestExecLeaseServesAProfileWhileItHolds(t *testing.T) {
	e := startEnv(t, envOptions{})
	ctx := context.Background()
	sess, hold, err := e.client().Exec(ctx, "ops")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(sess.URL, "/role/ops") || sess.Token != e.token {
		t.Fatalf("session %s (token ok %v)", sess.URL, sess.Token == e.token)
	}
	p := endpointcreds.New(sess.URL, func(o *endpointcreds.Options) { o.AuthorizationToken = sess.Token; o.HTTPClient = e.hc })
	c, err := p.Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if arn, err := e.callerARN(ctx, c); err != nil || !strings.Contains(arn, ":assumed-role/ops/") {
		t.Fatalf("exec credentials are %q (%v), want the ops role", arn, err)
	}
	st, err := e.client().Status(ctx)
	if err != nil || len(st.Profiles) != 2 || !strings.Contains(strings.Join(st.Profiles[1].ServedAt, " "), "imdsd exec") {
		t.Fatalf("status while exec holds: %+v %v", st.Profiles, err)
	}
	hold.Close()
	waitFor(t, 5*time.Second, func() bool {
		code, _ := e.get(sess.URL, map[string]string{"Authorization": sess.Token})
		return code == http.StatusNotFound
	}, "the exec profile is still served after its command ended")
	// What the config serves is untouched.
	if _, err := e.ecsCreds(ctx, "/creds"); err != nil {
		t.Fatal(err)
	}
}

// An exec of a profile that cannot be served fails with the reason, and
// leaves nothing served.
func TestExecOfAnUnknownProfileSaysSo(t *testing.T) {
	e := startEnv(t, envOptions{})
	_, _, err := e.client().Exec(context.Background(), "nope")
	if err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("exec nope: %v", err)
	}
	if code, _ := e.get(e.ecsURL+"/role/nope", map[string]string{"Authorization": e.token}); code != http.StatusNotFound {
		t.Fatalf("/role/nope after a failed exec: %d", code)
	}
}

// The real CLI: `imdsd exec ops -- CMD` gives CMD the ops role through the
// SDK's default chain, even with conflicting AWS_* variables in the
// caller's environment, and passes CMD's exit code through. ops names no
// region, so the command gets the one IMDS reports (dev's, eu-west-2).
func TestExecCommandGetsTheProfileAndItsExitCode(t *testing.T) {
	if os.Getenv("IMDSD_EXEC_CHILD") != "" {
		t.Skip("the child's part runs in TestExecChild")
	}
	bin := buildIMDSD(t)
	e := startEnv(t, envOptions{})
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "exec", "--socket", e.socket(), "ops", "--", self, "-test.run=^TestExecChild$")
	cmd.Env = append(os.Environ(),
		"IMDSD_EXEC_CHILD=1", "AWS_ENDPOINT_URL_STS="+e.sts.URL(),
		"AWS_ACCESS_KEY_ID=AKIAWRONGWRONGWRONG0", "AWS_SECRET_ACCESS_KEY=wrong", "AWS_PROFILE=dev",
		"AWS_CONFIG_FILE="+filepath.Join(e.dir, "none"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(e.dir, "none"),
	)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Fatalf("imdsd exec: %v, want exit code 7\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "caller arn:aws:sts::") || !strings.Contains(out.String(), ":assumed-role/ops/") || !strings.Contains(out.String(), "region eu-west-2") {
		t.Fatalf("the command did not get the ops role and region:\n%s", out.String())
	}
}

// TestExecChild is the command `imdsd exec` runs in the test above.
func TestExecChild(t *testing.T) {
	if os.Getenv("IMDSD_EXEC_CHILD") == "" {
		t.Skip("run by TestExecCommandGetsTheProfileAndItsExitCode")
	}
	ctx := context.Background()
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("caller %s region %s\n", *out.Arn, cfg.Region)
	os.Exit(7)
}

// buildIMDSD builds the CLI once per test binary.
func buildIMDSD(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "imdsd")
	cmd := exec.Command("go", "build", "-o", bin, "../cmd/imdsd")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}
