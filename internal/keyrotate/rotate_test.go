package keyrotate

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/imdsd/imdsd/config"
	"github.com/imdsd/imdsd/internal/broker"
	"github.com/imdsd/imdsd/internal/iamops"
	"github.com/imdsd/imdsd/internal/keystore"
	"github.com/imdsd/imdsd/test/fakests"
)

// Fake identities of the fake IAM; none exist in AWS.
const (
	oldID     = "AKIAFAKEROTATE000001"
	oldSecret = "FAKErotateSECRETkeyFAKErotateSECRETkey01"
	userARN   = "arn:aws:iam::111122223333:user/alice"
	profile   = "work"
)

// fakeClock is the time of both the fake IAM (key creation, propagation)
// and the rotation's wait: sleeping moves it on at once.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return ctx.Err()
}

// memStore is the keyring in memory.
type memStore struct {
	mu     sync.Mutex
	keys   map[string]keystore.Keys
	setErr error
}

func (m *memStore) Get(p string) (keystore.Keys, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.keys[p]
	if !ok {
		return keystore.Keys{}, keystore.ErrNotFound
	}
	return k, nil
}

func (m *memStore) Set(p string, k keystore.Keys) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.setErr != nil {
		return m.setErr
	}
	m.keys[p] = k
	return nil
}

// loopbackOnly is the SDK's client refusing anything but loopback: a test
// that misses the fake must fail, not reach AWS.
var loopbackOnly = awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
	tr.Proxy = nil
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if ip, perr := netip.ParseAddr(host); err != nil || perr != nil || !ip.IsLoopback() {
			return nil, fmt.Errorf("test guard: refusing to dial %s: tests talk to the fake on loopback only", addr)
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
}).WithTimeout(10 * time.Second)

type env struct {
	sts   *fakests.Server
	store *memStore
	clock *fakeClock
	opts  Options
}

// newEnv: user alice has one key, stored for profile work; the profile's
// section points STS and IAM at the fake, as a user's services section
// would. The user may manage its own keys.
func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{sts: fakests.New(), clock: &fakeClock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}}
	e.sts.SetLogf(func(string, ...any) {})
	e.sts.SetClock(e.clock.Now)
	e.sts.AddUserWith(oldID, oldSecret, userARN, fakests.UserOptions{IAMActions: []string{"iam:ListAccessKeys", "iam:CreateAccessKey", "iam:DeleteAccessKey"}})
	u, err := e.sts.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.sts.Close)
	dir := t.TempDir()
	files := config.AWSFiles{Config: []string{filepath.Join(dir, "config")}, Credentials: []string{filepath.Join(dir, "credentials")}}
	cfg := "[profile " + profile + "]\nregion = eu-west-1\nservices = fake\n\n[services fake]\nsts =\n  endpoint_url = " + u + "\niam =\n  endpoint_url = " + u + "\n"
	if err := os.WriteFile(files.Config[0], []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(files.Credentials[0], nil, 0o600); err != nil {
		t.Fatal(err)
	}
	e.store = &memStore{keys: map[string]keystore.Keys{profile: {AccessKeyID: oldID, SecretAccessKey: oldSecret, Created: e.clock.Now().Add(-100 * 24 * time.Hour)}}}
	e.opts = Options{
		Store:   e.store,
		Profile: profile,
		STS:     broker.STSOptions{Files: files, HTTPClient: loopbackOnly},
		Now:     e.clock.Now,
		Sleep:   e.clock.Sleep,
	}
	return e
}

func (e *env) stored(t *testing.T) keystore.Keys {
	t.Helper()
	k, err := e.store.Get(profile)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// works asks STS who signs with k; "" and the error code when it fails.
func (e *env) works(t *testing.T, id, secret string) (arn, code string) {
	t.Helper()
	arn, _, err := broker.CallerIdentity(context.Background(), e.opts.STS, profile, aws.Credentials{AccessKeyID: id, SecretAccessKey: secret})
	var api smithy.APIError
	if errors.As(err, &api) {
		return "", api.ErrorCode()
	}
	if err != nil {
		t.Fatalf("GetCallerIdentity with %s: %v", id, err)
	}
	return arn, ""
}

// keyIDs lists the user's keys at the fake, as the stored key sees them.
func (e *env) keyIDs(t *testing.T) []string {
	t.Helper()
	k := e.stored(t)
	cfg, err := broker.KeysConfig(context.Background(), e.opts.STS, profile, aws.Credentials{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := iamops.ListAccessKeys(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, k := range keys {
		ids = append(ids, k.ID)
	}
	return ids
}

func wantIn(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("rotation succeeded")
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q\nlacks %q", err, p)
		}
	}
	if strings.Contains(err.Error(), oldSecret) {
		t.Errorf("error %q holds the secret key", err)
	}
}

// The new key is stored and signs as the same user; the old one is gone
// at AWS (InvalidClientTokenId).
func TestRotate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res, err := Rotate(context.Background(), e.opts)
	if err != nil {
		t.Fatal(err)
	}
	k := e.stored(t)
	if k.AccessKeyID == oldID || k.AccessKeyID != res.NewKeyID || res.Stored != k.AccessKeyID || !res.OldDeleted || res.OldKeyID != oldID || res.UserARN != userARN {
		t.Fatalf("result %+v, stored %s", res, k.AccessKeyID)
	}
	if !k.Created.Equal(e.clock.Now()) {
		t.Errorf("stored Created = %v, want IAM's CreateDate %v", k.Created, e.clock.Now())
	}
	if arn, code := e.works(t, k.AccessKeyID, k.SecretAccessKey); arn != userARN {
		t.Errorf("the new key signs as %q (%s), want %s", arn, code, userARN)
	}
	if _, code := e.works(t, oldID, oldSecret); code != "InvalidClientTokenId" {
		t.Errorf("the old key after rotation: %q, want InvalidClientTokenId", code)
	}
	if ids := e.keyIDs(t); len(ids) != 1 || ids[0] != k.AccessKeyID {
		t.Errorf("the user's keys at IAM: %v, want only %s", ids, k.AccessKeyID)
	}
}

// A user with two keys already is refused before anything changes, with
// both keys named and the one to delete said.
func TestRotateRefusesTwoKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const otherID = "AKIAFAKEROTATE000002"
	e.sts.AddUser(otherID, "FAKErotateSECRETkeyFAKErotateSECRETkey02", userARN)
	_, err := Rotate(context.Background(), e.opts)
	wantIn(t, err, "already has two access keys", oldID+" (stored by imdsd)", otherID,
		"aws iam delete-access-key --access-key-id "+otherID, "imdsd keys rotate "+profile, "nothing was changed")
	if n := e.sts.CallCount("CreateAccessKey"); n != 0 {
		t.Errorf("CreateAccessKey called %d times", n)
	}
	if k := e.stored(t); k.AccessKeyID != oldID {
		t.Errorf("stored %s, want the old key", k.AccessKeyID)
	}
}

// IAM takes 20 s to accept the new key: the rotation waits (on the fake
// clock) with backoff and succeeds.
func TestRotateWaitsForPropagation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.sts.SetKeyPropagation(20 * time.Second)
	res, err := Rotate(context.Background(), e.opts)
	if err != nil {
		t.Fatal(err)
	}
	// Tries at 0, 1, 3, 7, 15 s fail; the one at 31 s works.
	if res.Attempts != 6 || res.Waited != 31*time.Second {
		t.Errorf("%d tries over %v, want 6 over 31s", res.Attempts, res.Waited)
	}
	if k := e.stored(t); k.AccessKeyID != res.NewKeyID || !res.OldDeleted {
		t.Errorf("stored %s, result %+v", k.AccessKeyID, res)
	}
}

// The new key never works within the bound: it is deleted again, and the
// old key stays stored and working.
func TestRotateGivesUpAtTheBound(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.sts.SetKeyPropagation(10 * time.Minute)
	start := e.clock.Now()
	res, err := Rotate(context.Background(), e.opts)
	wantIn(t, err, "did not work within 2m0s", "so it was deleted again", "the stored key "+oldID+" is unchanged and still works", "InvalidClientTokenId")
	if got := e.clock.Now().Sub(start); got != DefaultWait {
		t.Errorf("waited %v, want exactly the bound %v", got, DefaultWait)
	}
	if !res.NewDeleted || res.NewKeyID == "" || res.Stored != oldID {
		t.Errorf("result %+v", res)
	}
	if k := e.stored(t); k.AccessKeyID != oldID {
		t.Errorf("stored %s, want the old key", k.AccessKeyID)
	}
	if arn, code := e.works(t, oldID, oldSecret); arn != userARN {
		t.Errorf("the old key after a failed rotation: %s", code)
	}
	if ids := e.keyIDs(t); len(ids) != 1 || ids[0] != oldID {
		t.Errorf("the user's keys at IAM: %v, want only %s", ids, oldID)
	}
}

// DeleteAccessKey fails after the new key is stored: the new key is kept
// and works, and the message names the old key and how to delete it.
func TestRotateDeleteFails(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.sts.SetActionFault("DeleteAccessKey", fakests.Fault{Mode: fakests.FaultAccessDenied})
	res, err := Rotate(context.Background(), e.opts)
	wantIn(t, err, "is stored and works", "the old key "+oldID+" was not deleted and still works",
		"aws iam delete-access-key --access-key-id "+oldID)
	k := e.stored(t)
	if k.AccessKeyID != res.NewKeyID || res.Stored != k.AccessKeyID || res.OldDeleted {
		t.Fatalf("result %+v, stored %s", res, k.AccessKeyID)
	}
	if arn, code := e.works(t, k.AccessKeyID, k.SecretAccessKey); arn != userARN {
		t.Errorf("the stored new key: %s", code)
	}
	if arn, code := e.works(t, oldID, oldSecret); arn != userARN {
		t.Errorf("the old key (not deleted): %s", code)
	}
}

// IAM does not accept the new key yet when it is to delete the old one,
// though STS does: the old key deletes itself.
func TestRotateDeletesWithTheOldKeyWhileIAMLearnsTheNew(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.sts.SetActionFault("DeleteAccessKey", fakests.Fault{Mode: fakests.FaultInvalidToken, Count: 1})
	res, err := Rotate(context.Background(), e.opts)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OldDeleted {
		t.Fatalf("result %+v", res)
	}
	var signers []string
	for _, c := range e.sts.Calls() {
		if c.Action == "DeleteAccessKey" {
			signers = append(signers, c.AccessKeyID)
		}
	}
	if len(signers) != 2 || signers[0] != res.NewKeyID || signers[1] != oldID {
		t.Errorf("DeleteAccessKey signed by %v, want the new key then the old", signers)
	}
	if _, code := e.works(t, oldID, oldSecret); code != "InvalidClientTokenId" {
		t.Errorf("the old key after rotation: %q, want InvalidClientTokenId", code)
	}
}

// The keyring refuses the new key: it is deleted at IAM, the old one
// stays stored; and a profile without a stored key is told how to add one.
func TestRotateStoreFailsAndNoKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.store.setErr = errors.New("the keyring is locked")
	res, err := Rotate(context.Background(), e.opts)
	wantIn(t, err, "storing the new key", "in the keyring failed", "so it was deleted again", "the stored key "+oldID+" is unchanged", "the keyring is locked")
	if !res.NewDeleted {
		t.Errorf("result %+v", res)
	}
	if ids := e.keyIDs(t); len(ids) != 1 || ids[0] != oldID {
		t.Errorf("the user's keys at IAM: %v, want only %s", ids, oldID)
	}

	o := e.opts
	o.Profile = "other"
	_, err = Rotate(context.Background(), o)
	wantIn(t, err, "profile other has no key in the keyring", "imdsd keys add other")

	e.store.keys[profile] = keystore.Keys{AccessKeyID: "AKIAFAKEROTATEGONE01", SecretAccessKey: oldSecret}
	_, err = Rotate(context.Background(), e.opts)
	wantIn(t, err, "the stored key AKIAFAKEROTATEGONE01 does not work (AWS answered InvalidClientTokenId", "imdsd keys add "+profile, "nothing was changed")
	if n := e.sts.CallCount("CreateAccessKey"); n != 1 {
		t.Errorf("CreateAccessKey called %d times, want only the first rotation's", n)
	}
}

// auto_rotate: a young key is left alone without a call to AWS; a key
// past rotate_after is rotated.
func TestRotateIfDue(t *testing.T) {
	t.Parallel()
	e := newEnv(t) // the stored key is 100 days old
	res, rotated, err := RotateIfDue(context.Background(), e.opts, 120*24*time.Hour)
	if err != nil || rotated || res.Stored != oldID {
		t.Fatalf("a 100-day key with rotate_after 120 days: rotated %v, %+v, %v", rotated, res, err)
	}
	if n := e.sts.CallCount(""); n != 0 {
		t.Errorf("%d calls to AWS for a key not due", n)
	}
	res, rotated, err = RotateIfDue(context.Background(), e.opts, 90*24*time.Hour)
	if err != nil || !rotated || !res.OldDeleted {
		t.Fatalf("a 100-day key with rotate_after 90 days: rotated %v, %+v, %v", rotated, res, err)
	}
	if k := e.stored(t); k.AccessKeyID != res.NewKeyID || !k.Created.Equal(e.clock.Now()) {
		t.Errorf("stored %s created %v, want the new key %s created now", k.AccessKeyID, k.Created, res.NewKeyID)
	}
}
