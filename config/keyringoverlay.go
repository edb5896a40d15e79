package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// KeyringProcess is the credential_process the keyring overlay gives each
// profile whose keys are in imdsd's keyring. It only lets the SDK's loader
// see that the profile has credentials, so that a role may name it as
// source_profile (the loader refuses a source without any, and refuses
// credential_source without role_arn). imdsd never lets the SDK run it: the
// broker builds such chains from the keyring's keys. Were it run, it fails
// (there is no such command) rather than finding other credentials.
const KeyringProcess = "imdsd-keyring-profile --served-by-imdsd-only"

// RoleHop is one role link of a profile's source chain.
type RoleHop struct {
	Profile         string
	RoleARN         string
	ExternalID      string
	RoleSessionName string
	MFASerial       string
	Duration        time.Duration // duration_seconds; 0 = default
}

// overlayName is the overlay's file name in the state directory.
const overlayName = "keyring-profiles.ini"

// DefaultStateDir is where the daemon keeps files it makes for itself:
// imdsd's own directory of the user's config dir ($XDG_CONFIG_HOME/imdsd,
// else ~/.config/imdsd), beside the ECS token and the control socket.
// The system service's sandbox (ProtectHome=read-only) lets the daemon
// write there and in the SSO token cache, nowhere else in the home; ""
// if unknown.
func DefaultStateDir() string {
	base := userConfigBase()
	if base == "" {
		return ""
	}
	return filepath.Join(base, "imdsd")
}

// KeyringInUse says whether an overlay of keyring profiles exists in dir:
// `imdsd keys` writes it as it stores keys, so a daemon whose user never
// stored one does not open an OS keyring (which may ask the desktop to
// unlock it) at every reload.
func KeyringInUse(dir string) bool {
	_, err := os.Lstat(filepath.Join(dir, overlayName))
	return err == nil
}

// KeyringOverlay is the text of the overlay config file: one section per
// keyring profile saying only that its credentials come from elsewhere.
// It holds no secret.
func KeyringOverlay(profiles []string) []byte {
	var b bytes.Buffer
	b.WriteString("# Written by imdsd: these profiles' keys are in imdsd's keyring (imdsd keys list).\n")
	for _, p := range slices.Sorted(slices.Values(profiles)) {
		if p == "default" {
			b.WriteString("[default]\n")
		} else {
			fmt.Fprintf(&b, "[profile %s]\n", p)
		}
		fmt.Fprintf(&b, "credential_process = %s\n", KeyringProcess)
	}
	return b.Bytes()
}

// WithKeyringOverlay returns files with the overlay of the keyring's
// profiles added as the last config file, written (0600, in dir made
// 0700) only when its text changed. Without keyring profiles the files
// are returned unchanged and a stale overlay is removed.
func WithKeyringOverlay(files AWSFiles, dir string, profiles []string) (AWSFiles, error) {
	path := filepath.Join(dir, overlayName)
	if len(profiles) == 0 {
		if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
			return files, err
		}
		return files, nil
	}
	if dir == "" {
		return files, fmt.Errorf("no directory for the keyring overlay: the home directory is unknown; set XDG_CONFIG_HOME")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return files, err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return files, err
	}
	text := KeyringOverlay(profiles)
	if old, err := readChecked(path, awsConfigSpec); err != nil || !bytes.Equal(old, text) {
		if err := WriteFileAtomic(path, text, 0o600); err != nil {
			return files, fmt.Errorf("keyring overlay: %w", err)
		}
	}
	out := AWSFiles{Config: append(slices.Clone(files.Config), path), Credentials: slices.Clone(files.Credentials)}
	return out, nil
}
