package keystore

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/99designs/keyring"

	"github.com/imdsd/imdsd/config"
)

// ErrWrongPassphrase: the file backend's passphrase does not open its items.
var ErrWrongPassphrase = errors.New("wrong keyring passphrase: the keyring file does not open with it; try again")

// ErrNoPassphrase: the file backend needs a passphrase and none was given.
var ErrNoPassphrase = errors.New("the keyring file is locked: run `imdsd unlock` (or set IMDSD_KEYRING_PASSPHRASE)")

// itemPrefix marks imdsd's items: a collection such as the Secret
// Service's "login" is shared with other programs.
const itemPrefix = "imdsd-profile."

// Store is an open keyring.
type Store struct {
	ring    keyring.Keyring
	backend string
	dir     string // the file backend's directory
}

// Open opens the keyring cfg names. passphrase is asked (at most once) for
// the file backend's passphrase when an item is first read or written; nil
// means none is known.
func Open(cfg config.Keyring, passphrase func(prompt string) (string, error)) (*Store, error) {
	if !slices.Contains(config.KeyringBackends, cfg.Backend) {
		return nil, fmt.Errorf("keyring backend %q is unknown; set [keyring] backend to one of %s", cfg.Backend, strings.Join(config.KeyringBackends, ", "))
	}
	if passphrase == nil {
		passphrase = func(string) (string, error) { return "", ErrNoPassphrase }
	}
	ring, err := keyring.Open(keyring.Config{
		ServiceName:     "imdsd",
		AllowedBackends: []keyring.BackendType{keyring.BackendType(cfg.Backend)},
		FileDir:         cfg.FileDir,
		FilePasswordFunc: func(prompt string) (string, error) {
			p, err := passphrase(prompt)
			if err == nil && p == "" {
				err = ErrNoPassphrase
			}
			return p, err
		},
		// The collection the desktop unlocks at login: a new one of our
		// own would need a password prompt, which a headless session
		// cannot show. Items are told apart by itemPrefix.
		LibSecretCollectionName:  "login",
		KeychainTrustApplication: true,
		KWalletAppID:             "imdsd",
		KWalletFolder:            "imdsd",
		KeyCtlScope:              "user",
		PassPrefix:               "imdsd",
	})
	if err != nil && cfg.Backend == "keychain" && !config.KeychainBuilt {
		return nil, errors.New(`keyring backend "keychain" is not in this build of imdsd: the macOS Keychain needs a build with cgo (Homebrew's formula builds one; or build with CGO_ENABLED=1 on macOS); meanwhile set [keyring] backend = "file"`)
	}
	if err != nil {
		avail := []string{}
		for _, b := range keyring.AvailableBackends() {
			avail = append(avail, string(b))
		}
		return nil, fmt.Errorf("keyring backend %q cannot be opened here (%v); set [keyring] backend in imdsd's config to one available here: %s", cfg.Backend, err, strings.Join(avail, ", "))
	}
	return &Store{ring: ring, backend: cfg.Backend, dir: cfg.FileDir}, nil
}

// Backend names the backend in use.
func (s *Store) Backend() string { return s.backend }

// Get returns a profile's keys, ErrNotFound when the keyring has none.
func (s *Store) Get(profile string) (Keys, error) {
	it, err := s.ring.Get(itemPrefix + profile)
	if err != nil {
		return Keys{}, s.explain(profile, err)
	}
	var k Keys
	if err := json.Unmarshal(it.Data, &k); err != nil || k.AccessKeyID == "" || k.SecretAccessKey == "" {
		return Keys{}, fmt.Errorf("keyring item for profile %s is not a stored key; remove it with `imdsd keys remove %s` and add it again", profile, profile)
	}
	return k, nil
}

// Set stores a profile's keys, replacing any.
func (s *Store) Set(profile string, k Keys) error {
	if k.AccessKeyID == "" || k.SecretAccessKey == "" {
		return errors.New("an access key needs both its id and its secret")
	}
	data, err := json.Marshal(k)
	if err != nil {
		return err
	}
	err = s.ring.Set(keyring.Item{
		Key:         itemPrefix + profile,
		Data:        data,
		Label:       itemPrefix + profile,
		Description: "AWS access key " + k.AccessKeyID + " of profile " + profile + " (imdsd)",
	})
	return s.explain(profile, err)
}

// Remove deletes a profile's keys; ErrNotFound when there are none.
func (s *Store) Remove(profile string) error {
	names, err := s.Profiles()
	if err != nil {
		return err
	}
	if !slices.Contains(names, profile) {
		return s.explain(profile, keyring.ErrKeyNotFound)
	}
	return s.explain(profile, s.ring.Remove(itemPrefix+profile))
}

// Profiles names the profiles with keys stored, without reading a secret
// (the file backend lists them without its passphrase).
func (s *Store) Profiles() ([]string, error) {
	if s.backend == "file" {
		// The library makes the directory when it lists it; a daemon
		// that merely looks makes nothing.
		if _, err := os.Stat(s.dir); errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
	}
	keys, err := s.ring.Keys()
	if err != nil {
		return nil, fmt.Errorf("listing the %s keyring: %w", s.backend, err)
	}
	var out []string
	for _, k := range keys {
		if p, ok := strings.CutPrefix(k, itemPrefix); ok && p != "" && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out, nil
}

// List describes every stored key, never its secret.
func (s *Store) List() ([]Entry, error) {
	names, err := s.Profiles()
	if err != nil {
		return nil, err
	}
	out := make([]Entry, 0, len(names))
	for _, n := range names {
		k, err := s.Get(n)
		if err != nil {
			return nil, err
		}
		out = append(out, Entry{Profile: n, AccessKeyID: k.AccessKeyID, Created: k.Created})
	}
	return out, nil
}

// explain turns the library's errors into sentences naming the profile.
func (s *Store) explain(profile string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, keyring.ErrKeyNotFound):
		return fmt.Errorf("profile %s: %w (imdsd keys list shows what it holds)", profile, ErrNotFound)
	case errors.Is(err, ErrNoPassphrase):
		return ErrNoPassphrase
	case s.backend == "file" && strings.Contains(err.Error(), "integrity check failed"):
		// jose2go's words when the key derived from the passphrase does
		// not unwrap the item's key.
		return ErrWrongPassphrase
	}
	return fmt.Errorf("profile %s: %s keyring: %w", profile, s.backend, err)
}
