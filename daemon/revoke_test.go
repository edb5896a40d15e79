package daemon

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/imdsd/imdsd/internal/iamops"
	"github.com/imdsd/imdsd/test/fakests"
)

// revokeEnv is startEnv with IAM at the fake too (the SDK's own setting,
// read when revoke builds the source credentials' config), and the source
// user (alice, of profile base) granted the IAM actions listed.
func revokeEnv(t *testing.T, o envOptions, grant ...string) *testEnv {
	t.Helper()
	e := startEnv(t, o)
	t.Setenv("AWS_ENDPOINT_URL_IAM", e.sts.URL())
	e.sts.AddUserWith(baseKeyID, baseKey, userARN, fakests.UserOptions{IAMActions: grant})
	return e
}

// keyInfo signs sts:GetAccessKeyInfo with c: a harmless call that, unlike
// GetCallerIdentity, a revoked session is denied.
func (e *testEnv) keyInfo(ctx context.Context, c aws.Credentials) error {
	client := sts.New(sts.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(e.sts.URL()),
		Credentials:  aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return c, nil }),
		Retryer:      aws.NopRetryer{},
	})
	_, err := client.GetAccessKeyInfo(ctx, &sts.GetAccessKeyInfoInput{AccessKeyId: aws.String(c.AccessKeyID)})
	return err
}

func wantDenied(t *testing.T, what string, err error) {
	t.Helper()
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "AccessDenied" {
		t.Fatalf("%s: %v, want AccessDenied", what, err)
	}
}

// `imdsd revoke`: credentials a client took before it are denied at AWS
// (all but GetCallerIdentity), and imdsd serves new ones that work.
func TestRevokeInvalidatesWhatWasServedAndServesNewCredentials(t *testing.T) {
	e := revokeEnv(t, envOptions{}, "iam:PutRolePolicy")
	ctx := context.Background()
	old, err := e.ec2Creds(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.keyInfo(ctx, old); err != nil {
		t.Fatalf("credentials from imdsd do not work before revoke: %v", err)
	}

	res, err := e.client().Revoke(ctx, "dev")
	if err != nil {
		t.Fatal(err)
	}
	if res.RoleARN != devRole || res.Cutoff.IsZero() || res.AccessKeyID == "" || res.AccessKeyID == old.AccessKeyID {
		t.Fatalf("revoke answered %+v, want dev's role, a cut-off and a new key (old %s)", res, old.AccessKeyID)
	}
	doc, ok := e.sts.RolePolicy(devRole, iamops.RevokePolicyName)
	if !ok || doc != iamops.RevokePolicy(res.Cutoff) {
		t.Fatalf("policy on the role: %q (%v), want %q", doc, ok, iamops.RevokePolicy(res.Cutoff))
	}

	wantDenied(t, "the old credentials after revoke", e.keyInfo(ctx, old))
	if arn, err := e.callerARN(ctx, old); err != nil || !strings.Contains(arn, ":assumed-role/dev/") {
		t.Fatalf("GetCallerIdentity with the old credentials: %q %v (AWS lets it through)", arn, err)
	}

	fresh, err := e.ec2Creds(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fresh.AccessKeyID != res.AccessKeyID {
		t.Fatalf("IMDS serves %s, revoke reported %s", fresh.AccessKeyID, res.AccessKeyID)
	}
	if err := e.keyInfo(ctx, fresh); err != nil {
		t.Fatalf("the credentials served after revoke do not work: %v", err)
	}
	if st, err := e.client().Status(ctx); err != nil || st.Profiles[0].AccessKeyID != fresh.AccessKeyID || st.Profiles[0].LastError != "" {
		t.Fatalf("status after revoke: %+v %v", st.Profiles, err)
	}
}

// Without iam:PutRolePolicy, revoke says what is missing, naming the
// permission and the role, and drops nothing: the served key stays served
// and keeps working. A profile that is no role cannot be revoked.
func TestRevokeWithoutPermissionNamesItAndDropsNothing(t *testing.T) {
	e := revokeEnv(t, envOptions{ecsTOML: `profiles = ["base"]`})
	ctx := context.Background()
	old, err := e.ec2Creds(ctx)
	if err != nil {
		t.Fatal(err)
	}

	_, err = e.client().Revoke(ctx, "")
	if err == nil {
		t.Fatal("revoke without iam:PutRolePolicy succeeded")
	}
	for _, want := range []string{"IAM denied iam:PutRolePolicy on " + devRole + " to the source credentials (profile base)", "nothing was revoked"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("revoke error %q lacks %q", err, want)
		}
	}
	if _, ok := e.sts.RolePolicy(devRole, iamops.RevokePolicyName); ok {
		t.Fatal("a denied revoke left a policy on the role")
	}
	if c, err := e.ec2Creds(ctx); err != nil || c.AccessKeyID != old.AccessKeyID {
		t.Fatalf("after a denied revoke IMDS serves %q (%v), want the same %s", c.AccessKeyID, err, old.AccessKeyID)
	}
	if err := e.keyInfo(ctx, old); err != nil {
		t.Fatalf("the served credentials stopped working after a denied revoke: %v", err)
	}

	_, err = e.client().Revoke(ctx, "base")
	if err == nil || !strings.Contains(err.Error(), "not a role profile") {
		t.Fatalf("revoke of a keys profile: %v", err)
	}
	_, err = e.client().Revoke(ctx, "qa")
	if err == nil || !strings.Contains(err.Error(), "not served") {
		t.Fatalf("revoke of a profile not served: %v", err)
	}
}

// `imdsd lock --revoke` stops serving and invalidates what was served:
// every served role's older sessions are denied, keys profiles are
// reported as not revocable, and unlock serves credentials that work.
func TestLockRevokeStopsServingAndInvalidatesWhatWasServed(t *testing.T) {
	e := revokeEnv(t, envOptions{ecsTOML: `profiles = ["ops", "base"]`}, "iam:PutRolePolicy")
	ctx := context.Background()
	dev, err := e.ec2Creds(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ops, err := e.ecsCreds(ctx, "/role/ops")
	if err != nil {
		t.Fatal(err)
	}

	res, err := e.client().LockRevoke(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range res {
		got[r.Profile] = r.RoleARN + "|" + r.Error + "|" + r.Note
		if r.Error != "" {
			t.Errorf("%s: %s", r.Profile, r.Error)
		}
	}
	if len(res) != 3 || !strings.HasPrefix(got["dev"], devRole+"||") || !strings.HasPrefix(got["ops"], opsRole+"||") || !strings.Contains(got["base"], "not a role") {
		t.Fatalf("lock --revoke reported %v", got)
	}
	if st, err := e.client().Status(ctx); err != nil || !st.Locked {
		t.Fatalf("not locked after lock --revoke: %v", err)
	}
	if _, err := e.client().Creds(ctx, "dev"); err == nil || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("credentials served while locked: %v", err)
	}
	wantDenied(t, "dev's credentials after lock --revoke", e.keyInfo(ctx, dev))
	wantDenied(t, "ops' credentials after lock --revoke", e.keyInfo(ctx, ops))

	if _, err := e.client().Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	fresh, err := e.ec2Creds(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.keyInfo(ctx, fresh); err != nil {
		t.Fatalf("credentials served after unlock do not work: %v", err)
	}
}
