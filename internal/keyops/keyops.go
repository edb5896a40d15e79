// Package keyops is what `imdsd keys` does: put a profile's long-term key
// into the keyring (typed, or moved from ~/.aws/credentials after STS has
// accepted it), list and remove stored keys. The keyring itself is
// internal/keystore; the STS call is internal/broker's.
package keyops

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/imdsd/imdsd/config"
	"github.com/imdsd/imdsd/internal/broker"
	"github.com/imdsd/imdsd/internal/keystore"
)

// Options say which keyring and files to use.
type Options struct {
	Keyring config.Keyring
	// Passphrase asks for the file keyring's passphrase; confirm says the
	// keyring is new, so a typo must not become its passphrase.
	Passphrase func(prompt string, confirm bool) (string, error)
	// Files give the profile's region and STS endpoint for the check,
	// and the credentials file keys are imported from.
	Files      config.AWSFiles
	HTTPClient aws.HTTPClient
	Now        func() time.Time
	// StateDir is the daemon's (config.DefaultStateDir() when ""): the
	// overlay naming the keyring's profiles is kept current there.
	StateDir string
}

// noteProfiles rewrites the overlay naming the keyring's profiles, which
// tells the daemon the keyring is in use (config.KeyringInUse).
func (o Options) noteProfiles(store *keystore.Store) error {
	names, err := store.Profiles()
	if err != nil {
		return err
	}
	dir := o.StateDir
	if dir == "" {
		dir = config.DefaultStateDir()
	}
	_, err = config.WithKeyringOverlay(config.AWSFiles{}, dir, names)
	return err
}

// open opens the keyring, asking for the passphrase only when an item is
// read or written.
func (o Options) open() (*keystore.Store, error) {
	var s *keystore.Store
	var err error
	s, err = keystore.Open(o.Keyring, func(prompt string) (string, error) {
		if o.Passphrase == nil {
			return "", keystore.ErrNoPassphrase
		}
		names, _ := s.Profiles()
		return o.Passphrase(prompt, len(names) == 0)
	})
	return s, err
}

// Added is the outcome of Add or Import.
type Added struct {
	Profile     string
	AccessKeyID string
	// ARN and Account are who STS says the key belongs to.
	ARN, Account string
	// File is the credentials file the key came from (Import).
	File string
}

// Add checks a long-term key with GetCallerIdentity and stores it for
// profile. A key STS refuses is not stored.
func Add(ctx context.Context, o Options, profile, accessKeyID, secret string) (Added, error) {
	if err := config.CheckProfileName(profile); err != nil {
		return Added{}, err
	}
	if accessKeyID == "" || secret == "" {
		return Added{}, errors.New("an access key needs both its id (AKIA...) and its secret")
	}
	if strings.HasPrefix(accessKeyID, "ASIA") {
		return Added{}, errors.New("an ASIA... key id is a session's, not a long-term key; only long-term keys (AKIA...) belong in the keyring")
	}
	keys := aws.Credentials{AccessKeyID: accessKeyID, SecretAccessKey: secret}
	store, err := o.open()
	if err != nil {
		return Added{}, err
	}
	if err := checkOpens(store); err != nil {
		return Added{}, err
	}
	arn, account, err := broker.CallerIdentity(ctx, broker.STSOptions{Files: o.Files, HTTPClient: o.HTTPClient}, profile, keys)
	if err != nil {
		return Added{}, fmt.Errorf("the key was not stored: STS did not accept it: %w", err)
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	if err := store.Set(profile, keystore.Keys{AccessKeyID: keys.AccessKeyID, SecretAccessKey: keys.SecretAccessKey, Created: now().UTC()}); err != nil {
		return Added{}, err
	}
	if err := o.noteProfiles(store); err != nil {
		return Added{}, fmt.Errorf("the key is stored, but the daemon's list of keyring profiles could not be written: %w", err)
	}
	return Added{Profile: profile, AccessKeyID: keys.AccessKeyID, ARN: arn, Account: account}, nil
}

// checkOpens reads the file keyring's items before one is written: items
// written with another passphrase would leave a keyring no passphrase
// opens whole.
func checkOpens(store *keystore.Store) error {
	if store.Backend() != "file" {
		return nil
	}
	_, err := store.List()
	return err
}

// Import moves a profile's keys from the credentials file into the
// keyring: read with the SDK's loader, checked with STS, stored. The file
// is left as it is (RemovePlaintext removes the section).
func Import(ctx context.Context, o Options, profile string) (Added, error) {
	if len(o.Files.Credentials) == 0 {
		return Added{}, errors.New("no AWS credentials file to import from")
	}
	file := o.Files.Credentials[0]
	keys, err := config.PlaintextKeys(ctx, file, profile)
	if err != nil {
		return Added{}, err
	}
	a, err := Add(ctx, o, profile, keys.AccessKeyID, keys.SecretAccessKey)
	a.File = file
	return a, err
}

// RemovePlaintext deletes the profile's section from the credentials file
// Import read, keeping every other byte of it.
func RemovePlaintext(o Options, profile string) error {
	file := o.Files.Credentials[0]
	found, err := config.RemovePlaintextSection(file, profile)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("%s has no [%s] section to remove", file, profile)
	}
	return nil
}

// List describes the stored keys, never a secret.
func List(o Options) ([]keystore.Entry, error) {
	store, err := o.open()
	if err != nil {
		return nil, err
	}
	return store.List()
}

// Remove deletes a profile's keys from the keyring.
func Remove(o Options, profile string) error {
	store, err := o.open()
	if err != nil {
		return err
	}
	if err := store.Remove(profile); err != nil {
		return err
	}
	return o.noteProfiles(store)
}

// FilesWithKeyring are the AWS files plus the keyring overlay, so that
// listing profiles (imdsd profiles) sees the keyring's as the daemon
// does. A keyring that cannot be listed leaves the files as they are.
func FilesWithKeyring(k config.Keyring, files config.AWSFiles) config.AWSFiles {
	store, err := keystore.Open(k, nil)
	if err != nil {
		return files
	}
	names, err := store.Profiles()
	if err != nil || len(names) == 0 {
		return files
	}
	out, err := config.WithKeyringOverlay(files, config.DefaultStateDir(), names)
	if err != nil {
		return files
	}
	return out
}

// ImportAWSVault copies a profile's key from aws-vault's keyring into
// imdsd's, checked with STS like any added key. aws-vault's item is left
// alone (`aws-vault remove` once nothing uses it).
// backend is aws-vault's ("" = $AWS_VAULT_BACKEND, else imdsd's own);
// its file backend's passphrase is asked with o.Passphrase.
func ImportAWSVault(ctx context.Context, o Options, profile, backend string) (Added, error) {
	v := keystore.AWSVault{Backend: cmp.Or(backend, os.Getenv("AWS_VAULT_BACKEND"), o.Keyring.Backend)}
	if o.Passphrase != nil {
		v.Passphrase = func(prompt string) (string, error) { return o.Passphrase(prompt, false) }
	}
	k, err := v.Get(profile)
	if err != nil {
		return Added{}, err
	}
	return Add(ctx, o, profile, k.AccessKeyID, k.SecretAccessKey)
}
