package fakests

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"
)

// Obviously fake identities; none of these exist in AWS.
const (
	acct = "111122223333"

	aliceKey    = "AKIAALICEFAKEEXAMPLE"
	aliceSecret = "aliceFAKESECRETwJalrXUtnFEMIK7MDENGEXAMPLE"
	aliceArn    = "arn:aws:iam::111122223333:user/alice"

	bobKey    = "AKIABOBFAKEEXAMPLE01"
	bobSecret = "bobFAKESECRETwJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLE"
	bobArn    = "arn:aws:iam::111122223333:user/bob"

	deployRole = "arn:aws:iam::111122223333:role/deploy"
	mfaSerial  = "arn:aws:iam::111122223333:mfa/alice"
	mfaCode    = "123456"
)

var (
	issuedKeyRE = regexp.MustCompile(`^ASIA[A-Z0-9]{16}$`)
	userIDRE    = regexp.MustCompile(`^AIDA[A-Z0-9]{17}$`)
	roleIDRE    = regexp.MustCompile(`^AROA[A-Z0-9]{17}:`)
)

func startFake(t *testing.T) (*Server, string) {
	t.Helper()
	s := New()
	u, err := s.Start()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(s.Close)
	if !strings.HasPrefix(u, "http://127.0.0.1:") || s.URL() != u {
		t.Fatalf("URL = %q / %q, want loopback http URL", u, s.URL())
	}
	s.AddUser(aliceKey, aliceSecret, aliceArn)
	s.AddUser(bobKey, bobSecret, bobArn)
	return s, u
}

// newClient is the real SDK STS client pointed at the fake. Retries are off
// unless a test opts in, so each SDK call is exactly one HTTP call.
func newClient(u, key, secret, token string, optFns ...func(*sts.Options)) *sts.Client {
	return sts.New(sts.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(u),
		Credentials:  credentials.NewStaticCredentialsProvider(key, secret, token),
		Retryer:      aws.NopRetryer{},
	}, optFns...)
}

func credClient(u string, c *types.Credentials) *sts.Client {
	return newClient(u, aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
}

func assume(ctx context.Context, c *sts.Client, roleArn, session string, mods ...func(*sts.AssumeRoleInput)) (*sts.AssumeRoleOutput, error) {
	in := &sts.AssumeRoleInput{RoleArn: aws.String(roleArn), RoleSessionName: aws.String(session)}
	for _, m := range mods {
		m(in)
	}
	return c.AssumeRole(ctx, in)
}

func withDuration(sec int32) func(*sts.AssumeRoleInput) {
	return func(in *sts.AssumeRoleInput) { in.DurationSeconds = aws.Int32(sec) }
}

// wantAPIError asserts err is an STS API error with the given code and
// HTTP status, as surfaced by the SDK.
func wantAPIError(t *testing.T, err error, code string, status int) {
	t.Helper()
	if err == nil {
		t.Fatalf("want %s error, got success", code)
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want API error %s, got %T: %v", code, err, err)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("error code = %q (%v), want %q", ae.ErrorCode(), err, code)
	}
	var re *awshttp.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("no HTTP response error in %v", err)
	}
	if re.HTTPStatusCode() != status {
		t.Fatalf("HTTP status = %d, want %d (%v)", re.HTTPStatusCode(), status, err)
	}
}

func lastCall(t *testing.T, s *Server) Call {
	t.Helper()
	calls := s.Calls()
	if len(calls) == 0 {
		t.Fatal("no calls recorded")
	}
	return calls[len(calls)-1]
}

// testCtx bounds every SDK call so a regression that hangs fails instead of
// stalling the suite until the global test timeout.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// fakeClock is a settable clock safe for concurrent use.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock(t time.Time) *fakeClock {
	c := &fakeClock{}
	c.ns.Store(t.UnixNano())
	return c
}
func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }
