package fakests

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"
)

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
	clk := newFakeClock(time.Now()) // expiry is reached by advancing it, not by waiting
	s.SetClock(clk.Now)
	ctx := testCtx(t)
	alice := newClient(u, aliceKey, aliceSecret, "")

	// DurationSeconds is still validated even though it is then ignored.
	_, err := assume(ctx, alice, deployRole, "sess", withDuration(100))
	wantAPIError(t, err, "ValidationError", 400)

	start := clk.Now()
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
	clk.Advance(exp.Sub(clk.Now()) + 50*time.Millisecond)
	_, err = credClient(u, out.Credentials).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	wantAPIError(t, err, "ExpiredToken", 403)

	s.SetCredentialLifetime(0)
	out, err = assume(ctx, alice, deployRole, "sess", withDuration(1200))
	if err != nil {
		t.Fatal(err)
	}
	if d := aws.ToTime(out.Credentials.Expiration).Sub(clk.Now()); d < 19*time.Minute || d > 20*time.Minute {
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
