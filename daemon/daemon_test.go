package daemon

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	imdsd "github.com/imdsd/imdsd/imds"
	"github.com/imdsd/imdsd/test/fakests"
)

func newTestLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// assertNoSecretsLogged fails if any secret the test saw reached the logs.
func assertNoSecretsLogged(t *testing.T, logs string, secrets ...string) {
	t.Helper()
	for _, s := range append(secrets, baseKey) {
		if s != "" && strings.Contains(logs, s) {
			t.Fatalf("a secret (%.6s...) was logged", s)
		}
	}
}

func TestSDKsResolveAssumedRoleFromIMDSAndECS(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{ecsTOML: `profiles = ["ops"]`})
	ctx := context.Background()

	c, err := e.ec2Creds(ctx)
	if err != nil {
		t.Fatalf("ec2rolecreds: %v\n%s", err, e.logs)
	}
	iss, ok := e.sts.Issued(c.AccessKeyID)
	if !ok {
		t.Fatalf("IMDS served %s, which the fake STS never issued", c.AccessKeyID)
	}
	if iss.RoleArn != devRole || iss.SourceAccessKeyID != baseKeyID {
		t.Fatalf("IMDS served creds for %s from %s; want %s assumed with %s", iss.RoleArn, iss.SourceAccessKeyID, devRole, baseKeyID)
	}
	if !c.Expires.Equal(iss.Expires.Truncate(time.Second)) {
		t.Fatalf("expiry %v, fake STS issued %v", c.Expires, iss.Expires)
	}
	if c.AccessKeyID == baseKeyID {
		t.Fatal("long-term key served")
	}
	arn, err := e.callerARN(ctx, c)
	if err != nil {
		t.Fatalf("signing with served creds: %v", err)
	}
	if !strings.HasPrefix(arn, "arn:aws:sts::"+account+":assumed-role/dev/") {
		t.Fatalf("caller %s, want the dev role", arn)
	}

	// ECS: the default profile at /creds, another at /role/ops.
	ec, err := e.ecsCreds(ctx, "/creds")
	if err != nil {
		t.Fatalf("endpointcreds /creds: %v", err)
	}
	if ec.AccessKeyID != c.AccessKeyID {
		t.Fatalf("/creds served %s, IMDS %s: same profile must share credentials", ec.AccessKeyID, c.AccessKeyID)
	}
	if ec.AccountID != account {
		t.Fatalf("AccountID %q, want %s", ec.AccountID, account)
	}
	oc, err := e.ecsCreds(ctx, "/role/ops")
	if err != nil {
		t.Fatalf("endpointcreds /role/ops: %v", err)
	}
	arn, err = e.callerARN(ctx, oc)
	if err != nil || !strings.Contains(arn, ":assumed-role/ops/") {
		t.Fatalf("ops creds identify as %q (%v), want the ops role", arn, err)
	}
	// Session name names the local user and host.
	if iss.SessionName == "" || strings.HasPrefix(iss.SessionName, "aws-go-sdk") {
		t.Fatalf("role session name %q, want user@host", iss.SessionName)
	}
	if code, _ := e.get(e.ecsURL+"/role/qa", map[string]string{"Authorization": e.token}); code != http.StatusNotFound {
		t.Fatalf("unserved profile: %d, want 404", code)
	}
	e.stop()
	assertNoSecretsLogged(t, e.logs.String(), c.SecretAccessKey, c.SessionToken, oc.SecretAccessKey, oc.SessionToken)
}

func TestConcurrentFirstRequestsMakeOneSTSCall(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	if _, err := e.ec2Creds(context.Background()); err != nil { // startup fetch done
		t.Fatal(err)
	}
	// Slow STS so all 200 requests arrive while the first fetch is in flight.
	e.sts.SetFault(fakests.Fault{Delay: 300 * time.Millisecond})
	before := e.sts.CallCount("AssumeRole")
	// A changed profile gets a new broker, whose first fetch sees the delay.
	writeAtomic(t, e.awsCfg, strings.Replace(readFile(t, e.awsCfg), "region = eu-west-2", "region = eu-west-3", 1))
	must(t, e.d.Reload(context.Background()))

	var wg sync.WaitGroup
	errs := make(chan error, 200)
	keys := sync.Map{}
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := e.ec2Creds(context.Background())
			if err != nil {
				errs <- err
				return
			}
			keys.Store(c.AccessKeyID, true)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("client failed: %v", err)
	}
	n := 0
	keys.Range(func(any, any) bool { n++; return true })
	if calls := e.sts.CallCount("AssumeRole") - before; calls != 1 || n != 1 {
		t.Fatalf("200 concurrent clients: %d AssumeRole calls, %d distinct keys; want 1 and 1", calls, n)
	}
}

func TestLongTermKeysAreExchangedWithGetSessionToken(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{imdsdTOML: `profile = "base"`})
	c, err := e.ec2Creds(context.Background())
	if err != nil {
		t.Fatalf("%v\n%s", err, e.logs)
	}
	if c.AccessKeyID == baseKeyID || c.SessionToken == "" {
		t.Fatal("long-term keys reached the client")
	}
	iss, ok := e.sts.Issued(c.AccessKeyID)
	if !ok || iss.Action != "GetSessionToken" || iss.SourceAccessKeyID != baseKeyID {
		t.Fatalf("served key not from GetSessionToken with the base keys: %+v", iss)
	}
	arn, err := e.callerARN(context.Background(), c)
	if err != nil || arn != userARN {
		t.Fatalf("session creds identify as %q (%v), want %s", arn, err, userARN)
	}
}

func TestSTSErrorsBecomeActionableMessages(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		fault fakests.Fault
		setup func(e *testEnv)
		want  []string
	}{
		{"access denied", fakests.Fault{Mode: fakests.FaultAccessDenied}, nil, []string{"trust policy", devRole, "base"}},
		{"expired source", fakests.Fault{Mode: fakests.FaultExpiredToken}, nil, []string{"expired or wrong", "base", baseKeyID}},
		{"sts down", fakests.Fault{}, func(e *testEnv) {
			// Nothing listening: the endpoint tried must be named.
			addr := closedPort(e.t)
			writeAtomic(e.t, e.awsCfg, fakeSTSServices(baseAWSConfig, "http://"+addr))
		}, []string{"could not reach STS", "127.0.0.1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := startEnv(t, envOptions{tune: func(o *Options) { o.broker.BackoffBase = time.Hour }})
			e.sts.SetFault(tc.fault)
			if tc.setup != nil {
				tc.setup(e)
			}
			// Change the profile so a fresh fetch happens under the fault.
			writeAtomic(t, e.awsCfg, strings.Replace(readFile(t, e.awsCfg), "region = eu-west-2", "region = eu-west-3", 1))
			must(t, e.d.Reload(context.Background()))
			tok := e.imdsToken()
			code, body := e.get(e.imdsURL+"/latest/meta-data/iam/security-credentials/dev", map[string]string{"X-aws-ec2-metadata-token": tok})
			if code < 500 || strings.Contains(body, "Success") {
				t.Fatalf("got %d %q; want a 5xx with the reason, never a Success document", code, body)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("body %q lacks %q", body, w)
				}
			}
			// ECS answers the same reason in a JSON error.
			code, body = e.get(e.ecsURL+"/creds", map[string]string{"Authorization": e.token})
			var doc map[string]string
			if code < 500 || json.Unmarshal([]byte(body), &doc) != nil || !strings.Contains(doc["message"], tc.want[0]) {
				t.Fatalf("ECS got %d %q", code, body)
			}
			if _, err := e.ec2CredsOnce(context.Background()); err == nil {
				t.Fatal("SDK got credentials while STS fails and nothing is cached")
			}
		})
	}
}

func TestServedCredentialsSurviveSTSOutage(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	c1, err := e.ec2Creds(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n0 := len(e.sts.Calls())
	e.sts.SetFault(fakests.Fault{Mode: fakests.Fault500})
	e.d.Refresh()
	waitFor(t, patience, func() bool {
		for _, c := range e.sts.Calls()[n0:] {
			if c.Status == http.StatusInternalServerError {
				return true
			}
		}
		return false
	}, "the refresh did not reach STS")
	c2, err := e.ec2Creds(context.Background())
	if err != nil {
		t.Fatalf("valid cached credentials not served during an STS outage: %v", err)
	}
	if c2.AccessKeyID != c1.AccessKeyID {
		t.Fatalf("served %s, want the cached %s", c2.AccessKeyID, c1.AccessKeyID)
	}
}

func TestGracefulShutdownFinishesInFlightRequests(t *testing.T) {
	t.Parallel()
	// handling is told when a request is in the daemon's hands: one still
	// in the listen backlog when shutdown begins is not in flight.
	handling := make(chan struct{}, 1)
	e := startEnv(t, envOptions{wrap: func(d *Daemon) {
		src := imdsd.SourceFunc(func(ctx context.Context, profile string, now time.Time) (imdsd.Credentials, error) {
			select {
			case handling <- struct{}{}:
			default:
			}
			return d.Credentials(ctx, profile, now)
		})
		d.ecs = imdsd.NewECS(src, imdsd.ECSSettings{}, imdsd.Options{Logger: d.log})
		d.ecsGuard = imdsd.NewGuard(imdsd.Policy{}, d.ecs)
	}})
	// STS answers nothing before the shutdown: the request waits for the
	// first fetch of a new broker until then.
	e.sts.SetFault(fakests.Fault{Delay: time.Hour})
	writeAtomic(t, e.awsCfg, strings.Replace(readFile(t, e.awsCfg), "region = eu-west-2", "region = eu-west-3", 1))
	must(t, e.d.Reload(context.Background()))
	type result struct {
		code int
		err  error
	}
	res := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, e.ecsURL+"/creds", nil)
		req.Header.Set("Authorization", e.token)
		resp, err := e.hc.Do(req)
		if err != nil {
			res <- result{err: err}
			return
		}
		resp.Body.Close()
		res <- result{code: resp.StatusCode}
	}()
	select {
	case <-handling:
	case r := <-res:
		t.Fatalf("answered before shutdown: %+v", r)
	}
	e.stop()
	r := <-res
	if r.err != nil {
		t.Fatalf("in-flight request cut by shutdown: %v", r.err)
	}
	// Shutdown ended the fetch it waited for: a clear 503, never a
	// dropped connection.
	if r.code != http.StatusServiceUnavailable {
		t.Fatalf("in-flight request got %d", r.code)
	}
	if _, err := net.DialTimeout("tcp", strings.TrimPrefix(e.ecsURL, "http://"), time.Second); err == nil {
		t.Fatal("listener still accepting after shutdown")
	}
}

func TestDemoModeNeedsNoAWS(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{demo: true, ecsTOML: `profiles = ["anything"]`})
	c, err := e.ec2Creds(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.AccessKeyID, "ASIADEMO") || time.Until(c.Expires) < 50*time.Minute {
		t.Fatalf("demo creds %s expiring %v", c.AccessKeyID, c.Expires)
	}
	if _, err := e.ecsCreds(context.Background(), "/role/anything"); err != nil {
		t.Fatal(err)
	}
	if n := e.sts.CallCount(""); n != 0 {
		t.Fatalf("demo mode made %d STS calls", n)
	}
	if !strings.Contains(e.logs.String(), "DEMO MODE") {
		t.Fatal("demo mode not marked in the logs")
	}
}

func TestBadConfigFailsStartWithLocation(t *testing.T) {
	t.Parallel()
	e := &testEnv{t: t, dir: t.TempDir()}
	e.cfgPath = e.dir + "/config.toml"
	writeAtomic(t, e.cfgPath, "profile = \"dev\"\n[imds]\nlisten = [\"127.0.0.1:99999\"]\n")
	_, err := New(Options{ConfigPath: e.cfgPath, Logger: newTestLogger(io.Discard)})
	if err == nil || !strings.Contains(err.Error(), e.cfgPath+":3") || !strings.Contains(err.Error(), "listen") {
		t.Fatalf("error %v; want file:line and key", err)
	}
}

func TestListenConflictNamesTheFix(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := t.TempDir()
	writeAtomic(t, dir+"/c.toml", "[imds]\nlisten = [\""+ln.Addr().String()+"\"]\n[ecs]\nlisten = []\ntoken_file = \""+dir+"/tok\"\n")
	d, err := New(Options{ConfigPath: dir + "/c.toml", Demo: true, Logger: newTestLogger(io.Discard), NoWatch: true})
	if err != nil {
		t.Fatal(err)
	}
	err = d.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "already") || !strings.Contains(err.Error(), "imds.listen") {
		t.Fatalf("Run on a busy port: %v", err)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
