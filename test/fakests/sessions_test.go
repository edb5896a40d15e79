package fakests

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"
)

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
