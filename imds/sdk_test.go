package imds

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/ec2rolecreds"
	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/smithy-go"
)

// These tests resolve credentials with the real aws-sdk-go-v2 providers
// against a loopback server running the Guard and a face, as the daemon
// does.

// liveCreds expire in 30 minutes of real time: under the one-hour cap that
// ec2rolecreds applies, so the SDK reports the expiry unchanged.
func liveCreds(key string) Credentials {
	now := time.Now().UTC().Truncate(time.Second)
	return Credentials{
		AccessKeyID:     key,
		SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
		SessionToken:    strings.Repeat("IQoJb3JpZ2luX2VjEJr//////////", 40),
		Expires:         now.Add(30 * time.Minute),
		LastUpdated:     now.Add(-time.Minute),
		AccountID:       "123456789012",
		RoleArn:         "arn:aws:iam::123456789012:role/dev",
	}
}

// recorder counts requests by method and remembers whether GETs carried a
// token.
type recorder struct {
	mu            sync.Mutex
	puts, gets    int
	tokenlessGets int
	next          http.Handler
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec.mu.Lock()
	switch r.Method {
	case http.MethodPut:
		rec.puts++
	case http.MethodGet:
		rec.gets++
		if r.Header.Get(tokenHeader) == "" {
			rec.tokenlessGets++
		}
	}
	rec.mu.Unlock()
	rec.next.ServeHTTP(w, r)
}

func imdsClient(url string) *imds.Client {
	return imds.New(imds.Options{
		Endpoint:          url,
		ClientEnableState: imds.ClientEnabled, // ignore AWS_EC2_METADATA_DISABLED
		EnableFallback:    aws.FalseTernary,   // a token problem must fail the test
		Retryer:           aws.NopRetryer{},
	})
}

func TestSDKEC2RoleCreds(t *testing.T) {
	t.Parallel()
	want := liveCreds("ASIALIVEEC2KEY000001")
	e := NewEC2(staticSource(want, "dev"), ec2Settings(), quietOpts)
	rec := &recorder{next: NewGuard(Policy{}, e)}
	srv := httptest.NewServer(rec)
	defer srv.Close()

	client := imdsClient(srv.URL)
	p := ec2rolecreds.New(func(o *ec2rolecreds.Options) { o.Client = client })
	for i := range 2 {
		got, err := p.Retrieve(context.Background())
		if err != nil {
			t.Fatalf("Retrieve %d: %v", i, err)
		}
		if got.AccessKeyID != want.AccessKeyID || got.SecretAccessKey != want.SecretAccessKey ||
			got.SessionToken != want.SessionToken || !got.CanExpire || !got.Expires.Equal(want.Expires) {
			t.Fatalf("SDK got %+v, want keys of %+v", got, want)
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	// Go v2 caches the token for the TTL we echo; without the echo it
	// would PUT before every GET.
	if rec.puts != 1 || rec.gets != 4 || rec.tokenlessGets != 0 {
		t.Fatalf("PUTs %d GETs %d tokenless %d; want 1, 4, 0", rec.puts, rec.gets, rec.tokenlessGets)
	}
}

func TestSDKEC2Metadata(t *testing.T) {
	t.Parallel()
	e := NewEC2(staticSource(liveCreds("ASIALIVEEC2KEY000001"), "dev"), ec2Settings(), quietOpts)
	srv := httptest.NewServer(NewGuard(Policy{}, e))
	defer srv.Close()
	client := imdsClient(srv.URL)
	ctx := context.Background()

	region, err := client.GetRegion(ctx, nil)
	if err != nil || region.Region != "eu-west-1" {
		t.Fatalf("GetRegion: %v %v", region, err)
	}
	doc, err := client.GetInstanceIdentityDocument(ctx, nil)
	if err != nil {
		t.Fatalf("GetInstanceIdentityDocument: %v", err)
	}
	if doc.AccountID != "123456789012" || doc.InstanceID != "i-0123456789abcdef0" || doc.AvailabilityZone != "eu-west-1a" || doc.PendingTime.IsZero() {
		t.Fatalf("identity document %+v", doc.InstanceIdentityDocument)
	}
	info, err := client.GetIAMInfo(ctx, nil)
	if err != nil {
		t.Fatalf("GetIAMInfo: %v", err)
	}
	if info.Code != "Success" || info.InstanceProfileArn != "arn:aws:iam::123456789012:instance-profile/dev" || info.LastUpdated.IsZero() {
		t.Fatalf("iam info %+v", info.IAMInfo)
	}
}

// With tokens optional, an SDK that falls back to IMDSv1 still works.
func TestSDKEC2Fallback(t *testing.T) {
	t.Parallel()
	want := liveCreds("ASIALIVEEC2KEY000002")
	s := ec2Settings()
	s.TokensRequired = false
	e := NewEC2(staticSource(want, "dev"), s, quietOpts)
	// A hop in the way that blocks PUT (as an IMDSv1-only service answers
	// 404): Go v2 falls back to token-less GETs for good.
	noPUT := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			http.NotFound(w, r)
			return
		}
		e.ServeHTTP(w, r)
	})
	srv := httptest.NewServer(NewGuard(Policy{}, noPUT))
	defer srv.Close()
	client := imds.New(imds.Options{Endpoint: srv.URL, ClientEnableState: imds.ClientEnabled, Retryer: aws.NopRetryer{}})
	got, err := ec2rolecreds.New(func(o *ec2rolecreds.Options) { o.Client = client }).Retrieve(context.Background())
	if err != nil || got.AccessKeyID != want.AccessKeyID {
		t.Fatalf("IMDSv1 fallback: %+v %v", got, err)
	}
}

// Through a proxy nothing is served without a token, even with tokens
// optional: the token PUT is refused (403), and so are the token-less GETs
// the SDK falls back to. A proxy that forwards for an attacker (SSRF) gets
// no credentials.
func TestSDKEC2NoFallbackThroughProxy(t *testing.T) {
	t.Parallel()
	s := ec2Settings()
	s.TokensRequired = false
	e := NewEC2(staticSource(liveCreds("ASIALIVEEC2KEY000003"), "dev"), s, quietOpts)
	for _, hdr := range []string{"X-Forwarded-For", "Forwarded"} {
		proxied := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Header.Set(hdr, "for=192.0.2.1")
			e.ServeHTTP(w, r)
		})
		srv := httptest.NewServer(NewGuard(Policy{}, proxied))
		client := imds.New(imds.Options{Endpoint: srv.URL, ClientEnableState: imds.ClientEnabled, Retryer: aws.NopRetryer{}})
		got, err := ec2rolecreds.New(func(o *ec2rolecreds.Options) { o.Client = client }).Retrieve(context.Background())
		srv.Close()
		if err == nil {
			t.Errorf("%s: credentials %s served through a proxy without a token", hdr, got.AccessKeyID)
		}
	}
}

func TestSDKEC2Unavailable(t *testing.T) {
	t.Parallel()
	src := errSource(&UnavailableError{Profile: "dev", Message: "MFA needed"})
	e := NewEC2(src, ec2Settings(), quietOpts)
	srv := httptest.NewServer(NewGuard(Policy{}, e))
	defer srv.Close()
	p := ec2rolecreds.New(func(o *ec2rolecreds.Options) { o.Client = imdsClient(srv.URL) })
	got, err := p.Retrieve(context.Background())
	if err == nil || got.HasKeys() {
		t.Fatalf("Retrieve with unavailable credentials: %+v, %v", got, err)
	}
	var re interface{ HTTPStatusCode() int }
	if !errors.As(err, &re) || re.HTTPStatusCode() != 503 {
		t.Fatalf("error %v, want HTTP 503", err)
	}
}

func ecsProvider(url, tok string) *endpointcreds.Provider {
	return endpointcreds.New(url, func(o *endpointcreds.Options) {
		o.AuthorizationToken = tok
		o.Retryer = aws.NopRetryer{}
	})
}

func TestSDKECS(t *testing.T) {
	t.Parallel()
	dev, prod := liveCreds("ASIALIVEECSDEV000001"), liveCreds("ASIALIVEECSPROD00001")
	prod.AccountID = "210987654321"
	src := SourceFunc(func(_ context.Context, p string, _ time.Time) (Credentials, error) {
		switch p {
		case "dev":
			return dev, nil
		case "prod":
			return prod, nil
		}
		return Credentials{}, ErrUnknownProfile
	})
	srv := httptest.NewServer(NewGuard(Policy{}, NewECS(src, ecsSettings(), quietOpts)))
	defer srv.Close()

	for path, want := range map[string]Credentials{"/creds": dev, "/role/prod": prod} {
		got, err := ecsProvider(srv.URL+path, ecsToken).Retrieve(context.Background())
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if got.AccessKeyID != want.AccessKeyID || got.SecretAccessKey != want.SecretAccessKey ||
			got.SessionToken != want.SessionToken || got.AccountID != want.AccountID ||
			!got.CanExpire || !got.Expires.Equal(want.Expires) {
			t.Fatalf("%s: SDK got %+v, want %+v", path, got, want)
		}
	}
}

// Go v2 decodes {code, message} only for Content-Type application/json: the
// error must reach the user as ours, not as an opaque status.
func TestSDKECSErrors(t *testing.T) {
	t.Parallel()
	src := SourceFunc(func(_ context.Context, p string, _ time.Time) (Credentials, error) {
		if p == "prod" {
			return Credentials{}, &UnavailableError{Profile: p, Message: "run imdsd unlock"}
		}
		return liveCreds("ASIALIVEECSDEV000001"), nil
	})
	srv := httptest.NewServer(NewGuard(Policy{}, NewECS(src, ecsSettings(), quietOpts)))
	defer srv.Close()

	for _, tc := range []struct {
		path, tok, code, msg string
	}{
		{"/creds", "wrong", "AccessDenied", "Authorization"},
		{"/creds", "", "AccessDenied", "Authorization"},
		{"/role/nope", ecsToken, "NotFound", "nope"},
		{"/role/prod", ecsToken, "CredentialsUnavailable", "run imdsd unlock"},
	} {
		_, err := ecsProvider(srv.URL+tc.path, tc.tok).Retrieve(context.Background())
		var api smithy.APIError
		if !errors.As(err, &api) {
			t.Fatalf("%s: error %v is not an API error", tc.path, err)
		}
		if api.ErrorCode() != tc.code || !strings.Contains(api.ErrorMessage(), tc.msg) {
			t.Errorf("%s: code %q message %q; want %q and %q", tc.path, api.ErrorCode(), api.ErrorMessage(), tc.code, tc.msg)
		}
	}
}
