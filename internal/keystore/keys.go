// Package keystore keeps long-term AWS access keys in the OS keyring
// (github.com/99designs/keyring: macOS Keychain, Windows Credential
// Manager, Secret Service, KWallet, pass, the kernel keyring, or its
// encrypted file), one item per profile, so no plaintext key sits in
// ~/.aws/credentials. It stores and returns keys; it calls nothing at AWS.
package keystore

import (
	"errors"
	"time"
)

// Keys is one profile's long-term access key as stored.
type Keys struct {
	AccessKeyID     string    `json:"AccessKeyId"`
	SecretAccessKey string    `json:"SecretAccessKey"`
	Created         time.Time `json:"Created"` // when the key was made (IAM's CreateDate) or, if unknown, stored
}

// Entry is what may be listed of a stored key: never the secret.
type Entry struct {
	Profile     string
	AccessKeyID string
	Created     time.Time
}

// ErrNotFound: the keyring holds no keys for that profile.
var ErrNotFound = errors.New("no keys in the keyring for this profile")
