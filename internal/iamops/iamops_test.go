package iamops

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/imdsd/imdsd/test/fakests"
)

// Fake identities of the fake IAM; none exist in AWS.
const (
	keyID   = "AKIAFAKEIAMOPS000001"
	secret  = "FAKEiamopsSECRETkeyFAKEiamopsSECRETkey01"
	userARN = "arn:aws:iam::111122223333:user/alice"
	devRole = "arn:aws:iam::111122223333:role/team/dev"
)

func fakeCfg(t *testing.T, grant ...string) (aws.Config, *fakests.Server) {
	t.Helper()
	s := fakests.New()
	s.SetLogf(func(string, ...any) {})
	s.AddUserWith(keyID, secret, userARN, fakests.UserOptions{IAMActions: grant})
	s.AddRole(devRole, fakests.RoleOptions{})
	u, err := s.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return aws.Config{
		Region:       "eu-west-1",
		BaseEndpoint: aws.String(u),
		Credentials:  credentials.NewStaticCredentialsProvider(keyID, secret, ""),
		Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
	}, s
}

func TestRevokeOlderSessions(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		grant []string
		role  string
		want  []string // "" = success
	}{
		{"granted", []string{"iam:PutRolePolicy"}, devRole, nil},
		{"denied", nil, devRole, []string{"IAM denied iam:PutRolePolicy on " + devRole + " to the identity calling IAM", "grant it iam:PutRolePolicy", "Revoke active sessions on role dev", "nothing was revoked"}},
		{"no such role", []string{"iam:*"}, "arn:aws:iam::111122223333:role/gone", []string{"does not exist", "role/gone"}},
		{"not a role", []string{"iam:*"}, "arn:aws:iam::111122223333:user/alice", []string{"not a role ARN"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, s := fakeCfg(t, tc.grant...)
			err := RevokeOlderSessions(ctx, cfg, tc.role, now)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				doc, ok := s.RolePolicy(devRole, RevokePolicyName)
				if !ok || doc != RevokePolicy(now) || !strings.Contains(doc, `"aws:TokenIssueTime":"2026-03-04T05:06:07Z"`) {
					t.Fatalf("policy on the role = %q (%v), want %q", doc, ok, RevokePolicy(now))
				}
				return
			}
			if err == nil {
				t.Fatal("succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if _, ok := s.RolePolicy(devRole, RevokePolicyName); ok {
				t.Error("a failed revocation left a policy on the role")
			}
		})
	}
}
