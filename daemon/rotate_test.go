package daemon

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"

	"github.com/imdsd/imdsd/config"
	"github.com/imdsd/imdsd/internal/control"
	"github.com/imdsd/imdsd/internal/keystore"
)

// TestKeyRotationFromTheDaemon: a keyring key past rotate_after makes
// status warn with the command to run; with auto_rotate on, the daemon
// rotates it itself: a new key in IAM and in the keyring, the old one
// refused at AWS, status quiet again, and clients served from the new key.
func TestKeyRotationFromTheDaemon(t *testing.T) {
	e := revokeEnv(t, envOptions{keyringTOML: `rotate_after = "90d"`}, "iam:ListAccessKeys", "iam:CreateAccessKey", "iam:DeleteAccessKey")
	ctx := context.Background()
	s, err := keystore.Open(config.Keyring{Backend: "file", FileDir: filepath.Join(e.dir, "keyring")}, func(string) (string, error) { return keyringPass, nil })
	if err != nil {
		t.Fatal(err)
	}
	must(t, s.Set("base", keystore.Keys{AccessKeyID: baseKeyID, SecretAccessKey: baseKey, Created: time.Now().Add(-100 * 24 * time.Hour)}))
	must(t, os.WriteFile(e.awsCreds, nil, 0o600))
	if _, err := e.client().UnlockWith(ctx, keyringPass); err != nil {
		t.Fatal(err)
	}
	dev := func() control.ProfileStatus {
		st, err := e.client().Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range st.Profiles {
			if p.Name == "dev" {
				return p
			}
		}
		t.Fatal("status has no profile dev")
		return control.ProfileStatus{}
	}
	if p := dev(); p.KeyringKeyID != baseKeyID || !strings.Contains(p.KeyringRotate, "100 days old") || !strings.Contains(p.KeyringRotate, "imdsd keys rotate base") {
		t.Fatalf("status of dev with a 100-day-old key: key %s, rotate %q", p.KeyringKeyID, p.KeyringRotate)
	}
	if _, err := e.ec2Creds(ctx); err != nil {
		t.Fatal(err)
	}

	// auto_rotate on: the reload that brings it in looks at once.
	e.keyringTOML = "rotate_after = \"90d\"\nauto_rotate = true"
	e.writeConfig("", "")
	must(t, e.d.Reload(ctx))
	var now keystore.Keys
	waitFor(t, patience, func() bool {
		now, err = s.Get("base")
		return err == nil && now.AccessKeyID != baseKeyID
	}, "the daemon did not rotate base's key")
	old := aws.Credentials{AccessKeyID: baseKeyID, SecretAccessKey: baseKey}
	var api smithy.APIError
	if err := e.keyInfo(ctx, old); !errors.As(err, &api) || api.ErrorCode() != "InvalidClientTokenId" {
		t.Fatalf("the old key after rotation: %v, want InvalidClientTokenId (deleted in IAM)", err)
	}
	waitFor(t, patience, func() bool { p := dev(); return p.KeyringKeyID == now.AccessKeyID && p.KeyringRotate == "" },
		"status does not show the new key without a warning")
	c, err := e.ec2Creds(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if iss, _ := e.sts.Issued(c.AccessKeyID); iss.SourceAccessKeyID != now.AccessKeyID {
		t.Fatalf("dev served %+v, want it assumed with the new key %s", iss, now.AccessKeyID)
	}
	if !strings.Contains(e.logs.String(), now.AccessKeyID) || strings.Contains(e.logs.String(), now.SecretAccessKey) || strings.Contains(e.logs.String(), baseKey) {
		t.Fatal("the log does not name the new key id, or shows a secret key")
	}
}
