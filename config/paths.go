package config

import (
	"os"
	"path/filepath"
	"strings"
)

// DefaultPath is $IMDSD_CONFIG, else $XDG_CONFIG_HOME/imdsd/config.toml,
// else ~/.config/imdsd/config.toml; "" when none can be determined.
func DefaultPath() string {
	if p := os.Getenv("IMDSD_CONFIG"); p != "" {
		return p
	}
	base := userConfigBase()
	if base == "" {
		return ""
	}
	return filepath.Join(base, "imdsd", "config.toml")
}

// defaultTokenFile is where the ECS token lives unless ecs.token_file says
// otherwise: next to the default config file.
func defaultTokenFile() string {
	base := userConfigBase()
	if base == "" {
		return ""
	}
	return filepath.Join(base, "imdsd", "ecs-token")
}

// userConfigBase follows the XDG base-directory spec, which says a relative
// XDG_CONFIG_HOME is invalid and must be ignored.
func userConfigBase() string {
	if x := os.Getenv("XDG_CONFIG_HOME"); x != "" && filepath.IsAbs(x) {
		return x
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return ""
	}
	return filepath.Join(home, ".config")
}

// ExpandHome expands a leading "~" or "~/" to the user's home directory.
// Other paths, "~user" forms, and paths when the home directory is unknown
// are returned unchanged.
func ExpandHome(p string) string {
	if p != "~" && !strings.HasPrefix(p, "~/") && !strings.HasPrefix(p, "~"+string(filepath.Separator)) {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return p
	}
	if p == "~" {
		return home
	}
	return filepath.Join(home, p[2:])
}

// envProfile is the profile used when the file names none, as the AWS SDKs
// would pick it.
func envProfile() string {
	if p := os.Getenv("AWS_PROFILE"); p != "" {
		return p
	}
	return "default"
}

// DefaultMaxConnections bounds each listener's connections: a local
// credential endpoint needs a few dozen; 512 idle keep-alive connections
// hold ~17 MiB.
const DefaultMaxConnections = 512

// Default returns the configuration used when there is no config file. It
// is not validated: $AWS_PROFILE may hold a name Load would reject.
func Default() *Config {
	return &Config{
		Profile:       envProfile(),
		RefreshBefore: defaultRefreshBefore,
		LogLevel:      "info",
		Rotation:      Rotation{RotateAfter: DefaultRotateAfter},
		IMDS: IMDSConfig{
			Listen:         []string{defaultIMDSListen},
			TokensRequired: true,
			Docker:         true,
			MaxConnections: DefaultMaxConnections,
		},
		ECS: ECSConfig{
			Listen:         []string{defaultECSListen},
			TokenFile:      defaultTokenFile(),
			Docker:         true,
			MaxConnections: DefaultMaxConnections,
		},
		ControlSocket: DefaultControlSocket(),
		Keyring:       Keyring{Backend: DefaultKeyringBackend(), FileDir: defaultKeyringDir()},
	}
}

// DefaultControlSocket sits beside the default config, in a directory only
// the user can enter; "" when the home directory is unknown.
func DefaultControlSocket() string {
	base := userConfigBase()
	if base == "" {
		return ""
	}
	return filepath.Join(base, "imdsd", "control.sock")
}
