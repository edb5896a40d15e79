package keystore

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/99designs/keyring"
)

// AWSVault names aws-vault's keyring, so its users can move their keys
// into imdsd's without a plaintext copy on the way. aws-vault stores one
// item per profile, named by the profile, holding the key as JSON
// ({"AccessKeyID": ..., "SecretAccessKey": ...}); its session items have
// other names and are never read.
type AWSVault struct {
	// Backend is aws-vault's backend; FileDir its file backend's
	// directory ($AWS_VAULT_FILE_DIR, else ~/.awsvault/keys).
	Backend, FileDir string
	// Passphrase opens aws-vault's file backend
	// ($AWS_VAULT_FILE_PASSPHRASE is asked first, as aws-vault does).
	Passphrase func(prompt string) (string, error)
}

// Get reads profile's long-term key from aws-vault's keyring.
func (v AWSVault) Get(profile string) (Keys, error) {
	backend := v.Backend
	dir := cmp.Or(os.Getenv("AWS_VAULT_FILE_DIR"), v.FileDir)
	if dir == "" {
		if home, err := os.UserHomeDir(); err == nil {
			dir = filepath.Join(home, ".awsvault", "keys")
		}
	}
	ring, err := keyring.Open(keyring.Config{
		ServiceName:     "aws-vault",
		AllowedBackends: []keyring.BackendType{keyring.BackendType(backend)},
		FileDir:         dir,
		FilePasswordFunc: func(prompt string) (string, error) {
			if p, ok := os.LookupEnv("AWS_VAULT_FILE_PASSPHRASE"); ok {
				return p, nil
			}
			if v.Passphrase == nil {
				return "", errors.New("aws-vault's keyring file needs its passphrase: set AWS_VAULT_FILE_PASSPHRASE or run this in a terminal")
			}
			return v.Passphrase("Passphrase of aws-vault's keyring file")
		},
		LibSecretCollectionName: "awsvault",
		KeychainName:            cmp.Or(os.Getenv("AWS_VAULT_KEYCHAIN_NAME"), "aws-vault"),
		KWalletAppID:            "aws-vault",
		KWalletFolder:           "aws-vault",
		WinCredPrefix:           "aws-vault",
		PassDir:                 os.Getenv("AWS_VAULT_PASS_PASSWORD_STORE_DIR"),
		PassPrefix:              os.Getenv("AWS_VAULT_PASS_PREFIX"),
	})
	if err != nil {
		return Keys{}, fmt.Errorf("aws-vault's keyring (backend %s) cannot be opened: %v; set AWS_VAULT_BACKEND to the backend aws-vault uses", backend, err)
	}
	it, err := ring.Get(profile)
	switch {
	case errors.Is(err, keyring.ErrKeyNotFound):
		return Keys{}, fmt.Errorf("aws-vault's keyring (backend %s) has no key for profile %s; `aws-vault list` shows which profiles it holds", backend, profile)
	case err != nil && strings.Contains(err.Error(), "integrity check failed"):
		return Keys{}, errors.New("wrong passphrase for aws-vault's keyring file")
	case err != nil:
		return Keys{}, fmt.Errorf("reading profile %s from aws-vault's keyring: %v", profile, err)
	}
	var c struct {
		AccessKeyID, SecretAccessKey, SessionToken string
	}
	if err := json.Unmarshal(it.Data, &c); err != nil || c.AccessKeyID == "" || c.SecretAccessKey == "" {
		return Keys{}, fmt.Errorf("aws-vault's item for profile %s is not an access key (%d bytes); add the key with `imdsd keys add %s` instead", profile, len(it.Data), profile)
	}
	if c.SessionToken != "" {
		return Keys{}, fmt.Errorf("aws-vault's item for profile %s is a session, not a long-term key", profile)
	}
	return Keys{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey}, nil
}
