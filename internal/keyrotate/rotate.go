// Package keyrotate rotates a profile's long-term access key kept in the
// keyring: it creates a new key in IAM, waits until AWS accepts it, stores
// it, and only then deletes the old one, so that whatever step fails, a
// working key is stored and the error says what is left to do. It also
// says when a key is due for rotation (rotate_after).
package keyrotate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"

	"github.com/imdsd/imdsd/internal/broker"
	"github.com/imdsd/imdsd/internal/iamops"
	"github.com/imdsd/imdsd/internal/keystore"
)

// DefaultWait bounds the wait for a new key to work. IAM documents its
// changes as eventually consistent, usually within seconds; two minutes
// covers a slow region without leaving the user staring at a spinner.
const DefaultWait = 2 * time.Minute

// cleanupBound bounds the deletion of a new key that will not be used,
// which runs even when ctx was cancelled (Ctrl-C must not leave a stray
// key filling one of the user's two slots).
const cleanupBound = 15 * time.Second

// Store is where the profile's key lives; *keystore.Store satisfies it.
type Store interface {
	Get(profile string) (keystore.Keys, error)
	Set(profile string, k keystore.Keys) error
}

// Options says which key to rotate and how to reach AWS.
type Options struct {
	Store   Store
	Profile string
	// STS carries the AWS files (the profile's region and endpoint
	// settings, e.g. a services section) and the HTTP client, for STS and
	// IAM alike.
	STS broker.STSOptions
	// Wait bounds the wait for the new key to work; 0 = DefaultWait.
	Wait time.Duration
	// Now and Sleep are the clock of the wait; nil = the real ones. Sleep
	// returns early with ctx's error.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	// Progress, if set, hears each step as it starts ("waiting for ...").
	Progress func(msg string)
}

// Result is what a rotation did, also when it failed part way.
type Result struct {
	Profile  string
	UserARN  string
	OldKeyID string
	NewKeyID string // "" if no key was created
	// NewDeleted: the new key was deleted again after a later step failed.
	NewDeleted bool
	Created    time.Time // the new key's CreateDate
	// Stored is the key id the store holds now: the new one once stored.
	Stored string
	// OldDeleted: the old key is gone from IAM.
	OldDeleted bool
	// Attempts and Waited: GetCallerIdentity calls with the new key and
	// how long it took until one succeeded (or the wait gave up).
	Attempts int
	Waited   time.Duration
}

// Rotate replaces the profile's stored key: ListAccessKeys (refusing when
// the user has two keys already), CreateAccessKey, GetCallerIdentity with
// the new key until it works (bounded), store it, DeleteAccessKey the old
// one. IAM is called as the user itself, with the stored key and then the
// new one; it needs iam:ListAccessKeys, iam:CreateAccessKey and
// iam:DeleteAccessKey on itself.
func Rotate(ctx context.Context, o Options) (Result, error) {
	o.defaults()
	res := Result{Profile: o.Profile}
	old, err := o.Store.Get(o.Profile)
	if errors.Is(err, keystore.ErrNotFound) {
		return res, fmt.Errorf("profile %s has no key in the keyring, so there is nothing to rotate: store one with `imdsd keys add %s` first", o.Profile, o.Profile)
	}
	if err != nil {
		return res, fmt.Errorf("profile %s: reading its key from the keyring failed, nothing was changed: %w", o.Profile, err)
	}
	res.OldKeyID, res.Stored = old.AccessKeyID, old.AccessKeyID
	oldCreds := aws.Credentials{AccessKeyID: old.AccessKeyID, SecretAccessKey: old.SecretAccessKey, Source: "keyring"}

	o.progress("checking the stored key " + old.AccessKeyID)
	arn, _, err := broker.CallerIdentity(ctx, o.STS, o.Profile, oldCreds)
	if err != nil {
		return res, fmt.Errorf("profile %s: the stored key %s does not work (%w), so it cannot be rotated, as rotation calls IAM with it; store a working key with `imdsd keys add %s`; nothing was changed", o.Profile, old.AccessKeyID, awsSays(err), o.Profile)
	}
	res.UserARN = arn
	oldCfg, err := broker.KeysConfig(ctx, o.STS, o.Profile, oldCreds)
	if err != nil {
		return res, err
	}
	keys, err := iamops.ListAccessKeys(ctx, oldCfg)
	if err != nil {
		return res, fmt.Errorf("profile %s: nothing was changed, the stored key %s stays in use: %w", o.Profile, old.AccessKeyID, err)
	}
	if err := roomForOne(o.Profile, arn, old.AccessKeyID, keys); err != nil {
		return res, err
	}

	o.progress("creating a new access key for " + arn)
	nk, err := iamops.CreateAccessKey(ctx, oldCfg)
	if err != nil {
		return res, fmt.Errorf("profile %s: no new key was made, the stored key %s stays in use: %w", o.Profile, old.AccessKeyID, err)
	}
	res.NewKeyID, res.Created = nk.ID, nk.Created
	if res.Created.IsZero() {
		res.Created = o.Now()
	}
	newCreds := aws.Credentials{AccessKeyID: nk.ID, SecretAccessKey: nk.Secret, Source: "keyring"}

	o.progress("waiting until AWS accepts the new key " + nk.ID)
	if err := o.waitUsable(ctx, newCreds, &res); err != nil {
		what := fmt.Sprintf("the new key %s did not work within %s (%d tries)", nk.ID, o.Wait, res.Attempts)
		if ctx.Err() != nil {
			what = fmt.Sprintf("the wait for the new key %s to work was cut short", nk.ID)
		}
		return res, o.discard(ctx, oldCfg, &res, what, awsSays(err))
	}

	if err := o.Store.Set(o.Profile, keystore.Keys{AccessKeyID: nk.ID, SecretAccessKey: nk.Secret, Created: res.Created}); err != nil {
		return res, o.discard(ctx, oldCfg, &res, "storing the new key "+nk.ID+" in the keyring failed", err)
	}
	res.Stored = nk.ID

	o.progress("deleting the old key " + old.AccessKeyID)
	newCfg, err := broker.KeysConfig(ctx, o.STS, o.Profile, newCreds)
	if err == nil {
		err = iamops.DeleteAccessKey(ctx, newCfg, old.AccessKeyID)
	}
	if propagating(err) {
		// STS accepts the new key but IAM does not yet (each service
		// learns of a new key in its own time): the old key may delete
		// itself.
		err = iamops.DeleteAccessKey(ctx, oldCfg, old.AccessKeyID)
	}
	if err != nil {
		return res, fmt.Errorf("profile %s: the new key %s is stored and works, but the old key %s was not deleted and still works: delete it with `aws iam delete-access-key --access-key-id %s` (or in the IAM console) once nothing else uses it: %w",
			o.Profile, nk.ID, old.AccessKeyID, old.AccessKeyID, err)
	}
	res.OldDeleted = true
	return res, nil
}

// awsSays is AWS's own answer in err, for errors about keys not in the
// AWS files (the broker's sentences speak of the credentials file).
func awsSays(err error) error {
	var api smithy.APIError
	if errors.As(err, &api) {
		return fmt.Errorf("AWS answered %s: %s", api.ErrorCode(), api.ErrorMessage())
	}
	return err
}

// roomForOne refuses when the user has no free key slot: IAM allows two
// keys per user, and rotation needs one for the new key while the old
// one still works.
func roomForOne(profile, user, stored string, keys []iamops.AccessKey) error {
	if len(keys) < 2 {
		return nil
	}
	var other []string
	for _, k := range keys {
		if k.ID != stored {
			other = append(other, fmt.Sprintf("%s (%s, created %s)", k.ID, k.Status, k.Created.UTC().Format(time.DateOnly)))
		}
	}
	if len(other) == len(keys) {
		return fmt.Errorf("profile %s: user %s already has two access keys, %s and %s, and neither is the stored key %s; IAM allows two, so delete the one nothing uses (`aws iam delete-access-key --access-key-id ID` or the IAM console) and run `imdsd keys rotate %s` again; nothing was changed",
			profile, user, other[0], other[1], stored, profile)
	}
	return fmt.Errorf("profile %s: user %s already has two access keys, %s (stored by imdsd) and %s, and IAM allows two; if nothing uses %s, delete it with `aws iam delete-access-key --access-key-id %s` (or in the IAM console) and run `imdsd keys rotate %s` again; nothing was changed",
		profile, user, stored, other[0], otherID(keys, stored), otherID(keys, stored), profile)
}

func otherID(keys []iamops.AccessKey, stored string) string {
	for _, k := range keys {
		if k.ID != stored {
			return k.ID
		}
	}
	return ""
}

// discard deletes a new key that will not be used (signed with the old
// key, which is still stored), and says what happened and what is left.
func (o *Options) discard(ctx context.Context, oldCfg aws.Config, res *Result, what string, cause error) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupBound)
	defer cancel()
	if err := iamops.DeleteAccessKey(cctx, oldCfg, res.NewKeyID); err != nil {
		return fmt.Errorf("profile %s: %s, and deleting it failed too (%v): delete it with `aws iam delete-access-key --access-key-id %s` before rotating again; the stored key %s is unchanged and still works: %w",
			o.Profile, what, err, res.NewKeyID, res.OldKeyID, cause)
	}
	res.NewDeleted = true
	return fmt.Errorf("profile %s: %s, so it was deleted again; the stored key %s is unchanged and still works, try `imdsd keys rotate %s` later: %w",
		o.Profile, what, res.OldKeyID, o.Profile, cause)
}

func (o *Options) defaults() {
	if o.Wait <= 0 {
		o.Wait = DefaultWait
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
}

func (o *Options) progress(msg string) {
	if o.Progress != nil {
		o.Progress(msg)
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
