package config

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
)

// Keyring is the [keyring] table: where `imdsd keys` keeps long-term keys.
type Keyring struct {
	// Backend is one of KeyringBackends. Default: DefaultKeyringBackend().
	Backend string
	// FileDir is the file backend's directory. Default
	// $XDG_CONFIG_HOME/imdsd/keyring (else ~/.config/imdsd/keyring).
	FileDir string
}

// KeyringBackends are the backends of github.com/99designs/keyring, by the
// names it gives them.
var KeyringBackends = []string{"keychain", "wincred", "secret-service", "kwallet", "pass", "keyctl", "file"}

// DefaultKeyringBackend is the platform's own keyring: the macOS Keychain
// (in a build with cgo, which it needs), the Windows Credential Manager, the Secret Service on a Linux desktop
// (one with a session bus); else the encrypted file, which works anywhere.
func DefaultKeyringBackend() string {
	switch runtime.GOOS {
	case "darwin":
		if KeychainBuilt {
			return "keychain"
		}
		return "file" // a build without cgo has no Keychain backend
	case "windows":
		return "wincred"
	}
	if os.Getenv("DBUS_SESSION_BUS_ADDRESS") != "" {
		return "secret-service"
	}
	return "file"
}

func defaultKeyringDir() string {
	base := userConfigBase()
	if base == "" {
		return ""
	}
	return filepath.Join(base, "imdsd", "keyring")
}

// keyring parses the [keyring] table into k (which holds the defaults).
func (p *cfgParser) keyring(t map[string]any, k *Keyring) {
	if v, ok := t["backend"]; ok {
		if s, ok := p.str("keyring.backend", v, `"file"`); ok {
			if !slices.Contains(KeyringBackends, s) {
				p.fail("keyring.backend", "%q is not a keyring backend; use one of %s", s, quoteList(KeyringBackends))
			} else {
				k.Backend = s
			}
		}
	}
	if v, ok := t["file_dir"]; ok {
		if s, ok := p.str("keyring.file_dir", v, `"~/.config/imdsd/keyring"`); ok {
			f := ExpandHome(s)
			if !filepath.IsAbs(f) {
				p.fail("keyring.file_dir", "%q is a relative path; use an absolute path or one starting with \"~/\"", s)
			} else {
				k.FileDir = filepath.Clean(f)
			}
		}
	}
	if k.Backend == "file" && k.FileDir == "" {
		p.fail("keyring.file_dir", "no default is possible because the home directory is unknown; set file_dir to an absolute path")
	}
}

func quoteList(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = `"` + s + `"`
	}
	return strings.Join(q, ", ")
}

// CheckProfileName says why s cannot name a profile imdsd serves, or nil.
func CheckProfileName(s string) error {
	if msg := profileNameProblem(s); msg != "" {
		return fmt.Errorf("profile name %q %s", s, msg)
	}
	return nil
}
