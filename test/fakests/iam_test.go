package fakests

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"
)

// newIAM is the real SDK IAM client pointed at the fake, retries off.
func newIAM(u, key, secret, token string) *iam.Client {
	return iam.New(iam.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(u),
		Credentials:  credentials.NewStaticCredentialsProvider(key, secret, token),
		Retryer:      aws.NopRetryer{},
	})
}

func iamFor(u string, c *types.Credentials) *iam.Client {
	return newIAM(u, aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
}

func revokeDoc(t time.Time) string {
	return fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":["*"],"Resource":["*"],"Condition":{"DateLessThan":{"aws:TokenIssueTime":%q}}}]}`, t.UTC().Format(time.RFC3339))
}

func putRevoke(ctx context.Context, c *iam.Client, role string, t time.Time) error {
	_, err := c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String(RevokePolicyName), PolicyDocument: aws.String(revokeDoc(t))})
	return err
}

// PutRolePolicy is allowed only to principals granted it; the denial
// names the action and the role, as IAM's does.
func TestIAMPutRolePolicyPermissions(t *testing.T) {
	s, u := startFake(t)
	ctx := testCtx(t)
	s.AddUserWith(bobKey, bobSecret, bobArn, UserOptions{IAMActions: []string{"iam:PutRolePolicy"}})
	s.AddRole(deployRole, RoleOptions{})
	const adminRole = "arn:aws:iam::111122223333:role/admin"
	s.AddRole(adminRole, RoleOptions{IAMActions: []string{"iam:*"}})
	admin, err := assume(ctx, newClient(u, aliceKey, aliceSecret, ""), adminRole, "admin")
	if err != nil {
		t.Fatal(err)
	}
	gst, err := newClient(u, bobKey, bobSecret, "").GetSessionToken(ctx, &sts.GetSessionTokenInput{})
	if err != nil {
		t.Fatal(err)
	}
	doc := revokeDoc(time.Now())
	for _, tc := range []struct {
		name       string
		client     *iam.Client
		role, doc  string
		code, want string // code "" = success
	}{
		{"user without grant", newIAM(u, aliceKey, aliceSecret, ""), "deploy", doc, "AccessDenied", "User: " + aliceArn + " is not authorized to perform: iam:PutRolePolicy on resource: " + deployRole},
		{"user with grant", newIAM(u, bobKey, bobSecret, ""), "deploy", doc, "", ""},
		{"role session with iam:*", iamFor(u, admin.Credentials), "deploy", doc, "", ""},
		{"session token without MFA", iamFor(u, gst.Credentials), "deploy", doc, "AccessDenied", "no MFA"},
		{"unknown role, granted", newIAM(u, bobKey, bobSecret, ""), "nosuch", doc, "NoSuchEntity", "nosuch"},
		{"unknown role, not granted", newIAM(u, aliceKey, aliceSecret, ""), "nosuch", doc, "AccessDenied", "iam:PutRolePolicy"},
		{"malformed document", newIAM(u, bobKey, bobSecret, ""), "deploy", `{"Statement":`, "MalformedPolicyDocument", ""},
		{"bad issue time", newIAM(u, bobKey, bobSecret, ""), "deploy", strings.Replace(doc, `Z"`, `Q"`, 1), "MalformedPolicyDocument", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.client.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(tc.role), PolicyName: aws.String("p"), PolicyDocument: aws.String(tc.doc)})
			if tc.code == "" {
				if err != nil {
					t.Fatalf("PutRolePolicy: %v", err)
				}
				return
			}
			wantAPIError(t, err, tc.code, map[string]int{"AccessDenied": 403, "NoSuchEntity": 404, "MalformedPolicyDocument": 400}[tc.code])
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q lacks %q", err, tc.want)
			}
		})
	}

	// Get returns the document URL-encoded, as IAM does; Delete removes it.
	bob := newIAM(u, bobKey, bobSecret, "")
	_, err = bob.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String("deploy"), PolicyName: aws.String("p")})
	wantAPIError(t, err, "AccessDenied", 403) // bob may only put
	a := iamFor(u, admin.Credentials)
	got, err := a.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String("deploy"), PolicyName: aws.String("p")})
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := url.QueryUnescape(aws.ToString(got.PolicyDocument)); d != doc {
		t.Fatalf("GetRolePolicy document = %q, want %q", d, doc)
	}
	if _, err := a.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String("deploy"), PolicyName: aws.String("p")}); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.RolePolicy(deployRole, "p"); ok {
		t.Fatal("policy still there after DeleteRolePolicy")
	}
	_, err = a.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String("deploy"), PolicyName: aws.String("p")})
	wantAPIError(t, err, "NoSuchEntity", 404)
}

// After AWSRevokeOlderSessions with cut-off T, sessions of the role issued
// before T are denied everything but GetCallerIdentity (chaining too);
// sessions issued at or after T, and other roles' sessions, work.
func TestRevokeOlderSessions(t *testing.T) {
	s, u := startFake(t)
	ctx := testCtx(t)
	clock := newFakeClock(time.Now())
	s.SetClock(clock.Now)
	const otherRole = "arn:aws:iam::111122223333:role/other"
	s.AddRole(deployRole, RoleOptions{IAMActions: []string{"iam:ListAccessKeys"}})
	s.AddRole(otherRole, RoleOptions{})
	s.AddUserWith(bobKey, bobSecret, bobArn, UserOptions{IAMActions: []string{"iam:PutRolePolicy", "iam:DeleteRolePolicy"}})
	alice := newClient(u, aliceKey, aliceSecret, "")
	mustAssume := func(role string) *types.Credentials {
		t.Helper()
		out, err := assume(ctx, alice, role, "sess")
		if err != nil {
			t.Fatal(err)
		}
		return out.Credentials
	}
	old, oldOther := mustAssume(deployRole), mustAssume(otherRole)
	clock.Advance(time.Minute)
	cutoff := clock.Now()
	if err := putRevoke(ctx, newIAM(u, bobKey, bobSecret, ""), "deploy", cutoff); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	fresh := mustAssume(deployRole)

	calls := map[string]func(c *types.Credentials) error{
		"GetCallerIdentity": func(c *types.Credentials) error {
			_, err := credClient(u, c).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
			return err
		},
		"GetAccessKeyInfo": func(c *types.Credentials) error {
			_, err := credClient(u, c).GetAccessKeyInfo(ctx, &sts.GetAccessKeyInfoInput{AccessKeyId: aws.String(aliceKey)})
			return err
		},
		"AssumeRole (chained)": func(c *types.Credentials) error {
			_, err := assume(ctx, credClient(u, c), otherRole, "chained")
			return err
		},
		"iam:ListAccessKeys": func(c *types.Credentials) error {
			_, err := iamFor(u, c).ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("alice")})
			return err
		},
	}
	s.AddRole(otherRole, RoleOptions{TrustedPrincipals: []string{aliceArn, deployRole}})
	for _, tc := range []struct {
		creds  string
		c      *types.Credentials
		call   string
		denied bool
	}{
		{"old", old, "GetCallerIdentity", false},
		{"old", old, "GetAccessKeyInfo", true},
		{"old", old, "AssumeRole (chained)", true},
		{"old", old, "iam:ListAccessKeys", true},
		{"fresh", fresh, "GetCallerIdentity", false},
		{"fresh", fresh, "GetAccessKeyInfo", false},
		{"fresh", fresh, "AssumeRole (chained)", false},
		{"fresh", fresh, "iam:ListAccessKeys", false},
		{"other role, old", oldOther, "GetAccessKeyInfo", false},
	} {
		t.Run(tc.creds+"/"+tc.call, func(t *testing.T) {
			err := calls[tc.call](tc.c)
			if !tc.denied {
				if err != nil {
					t.Fatalf("%s with %s credentials: %v", tc.call, tc.creds, err)
				}
				return
			}
			wantAPIError(t, err, "AccessDenied", 403)
			if !strings.Contains(err.Error(), "explicit deny") {
				t.Fatalf("denial %q does not say it is an explicit deny", err)
			}
		})
	}

	// Deleting the policy lifts the revocation.
	if _, err := newIAM(u, bobKey, bobSecret, "").DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String("deploy"), PolicyName: aws.String(RevokePolicyName)}); err != nil {
		t.Fatal(err)
	}
	if err := calls["GetAccessKeyInfo"](old); err != nil {
		t.Fatalf("old credentials after the revocation was deleted: %v", err)
	}
}

// Access keys: create (up to IAM's 2 per user), list, delete; a new key
// signs, a deleted one no longer does.
func TestIAMAccessKeys(t *testing.T) {
	s, u := startFake(t)
	ctx := testCtx(t)
	s.AddUserWith(bobKey, bobSecret, bobArn, UserOptions{IAMActions: []string{"iam:*AccessKey*"}})
	s.AddRole(deployRole, RoleOptions{IAMActions: []string{"iam:*"}})
	bob := newIAM(u, bobKey, bobSecret, "")

	_, err := newIAM(u, aliceKey, aliceSecret, "").CreateAccessKey(ctx, &iam.CreateAccessKeyInput{})
	wantAPIError(t, err, "AccessDenied", 403)

	created, err := bob.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	k := created.AccessKey
	if aws.ToString(k.UserName) != "bob" || !strings.HasPrefix(aws.ToString(k.AccessKeyId), "AKIA") || len(aws.ToString(k.SecretAccessKey)) != 40 || k.CreateDate == nil {
		t.Fatalf("CreateAccessKey = %+v", k)
	}
	newBob := newClient(u, aws.ToString(k.AccessKeyId), aws.ToString(k.SecretAccessKey), "")
	if id, err := newBob.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil || aws.ToString(id.Arn) != bobArn {
		t.Fatalf("the new key signs as %v (%v), want %s", id, err, bobArn)
	}
	_, err = bob.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("bob")})
	wantAPIError(t, err, "LimitExceeded", 409)

	list, err := bob.ListAccessKeys(ctx, &iam.ListAccessKeysInput{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range list.AccessKeyMetadata {
		ids = append(ids, aws.ToString(m.AccessKeyId))
	}
	if len(ids) != 2 || ids[0] != bobKey || ids[1] != aws.ToString(k.AccessKeyId) {
		t.Fatalf("ListAccessKeys = %v, want [%s %s]", ids, bobKey, aws.ToString(k.AccessKeyId))
	}

	// The new key retires the old one, as a rotation does.
	if _, err := iamFor(u, &types.Credentials{AccessKeyId: k.AccessKeyId, SecretAccessKey: k.SecretAccessKey}).DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{AccessKeyId: aws.String(bobKey)}); err != nil {
		t.Fatal(err)
	}
	_, err = newClient(u, bobKey, bobSecret, "").GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	wantAPIError(t, err, "InvalidClientTokenId", 403)
	_, err = newBob.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = iamFor(u, &types.Credentials{AccessKeyId: k.AccessKeyId, SecretAccessKey: k.SecretAccessKey}).DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{AccessKeyId: aws.String(bobKey)})
	wantAPIError(t, err, "NoSuchEntity", 404)

	// A role session must name the user.
	sess, err := assume(ctx, newClient(u, aliceKey, aliceSecret, ""), deployRole, "sess")
	if err != nil {
		t.Fatal(err)
	}
	_, err = iamFor(u, sess.Credentials).ListAccessKeys(ctx, &iam.ListAccessKeysInput{})
	wantAPIError(t, err, "ValidationError", 400)
	_, err = iamFor(u, sess.Credentials).ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("nobody")})
	wantAPIError(t, err, "NoSuchEntity", 404)
}

// A new key is refused (InvalidClientTokenId) until the propagation delay
// has passed on the fake's clock, then signs; keys made before are not
// delayed.
func TestIAMKeyPropagation(t *testing.T) {
	s, u := startFake(t)
	ctx := testCtx(t)
	now := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	s.SetClock(func() time.Time { return now })
	s.AddUserWith(bobKey, bobSecret, bobArn, UserOptions{IAMActions: []string{"iam:*AccessKey*"}})
	s.SetKeyPropagation(10 * time.Second)
	created, err := newIAM(u, bobKey, bobSecret, "").CreateAccessKey(ctx, &iam.CreateAccessKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	k := created.AccessKey
	fresh := newClient(u, aws.ToString(k.AccessKeyId), aws.ToString(k.SecretAccessKey), "")
	for _, tc := range []struct {
		after time.Duration
		code  string // "" = works
	}{{0, "InvalidClientTokenId"}, {9 * time.Second, "InvalidClientTokenId"}, {10 * time.Second, ""}} {
		now = time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC).Add(tc.after)
		_, err := fresh.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if tc.code == "" {
			if err != nil {
				t.Fatalf("%v after creation: %v, want the key to work", tc.after, err)
			}
			continue
		}
		wantAPIError(t, err, tc.code, 403)
	}
	if _, err := newClient(u, bobKey, bobSecret, "").GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatalf("the key added before: %v", err)
	}
}

// A fault set for one action fails that action only, Count times.
func TestActionFault(t *testing.T) {
	s, u := startFake(t)
	ctx := testCtx(t)
	s.AddUserWith(bobKey, bobSecret, bobArn, UserOptions{IAMActions: []string{"iam:*AccessKey*"}})
	s.SetActionFault("DeleteAccessKey", Fault{Mode: FaultAccessDenied, Count: 1})
	bob := newIAM(u, bobKey, bobSecret, "")
	created, err := bob.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{})
	if err != nil {
		t.Fatalf("CreateAccessKey under a DeleteAccessKey fault: %v", err)
	}
	del := &iam.DeleteAccessKeyInput{AccessKeyId: created.AccessKey.AccessKeyId}
	_, err = bob.DeleteAccessKey(ctx, del)
	wantAPIError(t, err, "AccessDenied", 403)
	if _, err := bob.DeleteAccessKey(ctx, del); err != nil {
		t.Fatalf("DeleteAccessKey after the one fault: %v", err)
	}
}
