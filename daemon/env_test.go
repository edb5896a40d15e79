package daemon

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials/ec2rolecreds"
	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/imdsd/imdsd/config"
	"github.com/imdsd/imdsd/internal/broker"
	"github.com/imdsd/imdsd/internal/control"
	"github.com/imdsd/imdsd/test/fakests"
)

// Fake long-term keys of the fake STS's users: obviously not real.
const (
	account   = "111122223333"
	baseKeyID = "AKIAFAKEBASE00000001"
	baseKey   = "FAKEbaseSECRETkeyFAKEbaseSECRETkeyFAKE01"
	userARN   = "arn:aws:iam::" + account + ":user/alice"
	devRole   = "arn:aws:iam::" + account + ":role/dev"
	opsRole   = "arn:aws:iam::" + account + ":role/ops"
	qaRole    = "arn:aws:iam::" + account + ":role/qa"
)

// testEnv is a running daemon wired to a fake STS through real AWS files.
type testEnv struct {
	t        *testing.T
	sts      *fakests.Server
	dir      string
	awsCfg   string
	awsCreds string
	cfgPath  string
	d        *Daemon
	cancel   context.CancelFunc
	done     chan error
	logs     *syncBuffer
	imdsURL  string
	ecsURL   string
	token    string
}

type envOptions struct {
	awsConfig string // extra AWS config text after the base profiles
	imdsdTOML string // extra top-level TOML lines
	ecsTOML   string // extra [ecs] lines
	demo      bool
	watch     bool
	tune      func(*Options)
	// stsByProfile: no AWS_ENDPOINT_URL_STS; the AWS config must point at
	// the fake STS itself (awsConfigFn gets its URL).
	stsByProfile bool
	awsConfigFn  func(stsURL string) string
}

const baseAWSConfig = `[profile base]
region = eu-west-1

[profile dev]
role_arn = ` + devRole + `
source_profile = base
region = eu-west-2

[profile ops]
role_arn = ` + opsRole + `
source_profile = base
`

const baseAWSCreds = `[base]
aws_access_key_id = ` + baseKeyID + `
aws_secret_access_key = ` + baseKey + `
`

func newFakeSTS(t *testing.T) *fakests.Server {
	t.Helper()
	s := fakests.New()
	s.SetLogf(func(string, ...any) {})
	s.AddUser(baseKeyID, baseKey, userARN)
	for _, r := range []string{devRole, opsRole, qaRole} {
		s.AddRole(r, fakests.RoleOptions{TrustedPrincipals: []string{userARN}})
	}
	if _, err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func startEnv(t *testing.T, o envOptions) *testEnv {
	t.Helper()
	e := &testEnv{t: t, dir: t.TempDir(), logs: &syncBuffer{}}
	e.sts = newFakeSTS(t)
	// STS endpoint through the SDK's own setting, as a user would.
	t.Setenv("AWS_ENDPOINT_URL_STS", e.sts.URL())
	if o.stsByProfile {
		os.Unsetenv("AWS_ENDPOINT_URL_STS")
		os.Unsetenv("AWS_ENDPOINT_URL")
	}
	if o.awsConfigFn != nil {
		o.awsConfig += o.awsConfigFn(e.sts.URL())
	}
	for _, k := range []string{"AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	e.awsCfg = filepath.Join(e.dir, "aws", "config")
	e.awsCreds = filepath.Join(e.dir, "aws", "credentials")
	e.cfgPath = filepath.Join(e.dir, "imdsd", "config.toml")
	must(t, os.MkdirAll(filepath.Dir(e.awsCfg), 0o700))
	must(t, os.MkdirAll(filepath.Dir(e.cfgPath), 0o700))
	must(t, os.WriteFile(e.awsCfg, []byte(baseAWSConfig+o.awsConfig), 0o600))
	must(t, os.WriteFile(e.awsCreds, []byte(baseAWSCreds), 0o600))
	e.writeConfig(o.imdsdTOML, o.ecsTOML)

	opt := Options{
		ConfigPath: e.cfgPath,
		Demo:       o.demo,
		Logger:     newTestLogger(e.logs),
		AWSFiles:   &config.AWSFiles{Config: []string{e.awsCfg}, Credentials: []string{e.awsCreds}},
		NoWatch:    !o.watch,
		Debounce:   50 * time.Millisecond,
	}
	opt.HTTPClient = loopbackOnlyHTTP
	opt.broker = broker.Options{BackoffBase: 50 * time.Millisecond, BackoffCap: 200 * time.Millisecond}
	if o.tune != nil {
		o.tune(&opt)
	}
	d, err := New(opt)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.d = d
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel, e.done = cancel, make(chan error, 1)
	go func() { e.done <- d.Run(ctx) }()
	select {
	case <-d.Ready():
	case err := <-e.done:
		t.Fatalf("Run: %v\n%s", err, e.logs)
	case <-time.After(5 * time.Second):
		t.Fatal("daemon not ready in 5s")
	}
	t.Cleanup(e.stop)
	addrs := d.Addrs()
	if len(addrs["imds"]) > 0 {
		e.imdsURL = "http://" + addrs["imds"][0]
	}
	if len(addrs["ecs"]) > 0 {
		e.ecsURL = "http://" + addrs["ecs"][0]
	}
	e.token = d.ECSToken()
	return e
}

func (e *testEnv) writeConfig(top, ecs string) {
	e.t.Helper()
	if !strings.Contains(top, "profile =") {
		top = `profile = "dev"` + "\n" + top
	}
	toml := fmt.Sprintf(`control_socket = %q
%s
[imds]
listen = ["127.0.0.1:0"]
[ecs]
listen = ["127.0.0.1:0"]
token_file = %q
%s
`, e.socket(), top, filepath.Join(e.dir, "imdsd", "ecs-token"), ecs)
	writeAtomic(e.t, e.cfgPath, toml)
}

func (e *testEnv) socket() string { return filepath.Join(e.dir, "imdsd", "control.sock") }

func (e *testEnv) client() *control.Client { return control.NewClient(e.socket()) }

func (e *testEnv) stop() {
	if e.cancel == nil {
		return
	}
	e.cancel()
	select {
	case <-e.done:
	case <-time.After(10 * time.Second):
		e.t.Error("daemon did not stop in 10s")
	}
	e.cancel = nil
}

// loopbackOnlyHTTP is the daemon's STS client in tests: a profile that
// would reach real AWS fails at once instead of sending anything.
var loopbackOnlyHTTP = awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
	tr.Proxy = nil
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if ip, err := netip.ParseAddr(host); err != nil || !ip.IsLoopback() {
			return nil, fmt.Errorf("test guard: refusing to dial %s: tests talk to the fake STS on loopback only", addr)
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
})

// sdkHTTP is shared by the SDK clients the tests build (a fresh provider
// per resolution, as a fresh process would), so connections are reused
// rather than leaked. A plain http.Client: given a BuildableClient the
// IMDS client imposes a 250 ms dial timeout, which a 2-core machine under
// -race (and other suites) misses now and then; that would test the
// machine, not imdsd.
var sdkHTTP = &http.Client{Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256}, Timeout: 10 * time.Second}

// ec2Creds resolves credentials the way the Go SDK does on EC2: token PUT,
// listing, document.
func (e *testEnv) ec2Creds(ctx context.Context) (aws.Credentials, error) {
	p := ec2rolecreds.New(func(o *ec2rolecreds.Options) {
		o.Client = imds.New(imds.Options{Endpoint: e.imdsURL, HTTPClient: sdkHTTP})
	})
	return p.Retrieve(ctx)
}

// ecsCreds resolves credentials the way the Go SDK does in a container.
func (e *testEnv) ecsCreds(ctx context.Context, path string) (aws.Credentials, error) {
	p := endpointcreds.New(e.ecsURL+path, func(o *endpointcreds.Options) {
		o.AuthorizationToken = e.token
		o.HTTPClient = sdkHTTP
	})
	return p.Retrieve(ctx)
}

// callerARN signs GetCallerIdentity with c against the fake STS, which
// accepts only keys it issued with their token.
func (e *testEnv) callerARN(ctx context.Context, c aws.Credentials) (string, error) {
	client := sts.New(sts.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(e.sts.URL()),
		Credentials:  aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return c, nil }),
	})
	out, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.Arn), nil
}

func (e *testEnv) get(url string, hdr map[string]string) (int, string) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (e *testEnv) imdsToken() string {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPut, e.imdsURL+"/latest/api/token", nil)
	req.Header.Set("X-aws-ec2-metadata-token-ttl-seconds", "21600")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// writeAtomic replaces a file by rename, as editors do.
func writeAtomic(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	must(t, os.WriteFile(tmp, []byte(content), 0o600))
	must(t, os.Rename(tmp, path))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// syncBuffer collects logs from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
