package fakests

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
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

func TestAssumeRoleAndCallerIdentity(t *testing.T) {
	s, u := startFake(t)
	s.AddRole(deployRole, RoleOptions{MaxSessionDuration: 2 * time.Hour})
	ctx := testCtx(t)
	alice := newClient(u, aliceKey, aliceSecret, "")

	before := time.Now()
	out, err := assume(ctx, alice, deployRole, "sess-1", withDuration(5400))
	after := time.Now()
	if err != nil {
		t.Fatalf("AssumeRole: %v", err)
	}
	c := out.Credentials
	if !issuedKeyRE.MatchString(aws.ToString(c.AccessKeyId)) {
		t.Errorf("access key id %q does not look like ASIA + 16", aws.ToString(c.AccessKeyId))
	}
	if n := len(aws.ToString(c.SecretAccessKey)); n != 40 {
		t.Errorf("secret length = %d, want 40", n)
	}
	if len(aws.ToString(c.SessionToken)) < 100 {
		t.Errorf("session token too short: %d chars", len(aws.ToString(c.SessionToken)))
	}
	exp := aws.ToTime(c.Expiration)
	lo, hi := before.Add(5400*time.Second-time.Second), after.Add(5400*time.Second)
	if exp.Before(lo) || exp.After(hi) {
		t.Errorf("expiration %v not within [%v, %v]", exp, lo, hi)
	}
	wantAssumed := "arn:aws:sts::111122223333:assumed-role/deploy/sess-1"
	if got := aws.ToString(out.AssumedRoleUser.Arn); got != wantAssumed {
		t.Errorf("AssumedRoleUser.Arn = %q, want %q", got, wantAssumed)
	}
	if got := aws.ToString(out.AssumedRoleUser.AssumedRoleId); !roleIDRE.MatchString(got) || !strings.HasSuffix(got, ":sess-1") {
		t.Errorf("AssumedRoleId = %q", got)
	}

	iss, ok := s.Issued(aws.ToString(c.AccessKeyId))
	if !ok {
		t.Fatal("Issued: not found")
	}
	if iss.RoleArn != deployRole || iss.AssumedRoleArn != wantAssumed || iss.Account != acct ||
		iss.SourceAccessKeyID != aliceKey || iss.Caller != aliceArn || iss.SessionName != "sess-1" ||
		iss.Action != "AssumeRole" || iss.MFA || !iss.Expires.Equal(exp) {
		t.Errorf("Issued = %+v", iss)
	}
	if _, ok := s.Issued("ASIANOTISSUEDEXAMPLE"); ok {
		t.Error("Issued reports a key that was never issued")
	}

	id, err := credClient(u, c).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity with issued creds: %v", err)
	}
	if aws.ToString(id.Arn) != wantAssumed || aws.ToString(id.Account) != acct ||
		aws.ToString(id.UserId) != aws.ToString(out.AssumedRoleUser.AssumedRoleId) {
		t.Errorf("identity = %s %s %s", aws.ToString(id.Arn), aws.ToString(id.Account), aws.ToString(id.UserId))
	}
	if lc := lastCall(t, s); lc.Caller != wantAssumed || lc.AccessKeyID != aws.ToString(c.AccessKeyId) || lc.Status != 200 {
		t.Errorf("last call = %+v", lc)
	}

	// Without DurationSeconds AWS issues 1h sessions.
	out, err = assume(ctx, alice, deployRole, "sess-2")
	if err != nil {
		t.Fatalf("AssumeRole default duration: %v", err)
	}
	if d := time.Until(aws.ToTime(out.Credentials.Expiration)); d < 59*time.Minute || d > time.Hour {
		t.Errorf("default lifetime = %v, want ~1h", d)
	}
}

func TestGetCallerIdentityUser(t *testing.T) {
	_, u := startFake(t)
	ctx := testCtx(t)
	alice := newClient(u, aliceKey, aliceSecret, "")
	id1, err := alice.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	id2, err := alice.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(id1.Arn) != aliceArn || aws.ToString(id1.Account) != acct || !userIDRE.MatchString(aws.ToString(id1.UserId)) {
		t.Errorf("identity = %s %s %s", aws.ToString(id1.Arn), aws.ToString(id1.Account), aws.ToString(id1.UserId))
	}
	if aws.ToString(id1.UserId) != aws.ToString(id2.UserId) {
		t.Error("UserId is not stable across calls")
	}
	bobID, err := newClient(u, bobKey, bobSecret, "").GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(bobID.Arn) != bobArn || aws.ToString(bobID.UserId) == aws.ToString(id1.UserId) {
		t.Errorf("bob identity = %s %s", aws.ToString(bobID.Arn), aws.ToString(bobID.UserId))
	}
}

func TestAuthenticationFailures(t *testing.T) {
	s, u := startFake(t)
	s.AddRole(deployRole, RoleOptions{})
	ctx := testCtx(t)

	_, err := newClient(u, aliceKey, "wrongFAKESECRETwJalrXUtnFEMIK7MDENGEXAMP", "").GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	wantAPIError(t, err, "SignatureDoesNotMatch", 403)
	if lc := lastCall(t, s); lc.Caller != "" || lc.AccessKeyID != aliceKey || lc.Status != 403 {
		t.Errorf("rejected call recorded as %+v", lc)
	}

	_, err = newClient(u, "AKIAUNKNOWNFAKEEXAMP", aliceSecret, "").GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	wantAPIError(t, err, "InvalidClientTokenId", 403)

	// Long-term keys must not carry a session token.
	_, err = newClient(u, aliceKey, aliceSecret, "FAKE-TOKEN").GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	wantAPIError(t, err, "InvalidClientTokenId", 403)

	out, err := assume(ctx, newClient(u, aliceKey, aliceSecret, ""), deployRole, "sess")
	if err != nil {
		t.Fatal(err)
	}
	c := out.Credentials
	key, secret, token := aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken)

	_, err = newClient(u, key, secret, token+"x").GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	wantAPIError(t, err, "InvalidClientTokenId", 403)
	_, err = newClient(u, key, secret, "").GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	wantAPIError(t, err, "InvalidClientTokenId", 403)

	// Tokens are bound to their key: another issued key's token is wrong.
	out2, err := assume(ctx, newClient(u, aliceKey, aliceSecret, ""), deployRole, "sess2")
	if err != nil {
		t.Fatal(err)
	}
	_, err = newClient(u, key, secret, aws.ToString(out2.Credentials.SessionToken)).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	wantAPIError(t, err, "InvalidClientTokenId", 403)

	// Right token, wrong secret.
	_, err = newClient(u, key, aws.ToString(out2.Credentials.SecretAccessKey), token).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	wantAPIError(t, err, "SignatureDoesNotMatch", 403)

	// And the genuine triple still works.
	if _, err := newClient(u, key, secret, token).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatalf("genuine issued creds rejected: %v", err)
	}
}

func TestExpiredTokenWithClock(t *testing.T) {
	s, u := startFake(t)
	s.AddRole(deployRole, RoleOptions{})
	clock := newFakeClock(time.Now())
	s.SetClock(clock.Now)
	ctx := testCtx(t)

	gst, err := newClient(u, aliceKey, aliceSecret, "").GetSessionToken(ctx, &sts.GetSessionTokenInput{DurationSeconds: aws.Int32(900)})
	if err != nil {
		t.Fatal(err)
	}
	out, err := assume(ctx, newClient(u, aliceKey, aliceSecret, ""), deployRole, "sess", withDuration(900))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*types.Credentials{gst.Credentials, out.Credentials} {
		if _, err := credClient(u, c).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
			t.Fatalf("fresh creds rejected: %v", err)
		}
	}
	clock.Advance(899 * time.Second)
	if _, err := credClient(u, out.Credentials).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatalf("creds rejected 1s before expiry: %v", err)
	}
	clock.Advance(time.Second)
	for _, c := range []*types.Credentials{gst.Credentials, out.Credentials} {
		_, err := credClient(u, c).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		wantAPIError(t, err, "ExpiredToken", 403)
	}
	// Long-term keys never expire.
	if _, err := newClient(u, aliceKey, aliceSecret, "").GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatal(err)
	}
}

func TestForcedCredentialLifetime(t *testing.T) {
	s, u := startFake(t)
	s.AddRole(deployRole, RoleOptions{})
	s.SetCredentialLifetime(1500 * time.Millisecond)
	ctx := testCtx(t)
	alice := newClient(u, aliceKey, aliceSecret, "")

	// DurationSeconds is still validated even though it is then ignored.
	_, err := assume(ctx, alice, deployRole, "sess", withDuration(100))
	wantAPIError(t, err, "ValidationError", 400)

	start := time.Now()
	out, err := assume(ctx, alice, deployRole, "sess", withDuration(3600))
	if err != nil {
		t.Fatal(err)
	}
	exp := aws.ToTime(out.Credentials.Expiration)
	if d := exp.Sub(start); d < time.Second || d > 2*time.Second {
		t.Fatalf("forced lifetime: expires in %v, want ~1.5s", d)
	}
	iss, _ := s.Issued(aws.ToString(out.Credentials.AccessKeyId))
	if !iss.Expires.Equal(exp) {
		t.Errorf("Issued.Expires %v != response Expiration %v", iss.Expires, exp)
	}
	if _, err := credClient(u, out.Credentials).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatalf("creds rejected before expiry: %v", err)
	}
	time.Sleep(time.Until(exp) + 50*time.Millisecond)
	_, err = credClient(u, out.Credentials).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	wantAPIError(t, err, "ExpiredToken", 403)

	s.SetCredentialLifetime(0)
	out, err = assume(ctx, alice, deployRole, "sess", withDuration(1200))
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(aws.ToTime(out.Credentials.Expiration)); d < 19*time.Minute || d > 20*time.Minute {
		t.Errorf("after reset lifetime = %v, want ~20m", d)
	}
}

func TestTrust(t *testing.T) {
	s, u := startFake(t)
	s.AddRole(deployRole, RoleOptions{TrustedPrincipals: []string{bobArn}})
	s.AddRole("arn:aws:iam::111122223333:role/acct-trust", RoleOptions{TrustedPrincipals: []string{"arn:aws:iam::111122223333:root"}})
	s.AddRole("arn:aws:iam::111122223333:role/other-acct", RoleOptions{TrustedPrincipals: []string{"arn:aws:iam::999988887777:root"}})
	s.AddRole("arn:aws:iam::111122223333:role/glob", RoleOptions{TrustedPrincipals: []string{"arn:aws:iam::111122223333:user/b*"}})
	ctx := testCtx(t)
	alice := newClient(u, aliceKey, aliceSecret, "")
	bob := newClient(u, bobKey, bobSecret, "")

	_, err := assume(ctx, alice, deployRole, "sess")
	wantAPIError(t, err, "AccessDenied", 403)
	var ae smithy.APIError
	errors.As(err, &ae)
	if !strings.Contains(ae.ErrorMessage(), aliceArn) || !strings.Contains(ae.ErrorMessage(), deployRole) {
		t.Errorf("AccessDenied message %q should name caller and role", ae.ErrorMessage())
	}
	if lc := lastCall(t, s); lc.Caller != aliceArn || lc.Status != 403 {
		t.Errorf("denied call = %+v; caller should be the authenticated signer", lc)
	}
	if _, err := assume(ctx, bob, deployRole, "sess"); err != nil {
		t.Errorf("trusted bob: %v", err)
	}

	_, err = assume(ctx, alice, "arn:aws:iam::111122223333:role/not-registered", "sess")
	wantAPIError(t, err, "AccessDenied", 403)

	if _, err := assume(ctx, alice, "arn:aws:iam::111122223333:role/acct-trust", "sess"); err != nil {
		t.Errorf("account-root trust: %v", err)
	}
	_, err = assume(ctx, alice, "arn:aws:iam::111122223333:role/other-acct", "sess")
	wantAPIError(t, err, "AccessDenied", 403)

	_, err = assume(ctx, alice, "arn:aws:iam::111122223333:role/glob", "sess")
	wantAPIError(t, err, "AccessDenied", 403)
	if _, err := assume(ctx, bob, "arn:aws:iam::111122223333:role/glob", "sess"); err != nil {
		t.Errorf("wildcard trust: %v", err)
	}
}

func TestExternalID(t *testing.T) {
	s, u := startFake(t)
	s.AddRole(deployRole, RoleOptions{ExternalID: "fake-external-id"})
	ctx := testCtx(t)
	alice := newClient(u, aliceKey, aliceSecret, "")
	ext := func(v string) func(*sts.AssumeRoleInput) {
		return func(in *sts.AssumeRoleInput) { in.ExternalId = aws.String(v) }
	}

	_, err := assume(ctx, alice, deployRole, "sess")
	wantAPIError(t, err, "AccessDenied", 403)
	_, err = assume(ctx, alice, deployRole, "sess", ext("wrong-external-id"))
	wantAPIError(t, err, "AccessDenied", 403)
	if _, err := assume(ctx, alice, deployRole, "sess", ext("fake-external-id")); err != nil {
		t.Fatalf("right external id: %v", err)
	}
	if got := lastCall(t, s).Params.Get("ExternalId"); got != "fake-external-id" {
		t.Errorf("recorded ExternalId = %q", got)
	}
}

func mfaInput(serial, code string) func(*sts.AssumeRoleInput) {
	return func(in *sts.AssumeRoleInput) {
		if serial != "" {
			in.SerialNumber = aws.String(serial)
		}
		if code != "" {
			in.TokenCode = aws.String(code)
		}
	}
}

func TestMFA(t *testing.T) {
	s, u := startFake(t)
	s.AddRole(deployRole, RoleOptions{RequireMFA: true})
	s.AddRole("arn:aws:iam::111122223333:role/nomfa", RoleOptions{})
	s.SetMFA(mfaSerial, mfaCode)
	ctx := testCtx(t)
	alice := newClient(u, aliceKey, aliceSecret, "")

	_, err := assume(ctx, alice, deployRole, "sess")
	wantAPIError(t, err, "AccessDenied", 403)
	_, err = assume(ctx, alice, deployRole, "sess", mfaInput(mfaSerial, "654321"))
	wantAPIError(t, err, "AccessDenied", 403)
	_, err = assume(ctx, alice, deployRole, "sess", mfaInput("arn:aws:iam::111122223333:mfa/unknown", mfaCode))
	wantAPIError(t, err, "AccessDenied", 403)
	_, err = assume(ctx, alice, deployRole, "sess", mfaInput(mfaSerial, ""))
	wantAPIError(t, err, "AccessDenied", 403)

	out, err := assume(ctx, alice, deployRole, "sess", mfaInput(mfaSerial, mfaCode))
	if err != nil {
		t.Fatalf("AssumeRole with right MFA code: %v", err)
	}
	if iss, _ := s.Issued(aws.ToString(out.Credentials.AccessKeyId)); !iss.MFA {
		t.Error("Issued.MFA = false after MFA AssumeRole")
	}

	// A supplied code is checked even when the role does not need MFA.
	_, err = assume(ctx, alice, "arn:aws:iam::111122223333:role/nomfa", "sess", mfaInput(mfaSerial, "000000"))
	wantAPIError(t, err, "AccessDenied", 403)
	out, err = assume(ctx, alice, "arn:aws:iam::111122223333:role/nomfa", "sess")
	if err != nil {
		t.Fatal(err)
	}
	if iss, _ := s.Issued(aws.ToString(out.Credentials.AccessKeyId)); iss.MFA {
		t.Error("Issued.MFA = true without MFA")
	}
}

func TestGetSessionToken(t *testing.T) {
	s, u := startFake(t)
	s.AddRole(deployRole, RoleOptions{RequireMFA: true})
	s.SetMFA(mfaSerial, mfaCode)
	ctx := testCtx(t)
	alice := newClient(u, aliceKey, aliceSecret, "")

	out, err := alice.GetSessionToken(ctx, &sts.GetSessionTokenInput{})
	if err != nil {
		t.Fatalf("GetSessionToken: %v", err)
	}
	if d := time.Until(aws.ToTime(out.Credentials.Expiration)); d < 12*time.Hour-time.Minute || d > 12*time.Hour {
		t.Errorf("default GetSessionToken lifetime = %v, want 12h", d)
	}
	plain := out.Credentials
	iss, ok := s.Issued(aws.ToString(plain.AccessKeyId))
	if !ok || iss.Action != "GetSessionToken" || iss.RoleArn != "" || iss.MFA || iss.Caller != aliceArn || iss.Account != acct {
		t.Errorf("Issued = %+v, %v", iss, ok)
	}

	id, err := credClient(u, plain).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(id.Arn) != aliceArn {
		t.Errorf("GetCallerIdentity with session creds = %s, want user ARN", aws.ToString(id.Arn))
	}

	// Session credentials cannot mint more session credentials.
	_, err = credClient(u, plain).GetSessionToken(ctx, &sts.GetSessionTokenInput{})
	wantAPIError(t, err, "AccessDenied", 403)

	// Without MFA the session cannot assume an MFA-protected role.
	_, err = assume(ctx, credClient(u, plain), deployRole, "sess")
	wantAPIError(t, err, "AccessDenied", 403)

	_, err = alice.GetSessionToken(ctx, &sts.GetSessionTokenInput{SerialNumber: aws.String(mfaSerial), TokenCode: aws.String("999999")})
	wantAPIError(t, err, "AccessDenied", 403)

	out, err = alice.GetSessionToken(ctx, &sts.GetSessionTokenInput{
		SerialNumber: aws.String(mfaSerial), TokenCode: aws.String(mfaCode), DurationSeconds: aws.Int32(129600),
	})
	if err != nil {
		t.Fatalf("GetSessionToken with MFA: %v", err)
	}
	if d := time.Until(aws.ToTime(out.Credentials.Expiration)); d < 36*time.Hour-time.Minute || d > 36*time.Hour {
		t.Errorf("lifetime = %v, want 36h", d)
	}
	if iss, _ := s.Issued(aws.ToString(out.Credentials.AccessKeyId)); !iss.MFA {
		t.Error("Issued.MFA = false after MFA GetSessionToken")
	}
	// An MFA session satisfies RequireMFA without a code on AssumeRole, and
	// the role session inherits the MFA context.
	ar, err := assume(ctx, credClient(u, out.Credentials), deployRole, "via-mfa-session")
	if err != nil {
		t.Fatalf("AssumeRole with MFA session creds: %v", err)
	}
	iss, _ = s.Issued(aws.ToString(ar.Credentials.AccessKeyId))
	if !iss.MFA || iss.Caller != aliceArn || iss.SourceAccessKeyID != aws.ToString(out.Credentials.AccessKeyId) {
		t.Errorf("Issued = %+v", iss)
	}

	// Role sessions cannot call GetSessionToken either.
	_, err = credClient(u, ar.Credentials).GetSessionToken(ctx, &sts.GetSessionTokenInput{})
	wantAPIError(t, err, "AccessDenied", 403)

	for _, d := range []int32{899, 129601} {
		_, err = alice.GetSessionToken(ctx, &sts.GetSessionTokenInput{DurationSeconds: aws.Int32(d)})
		wantAPIError(t, err, "ValidationError", 400)
	}
}

func TestAssumeRoleDurationBounds(t *testing.T) {
	s, u := startFake(t)
	s.AddRole(deployRole, RoleOptions{})
	long := "arn:aws:iam::111122223333:role/long"
	s.AddRole(long, RoleOptions{MaxSessionDuration: 12 * time.Hour})
	ctx := testCtx(t)
	alice := newClient(u, aliceKey, aliceSecret, "")

	cases := []struct {
		role    string
		seconds int32
		ok      bool
	}{
		{deployRole, 899, false},
		{deployRole, 900, true},
		{deployRole, 3600, true},
		{deployRole, 3601, false}, // above the default 1h MaxSessionDuration
		{long, 43200, true},
		{long, 43201, false},
	}
	for _, tc := range cases {
		_, err := assume(ctx, alice, tc.role, "sess", withDuration(tc.seconds))
		if tc.ok && err != nil {
			t.Errorf("%s %ds: %v", tc.role, tc.seconds, err)
		}
		if !tc.ok {
			wantAPIError(t, err, "ValidationError", 400)
		}
	}
	_, err := assume(ctx, alice, deployRole, "x") // session name too short
	wantAPIError(t, err, "ValidationError", 400)
	_, err = assume(ctx, alice, deployRole, "bad/name")
	wantAPIError(t, err, "ValidationError", 400)
}

func TestRoleChaining(t *testing.T) {
	s, u := startFake(t)
	roleA := "arn:aws:iam::111122223333:role/roleA"
	roleB := "arn:aws:iam::111122223333:role/roleB"
	roleC := "arn:aws:iam::111122223333:role/roleC"
	s.AddRole(roleA, RoleOptions{TrustedPrincipals: []string{aliceArn}})
	s.AddRole(roleB, RoleOptions{
		TrustedPrincipals:  []string{"arn:aws:sts::111122223333:assumed-role/roleA/*"},
		MaxSessionDuration: 12 * time.Hour,
	})
	s.AddRole(roleC, RoleOptions{TrustedPrincipals: []string{roleA}})
	ctx := testCtx(t)
	alice := newClient(u, aliceKey, aliceSecret, "")

	_, err := assume(ctx, alice, roleB, "direct")
	wantAPIError(t, err, "AccessDenied", 403)
	if _, err := assume(ctx, alice, roleB, "direct", withDuration(7200)); err == nil {
		t.Fatal("alice is not trusted by roleB")
	}

	a, err := assume(ctx, alice, roleA, "first")
	if err != nil {
		t.Fatal(err)
	}
	aClient := credClient(u, a.Credentials)

	_, err = assume(ctx, aClient, roleB, "second", withDuration(7200))
	wantAPIError(t, err, "ValidationError", 400) // chained sessions cap at 1h

	b, err := assume(ctx, aClient, roleB, "second", withDuration(3600))
	if err != nil {
		t.Fatalf("chained AssumeRole: %v", err)
	}
	aArn := "arn:aws:sts::111122223333:assumed-role/roleA/first"
	iss, _ := s.Issued(aws.ToString(b.Credentials.AccessKeyId))
	if iss.Caller != aArn || iss.SourceAccessKeyID != aws.ToString(a.Credentials.AccessKeyId) {
		t.Errorf("chained Issued = %+v", iss)
	}
	if lc := lastCall(t, s); lc.Caller != aArn {
		t.Errorf("chained call caller = %q, want %q", lc.Caller, aArn)
	}
	id, err := credClient(u, b.Credentials).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(id.Arn); got != "arn:aws:sts::111122223333:assumed-role/roleB/second" {
		t.Errorf("chained identity = %q", got)
	}

	// Trusting a role ARN admits its sessions.
	if _, err := assume(ctx, aClient, roleC, "third"); err != nil {
		t.Errorf("role-ARN trust: %v", err)
	}
	_, err = assume(ctx, credClient(u, b.Credentials), roleC, "third")
	wantAPIError(t, err, "AccessDenied", 403)
}

func TestSessionPolicies(t *testing.T) {
	s, u := startFake(t)
	s.AddRole(deployRole, RoleOptions{})
	ctx := testCtx(t)
	alice := newClient(u, aliceKey, aliceSecret, "")
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`
	arns := []string{"arn:aws:iam::aws:policy/ReadOnlyAccess", "arn:aws:iam::111122223333:policy/fake-extra"}

	out, err := assume(ctx, alice, deployRole, "sess", func(in *sts.AssumeRoleInput) {
		in.Policy = aws.String(policy)
		for _, a := range arns {
			in.PolicyArns = append(in.PolicyArns, types.PolicyDescriptorType{Arn: aws.String(a)})
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	iss, _ := s.Issued(aws.ToString(out.Credentials.AccessKeyId))
	if iss.Policy != policy || fmt.Sprint(iss.PolicyArns) != fmt.Sprint(arns) {
		t.Errorf("Issued policy = %q %v", iss.Policy, iss.PolicyArns)
	}

	_, err = assume(ctx, alice, deployRole, "sess", func(in *sts.AssumeRoleInput) { in.Policy = aws.String("{not json") })
	var mp *types.MalformedPolicyDocumentException
	if !errors.As(err, &mp) {
		t.Errorf("malformed policy: got %v, want MalformedPolicyDocumentException", err)
	}
}

func TestFaultModes(t *testing.T) {
	cases := []struct {
		mode   FaultMode
		code   string
		status int
	}{
		{Fault500, "InternalFailure", 500},
		{FaultThrottle, "Throttling", 400},
		{FaultAccessDenied, "AccessDenied", 403},
		{FaultExpiredToken, "ExpiredToken", 403},
	}
	for _, tc := range cases {
		t.Run(tc.mode.String(), func(t *testing.T) {
			s, u := startFake(t)
			alice := newClient(u, aliceKey, aliceSecret, "")
			s.SetFault(Fault{Mode: tc.mode})
			for range 3 {
				_, err := alice.GetCallerIdentity(testCtx(t), &sts.GetCallerIdentityInput{})
				wantAPIError(t, err, tc.code, tc.status)
			}
			if lc := lastCall(t, s); lc.Status != tc.status || lc.Caller != "" || lc.Action != "GetCallerIdentity" {
				t.Errorf("faulted call = %+v", lc)
			}
			s.SetFault(Fault{})
			if _, err := alice.GetCallerIdentity(testCtx(t), &sts.GetCallerIdentityInput{}); err != nil {
				t.Fatalf("after clearing fault: %v", err)
			}
		})
	}
}

func TestFaultCount(t *testing.T) {
	s, u := startFake(t)
	alice := newClient(u, aliceKey, aliceSecret, "")
	ctx := testCtx(t)
	s.SetFault(Fault{Mode: Fault500, Count: 2})
	for i := range 2 {
		_, err := alice.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err == nil {
			t.Fatalf("call %d: fault not applied", i+1)
		}
		wantAPIError(t, err, "InternalFailure", 500)
	}
	for i := range 2 {
		if _, err := alice.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
			t.Fatalf("call %d after Count exhausted: %v", i+3, err)
		}
	}
	if n := s.CallCount("GetCallerIdentity"); n != 4 {
		t.Errorf("CallCount = %d, want 4", n)
	}

	// The SDK's standard retryer rides out a short outage.
	s.SetFault(Fault{Mode: FaultThrottle, Count: 2})
	retrying := newClient(u, aliceKey, aliceSecret, "", func(o *sts.Options) {
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = 3
			so.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
		})
	})
	if _, err := retrying.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatalf("retrying client: %v", err)
	}
	if n := s.CallCount(""); n != 7 {
		t.Errorf("CallCount after retries = %d, want 7", n)
	}
}

func TestFaultHang(t *testing.T) {
	s, u := startFake(t)
	alice := newClient(u, aliceKey, aliceSecret, "")
	s.SetFault(Fault{Mode: FaultHang, Count: 1})

	ctx, cancel := context.WithTimeout(testCtx(t), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := alice.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	elapsed := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hang: err = %v, want context deadline exceeded", err)
	}
	if elapsed < 300*time.Millisecond || elapsed > 5*time.Second {
		t.Errorf("hang returned after %v", elapsed)
	}
	// No response was ever written for the hung call.
	if c := s.Calls()[0]; c.Status != 0 || c.Action != "GetCallerIdentity" {
		t.Errorf("hung call = %+v", c)
	}
	if _, err := alice.GetCallerIdentity(testCtx(t), &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatalf("after Count=1 hang: %v", err)
	}
}

func TestCloseReleasesHang(t *testing.T) {
	s, u := startFake(t)
	alice := newClient(u, aliceKey, aliceSecret, "")
	s.SetFault(Fault{Mode: FaultHang})
	done := make(chan error, 1)
	go func() {
		_, err := alice.GetCallerIdentity(testCtx(t), &sts.GetCallerIdentityInput{})
		done <- err
	}()
	for s.CallCount("") == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	s.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("hung call succeeded after Close")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not release a hanging call")
	}
}

func TestFaultDown(t *testing.T) {
	s, u := startFake(t)
	alice := newClient(u, aliceKey, aliceSecret, "")
	s.SetFault(Fault{Mode: FaultDown, Count: 1})
	_, err := alice.GetCallerIdentity(testCtx(t), &sts.GetCallerIdentityInput{})
	if err == nil {
		t.Fatal("down: call succeeded")
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		t.Fatalf("down: got an API response (%v), want a transport error", err)
	}
	if c := lastCall(t, s); c.Status != 0 {
		t.Errorf("down call status = %d, want 0", c.Status)
	}
	if _, err := alice.GetCallerIdentity(testCtx(t), &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatalf("after Count=1 down: %v", err)
	}
}

func TestFaultDelay(t *testing.T) {
	s, u := startFake(t)
	alice := newClient(u, aliceKey, aliceSecret, "")
	ctx := testCtx(t)
	s.SetFault(Fault{Delay: 300 * time.Millisecond, Count: 1})

	start := time.Now()
	if _, err := alice.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatalf("slow call: %v", err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("slow call took %v, want >= 300ms", d)
	}
	start = time.Now()
	if _, err := alice.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d >= 300*time.Millisecond {
		t.Errorf("call after Count exhausted took %v", d)
	}

	// Delay combines with a mode, and a client deadline cuts it short.
	s.SetFault(Fault{Mode: Fault500, Delay: 2 * time.Second})
	tctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	_, err := alice.GetCallerIdentity(tctx, &sts.GetCallerIdentityInput{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("delayed 500 under short deadline: %v", err)
	}
}

func TestConcurrentAssumeRole(t *testing.T) {
	s, u := startFake(t)
	s.AddRole(deployRole, RoleOptions{TrustedPrincipals: []string{aliceArn}})
	alice := newClient(u, aliceKey, aliceSecret, "")
	ctx := testCtx(t)

	const n = 100
	var wg sync.WaitGroup
	keys := make([]string, n)
	errs := make([]error, n)
	stop := make(chan struct{})
	var readers sync.WaitGroup
	readers.Add(1)
	go func() { // concurrent readers exercise the accessors under -race
		defer readers.Done()
		for {
			select {
			case <-stop:
				return
			default:
				_ = s.Calls()
				_ = s.CallCount("AssumeRole")
				s.SetFault(Fault{})
			}
		}
	}()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := assume(ctx, alice, deployRole, fmt.Sprintf("worker-%d", i))
			if err != nil {
				errs[i] = err
				return
			}
			keys[i] = aws.ToString(out.Credentials.AccessKeyId)
			_, errs[i] = credClient(u, out.Credentials).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		}()
	}
	wg.Wait()
	close(stop)
	readers.Wait()

	seen := map[string]bool{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("worker %d: %v", i, errs[i])
		}
		if seen[keys[i]] {
			t.Fatalf("duplicate access key %s", keys[i])
		}
		seen[keys[i]] = true
		iss, ok := s.Issued(keys[i])
		if !ok || iss.SessionName != fmt.Sprintf("worker-%d", i) {
			t.Fatalf("Issued(%s) = %+v, %v", keys[i], iss, ok)
		}
	}
	if got := s.CallCount("AssumeRole"); got != n {
		t.Errorf("CallCount(AssumeRole) = %d, want %d", got, n)
	}
	if got := s.CallCount(""); got != 2*n {
		t.Errorf("CallCount() = %d, want %d", got, 2*n)
	}
}

func TestCallsRecorded(t *testing.T) {
	s, u := startFake(t)
	s.AddRole(deployRole, RoleOptions{})
	ctx := testCtx(t)
	alice := newClient(u, aliceKey, aliceSecret, "")
	t0 := time.Now()

	if _, err := alice.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatal(err)
	}
	_, _ = assume(ctx, newClient(u, aliceKey, "badFAKESECRETwJalrXUtnFEMIK7MDENGEXAMPLE", ""), deployRole, "rejected")
	if _, err := assume(ctx, alice, deployRole, "accepted", withDuration(900)); err != nil {
		t.Fatal(err)
	}

	calls := s.Calls()
	if len(calls) != 3 {
		t.Fatalf("got %d calls, want 3", len(calls))
	}
	want := []struct {
		action, caller, session string
		status                  int
	}{
		{"GetCallerIdentity", aliceArn, "", 200},
		{"AssumeRole", "", "rejected", 403},
		{"AssumeRole", aliceArn, "accepted", 200},
	}
	for i, w := range want {
		c := calls[i]
		if c.Action != w.action || c.Caller != w.caller || c.Status != w.status || c.AccessKeyID != aliceKey ||
			c.Params.Get("RoleSessionName") != w.session || c.Params.Get("Version") != "2011-06-15" {
			t.Errorf("call %d = %+v, want %+v", i, c, w)
		}
		if c.Time.Before(t0) || (i > 0 && c.Time.Before(calls[i-1].Time)) {
			t.Errorf("call %d time %v out of order", i, c.Time)
		}
	}
	if calls[2].Params.Get("RoleArn") != deployRole || calls[2].Params.Get("DurationSeconds") != "900" {
		t.Errorf("params = %v", calls[2].Params)
	}
	// Calls returns copies.
	calls[0].Params.Set("Action", "Mutated")
	if s.Calls()[0].Params.Get("Action") != "GetCallerIdentity" {
		t.Error("Calls exposes internal state")
	}
	if s.CallCount("") != 3 || s.CallCount("AssumeRole") != 2 || s.CallCount("GetSessionToken") != 0 {
		t.Errorf("CallCount = %d/%d/%d", s.CallCount(""), s.CallCount("AssumeRole"), s.CallCount("GetSessionToken"))
	}
}

func TestLogsOmitSecrets(t *testing.T) {
	s, u := startFake(t)
	s.AddRole(deployRole, RoleOptions{})
	var mu sync.Mutex
	var logs strings.Builder
	s.SetLogf(func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(&logs, format+"\n", args...)
	})
	ctx := testCtx(t)
	out, err := assume(ctx, newClient(u, aliceKey, aliceSecret, ""), deployRole, "sess")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := credClient(u, out.Credentials).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatal(err)
	}
	s.SetLogf(nil)
	mu.Lock()
	got := logs.String()
	mu.Unlock()
	if !strings.Contains(got, aliceKey) || !strings.Contains(got, aws.ToString(out.Credentials.AccessKeyId)) {
		t.Errorf("logs should name access key ids:\n%s", got)
	}
	for _, secret := range []string{aliceSecret, aws.ToString(out.Credentials.SecretAccessKey), aws.ToString(out.Credentials.SessionToken)} {
		if strings.Contains(got, secret) {
			t.Fatalf("logs leak a secret:\n%s", got)
		}
	}
}

func TestStartOnRejectsNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:0", "example.com:0"} {
		if _, err := New().StartOn(addr); err == nil {
			t.Errorf("StartOn(%q) succeeded", addr)
		}
	}
	s := New()
	u, err := s.StartOn("localhost:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !strings.HasPrefix(u, "http://127.0.0.1:") {
		t.Errorf("localhost URL = %q", u)
	}
	if _, err := s.Start(); err == nil {
		t.Error("second Start succeeded")
	}
}
