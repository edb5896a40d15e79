package daemon

import (
	"cmp"
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
	// keyringBackend is written into [keyring] by writeConfig, with
	// keyringTOML after it.
	keyringBackend string
	keyringTOML    string
	cfgPath        string
	d              *Daemon
	cancel         context.CancelFunc
	done           chan error
	logs           *syncBuffer
	hc             *http.Client // the test's clients of this daemon
	imdsURL        string
	ecsURL         string
	token          string
}

type envOptions struct {
	awsConfig string // extra AWS config text after the base profiles
	awsCreds  string // the credentials file; "" = baseAWSCreds
	// keyringBackend is [keyring] backend; "" = the file backend in the
	// test's directory.
	keyringBackend string
	keyringTOML    string // extra [keyring] lines
	imdsdTOML      string // extra top-level TOML lines
	ecsTOML        string // extra [ecs] lines
	demo           bool
	watch          bool
	tune           func(*Options)
	// awsConfigFn adds AWS config text that needs the fake STS's URL.
	awsConfigFn func(stsURL string) string
	// wrap runs after New and before Run, to reach into the daemon.
	wrap func(*Daemon)
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
	// Whole-second expiries, as real STS issues them: a document shows
	// its expiry to the second, so a served document then names exactly
	// the issued expiry, and the broker's MinRemaining is all the margin
	// a client has in transit (not MinRemaining less up to a second).
	s.SetClock(func() time.Time { return time.Now().Truncate(time.Second) })
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
	e := &testEnv{t: t, dir: t.TempDir(), logs: &syncBuffer{}, hc: newClientHTTP()}
	e.sts = newFakeSTS(t)
	if o.awsConfigFn != nil {
		o.awsConfig += o.awsConfigFn(e.sts.URL())
	}
	e.awsCfg = filepath.Join(e.dir, "aws", "config")
	e.awsCreds = filepath.Join(e.dir, "aws", "credentials")
	e.cfgPath = filepath.Join(e.dir, "imdsd", "config.toml")
	must(t, os.MkdirAll(filepath.Dir(e.awsCfg), 0o700))
	must(t, os.MkdirAll(filepath.Dir(e.cfgPath), 0o700))
	must(t, os.WriteFile(e.awsCfg, []byte(e.awsText(baseAWSConfig+o.awsConfig)), 0o600))
	must(t, os.WriteFile(e.awsCreds, []byte(cmp.Or(o.awsCreds, baseAWSCreds)), 0o600))
	e.keyringBackend = cmp.Or(o.keyringBackend, "file")
	e.keyringTOML = o.keyringTOML
	e.writeConfig(o.imdsdTOML, o.ecsTOML)

	opt := Options{
		ConfigPath: e.cfgPath,
		Demo:       o.demo,
		Logger:     newTestLogger(e.logs),
		AWSFiles:   &config.AWSFiles{Config: []string{e.awsCfg}, Credentials: []string{e.awsCreds}},
		NoWatch:    !o.watch,
		Debounce:   50 * time.Millisecond,
		StateDir:   filepath.Join(e.dir, "state"),
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
	if o.wrap != nil {
		o.wrap(d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel, e.done = cancel, make(chan error, 1)
	go func() { e.done <- d.Run(ctx) }()
	select {
	case <-d.Ready():
	case err := <-e.done:
		t.Fatalf("Run: %v\n%s", err, e.logs)
	case <-time.After(patience):
		t.Fatalf("daemon not ready in %v", patience)
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

// patience bounds every wait for something the daemon is expected to do:
// only a failure ever waits this long, so it is generous enough for a
// 2-core machine under -race and other load, and decides nothing else.
const patience = 30 * time.Second

// fakeSTSServices points every profile in an AWS config at the fake STS
// with the SDK's own setting, as a user would: a services section, named
// by each profile that names none itself. (Not AWS_ENDPOINT_URL_STS: a
// process-wide variable would keep the tests from running in parallel.)
// The SDK takes the endpoint from the profile it loads, which for a role
// is the role's profile, not its source_profile.
func fakeSTSServices(text, stsURL string) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	var out []string
	for i, line := range lines {
		out = append(out, line)
		if h := strings.TrimSpace(line); h != "[default]" && !strings.HasPrefix(h, "[profile ") {
			continue
		}
		named := false
		for _, l := range lines[i+1:] {
			l = strings.TrimSpace(l)
			if strings.HasPrefix(l, "[") {
				break
			}
			if k, _, ok := strings.Cut(l, "="); ok && strings.TrimSpace(k) == "services" {
				named = true
			}
		}
		if !named {
			out = append(out, "services = fakests")
		}
	}
	out = append(out, "", "[services fakests]", "sts =", "  endpoint_url = "+stsURL)
	return strings.Join(out, "\n") + "\n"
}

// awsText is an AWS config as this test's daemon reads it: pointed at
// this test's fake STS.
func (e *testEnv) awsText(text string) string { return fakeSTSServices(text, e.sts.URL()) }

// writeAWSConfig replaces the AWS config by rename, as editors do.
func (e *testEnv) writeAWSConfig(text string) {
	e.t.Helper()
	writeAtomic(e.t, e.awsCfg, e.awsText(text))
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
[keyring]
backend = %q
file_dir = %q
%s
`, e.socket(), top, filepath.Join(e.dir, "imdsd", "ecs-token"), ecs, e.keyringBackend, filepath.Join(e.dir, "keyring"), e.keyringTOML)
	writeAtomic(e.t, e.cfgPath, toml)
}

func (e *testEnv) socket() string { return filepath.Join(e.dir, "imdsd", "control.sock") }

func (e *testEnv) client() *control.Client { return control.NewClient(e.socket()) }

func (e *testEnv) stop() {
	if e.cancel == nil {
		return
	}
	// A connection the clients opened and never used counts as a request
	// about to arrive: the daemon's shutdown would give it its 5 s grace.
	e.hc.CloseIdleConnections()
	e.cancel()
	select {
	case <-e.done:
	case <-time.After(patience):
		e.t.Errorf("daemon did not stop in %v", patience)
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

// newClientHTTP is the HTTP client of one test's clients: shared by the SDK
// providers it builds (a fresh provider per resolution, as a fresh process
// would), so connections are reused rather than leaked, and its own, so
// that a test's connections go with its daemon. A plain http.Client:
// given a BuildableClient the IMDS client imposes a 250 ms dial timeout,
// which a 2-core machine under -race (and other suites) misses now and
// then; that would test the machine, not imdsd.
func newClientHTTP() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256}, Timeout: patience}
}

// ec2Creds resolves credentials the way the Go SDK does on EC2: token PUT,
// listing, document.
func (e *testEnv) ec2Creds(ctx context.Context) (aws.Credentials, error) {
	p := ec2rolecreds.New(func(o *ec2rolecreds.Options) {
		o.Client = imds.New(imds.Options{Endpoint: e.imdsURL, HTTPClient: e.hc})
	})
	return p.Retrieve(ctx)
}

// ec2CredsOnce is ec2Creds for a resolution expected to fail: without the
// IMDS client's retries, which back off for seconds on a 5xx.
func (e *testEnv) ec2CredsOnce(ctx context.Context) (aws.Credentials, error) {
	p := ec2rolecreds.New(func(o *ec2rolecreds.Options) {
		o.Client = imds.New(imds.Options{Endpoint: e.imdsURL, HTTPClient: e.hc, Retryer: aws.NopRetryer{}})
	})
	return p.Retrieve(ctx)
}

// ecsCreds resolves credentials the way the Go SDK does in a container.
func (e *testEnv) ecsCreds(ctx context.Context, path string) (aws.Credentials, error) {
	p := endpointcreds.New(e.ecsURL+path, func(o *endpointcreds.Options) {
		o.AuthorizationToken = e.token
		o.HTTPClient = e.hc
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
	resp, err := e.hc.Do(req)
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
	resp, err := e.hc.Do(req)
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
