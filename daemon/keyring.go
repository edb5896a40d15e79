package daemon

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/imdsd/imdsd/config"
	"github.com/imdsd/imdsd/internal/keystore"
)

// passphraseEnv gives the file keyring's passphrase to a headless daemon
// (and tests). The daemon takes it out of its environment at start, so
// the commands it runs (mfa_process, `imdsd exec`) do not inherit it.
const passphraseEnv = "IMDSD_KEYRING_PASSPHRASE"

// keyringHold is the file keyring's passphrase while the daemon is
// unlocked; lock drops it. Keys themselves live only in the brokers built
// from them.
type keyringHold struct {
	mu         sync.Mutex
	passphrase string
}

func (k *keyringHold) get() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.passphrase
}

func (k *keyringHold) set(p string) {
	k.mu.Lock()
	k.passphrase = p
	k.mu.Unlock()
}

// takePassphraseEnv reads and clears $IMDSD_KEYRING_PASSPHRASE.
func takePassphraseEnv() string {
	p := os.Getenv(passphraseEnv)
	os.Unsetenv(passphraseEnv)
	return p
}

// openKeyring opens cfg's keyring with the passphrase held now.
func (d *Daemon) openKeyring(cfg *config.Config, passphrase string) (*keystore.Store, error) {
	return keystore.Open(cfg.Keyring, func(string) (string, error) {
		if passphrase == "" {
			return "", keystore.ErrNoPassphrase
		}
		return passphrase, nil
	})
}

// keyringPlan is what one plan learned from the keyring.
type keyringPlan struct {
	store *keystore.Store // nil when it could not be opened
	// files are the AWS files plus the overlay naming the keyring's
	// profiles, so the SDK's loader resolves chains rooted in them.
	files config.AWSFiles
	// keys read for this plan, per keyring profile, and why a profile's
	// keys could not be read (the file keyring is locked, ...).
	keys map[string]keystore.Keys
	errs map[string]error
	// file: the keyring is the file backend and holds profiles.
	file    bool
	warning string
}

// planKeyring lists the keyring's profiles (no secret is read) and writes
// the overlay. A keyring that cannot be opened is a warning: profiles with
// keys in the files go on being served.
func (d *Daemon) planKeyring(cfg *config.Config) *keyringPlan {
	kp := &keyringPlan{files: d.files, keys: map[string]keystore.Keys{}, errs: map[string]error{}}
	if cfg.Keyring.Backend != "file" && !config.KeyringInUse(d.stateDir) {
		// Listing the file backend is a directory read; the desktop's
		// keyrings are opened only once `imdsd keys` stored something.
		return kp
	}
	pass := d.keyring.get()
	store, err := d.openKeyring(cfg, pass)
	var names []string
	if err == nil {
		names, err = store.Profiles()
	}
	if err != nil {
		// The overlay stays as `imdsd keys` left it, so the next reload
		// looks again.
		kp.warning = "keyring: " + err.Error()
		return kp
	}
	kp.store = store
	kp.file = store.Backend() == "file" && len(names) > 0
	files, err := config.WithKeyringOverlay(d.files, d.stateDir, names)
	if err != nil {
		kp.warning = "keyring: " + err.Error()
	}
	kp.files = files
	return kp
}

// keysFor reads the keyring's keys of profile (once per plan).
func (kp *keyringPlan) keysFor(profile string) (keystore.Keys, error) {
	if k, ok := kp.keys[profile]; ok {
		return k, nil
	}
	if err, ok := kp.errs[profile]; ok {
		return keystore.Keys{}, err
	}
	if kp.store == nil {
		return keystore.Keys{}, fmt.Errorf("profile %s: its keys are in the keyring, which cannot be opened", profile)
	}
	k, err := kp.store.Get(profile)
	if err != nil {
		kp.errs[profile] = err
		return keystore.Keys{}, err
	}
	kp.keys[profile] = k
	return k, nil
}

// keyringLockedMessage is what clients and status get for a profile whose
// keys wait for the file keyring's passphrase.
const keyringLockedMessage = "locked: its keys are in the keyring file, which needs its passphrase; run `imdsd unlock`"

// withKeyringKeys gives a resolved keyring profile its key: the id for
// messages, and a fingerprint that changes with the key, so a new key
// (keys add, rotation) builds a new broker.
func withKeyringKeys(p *config.Profile, k keystore.Keys) *aws.Credentials {
	p.SourceKeyID = k.AccessKeyID
	h := sha256.Sum256([]byte(p.Fingerprint + "\x00" + k.AccessKeyID + "\x00" + k.SecretAccessKey))
	p.Fingerprint = hex.EncodeToString(h[:])
	return &aws.Credentials{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey}
}

// checkPassphrase opens every keyring item with passphrase: a wrong one
// is refused before anything is unlocked.
func (d *Daemon) checkPassphrase(cfg *config.Config, passphrase string) error {
	store, err := d.openKeyring(cfg, passphrase)
	if err != nil {
		return err
	}
	if store.Backend() != "file" {
		return fmt.Errorf("the keyring backend is %s, which has no passphrase of imdsd's; unlock it as the desktop does and run `imdsd unlock` without one", store.Backend())
	}
	if _, err := store.List(); err != nil {
		if errors.Is(err, keystore.ErrWrongPassphrase) {
			return keystore.ErrWrongPassphrase
		}
		return err
	}
	return nil
}

// keyringWarnings are the keyring's problems for status and the log: a
// keyring that cannot be opened, plaintext keys the keyring overrides.
func keyringWarnings(kp *keyringPlan, g *generation) []string {
	var out []string
	if kp == nil {
		return nil
	}
	if kp.warning != "" {
		out = append(out, kp.warning)
	}
	seen := map[string]bool{}
	for _, n := range g.served() {
		p := g.profiles[n]
		if p == nil || !p.KeyringShadows || seen[p.Keyring] {
			continue
		}
		seen[p.Keyring] = true
		out = append(out, fmt.Sprintf("profile %s: its keys in the keyring are used, but plaintext keys for it remain in the AWS files; remove them (imdsd keys add %s --from-credentials --remove-plaintext moves them)", p.Keyring, p.Keyring))
	}
	return out
}
