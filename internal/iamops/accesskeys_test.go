package iamops

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Create, list and delete act on the user whose key signs; a deleted key
// no longer works.
func TestAccessKeysOfTheCaller(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg, _ := fakeCfg(t, "iam:*AccessKey*")
	nk, err := CreateAccessKey(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(nk.ID, "AKIA") || nk.Secret == "" || nk.Created.IsZero() {
		t.Fatalf("CreateAccessKey = id %q, created %v, secret set %v", nk.ID, nk.Created, nk.Secret != "")
	}
	keys, err := ListAccessKeys(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].ID != keyID || keys[1].ID != nk.ID || keys[1].Status != "Active" {
		t.Fatalf("ListAccessKeys = %+v, want %s then %s", keys, keyID, nk.ID)
	}
	newCfg := cfg.Copy()
	newCfg.Credentials = credentials.NewStaticCredentialsProvider(nk.ID, nk.Secret, "")
	if err := DeleteAccessKey(ctx, newCfg, keyID); err != nil {
		t.Fatal(err)
	}
	_, err = ListAccessKeys(ctx, cfg)
	var ke *KeyError
	if !errors.As(err, &ke) || ke.Code() != "InvalidClientTokenId" || !strings.Contains(err.Error(), "does not accept the stored key") {
		t.Fatalf("listing with the deleted key: %v, want InvalidClientTokenId said as a sentence", err)
	}
}

// Each refusal is one sentence naming the action and the fix.
func TestAccessKeyErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		grant []string
		setup func(cfg aws.Config) error
		call  func(cfg aws.Config) error
		want  []string
	}{
		{"denied", nil, nil,
			func(cfg aws.Config) error { _, err := CreateAccessKey(ctx, cfg); return err },
			[]string{"IAM denied iam:CreateAccessKey", "iam:DeleteAccessKey on itself", "AccessDenied"}},
		{"two keys", []string{"iam:*"},
			func(cfg aws.Config) error { _, err := CreateAccessKey(ctx, cfg); return err },
			func(cfg aws.Config) error { _, err := CreateAccessKey(ctx, cfg); return err },
			[]string{"already has two access keys", "delete the one imdsd does not store", "LimitExceeded"}},
		{"no such key", []string{"iam:*"}, nil,
			func(cfg aws.Config) error { return DeleteAccessKey(ctx, cfg, "AKIANOSUCHKEY0000001") },
			[]string{"iam:DeleteAccessKey of key AKIANOSUCHKEY0000001", "no longer exists"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg, _ := fakeCfg(t, tc.grant...)
			if tc.setup != nil {
				if err := tc.setup(cfg); err != nil {
					t.Fatal(err)
				}
			}
			err := tc.call(cfg)
			if err == nil {
				t.Fatal("succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q holds the secret key", err)
			}
		})
	}
}
