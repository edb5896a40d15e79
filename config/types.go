// Package config reads imdsd's own config file, resolves AWS profiles with
// aws-sdk-go-v2's shared-config loader, and watches the files for changes.
package config

import (
	"net/netip"
	"time"
)

// Config is imdsd's own configuration, validated whole. A Config returned by
// Load or Parse is complete: defaults are filled in and every value checked.
type Config struct {
	// Path is the file this came from; "" when no file existed (defaults).
	Path string

	// Profile is served on IMDS and at ECS /creds.
	// Default: $AWS_PROFILE, else "default".
	Profile string
	// Region is reported by IMDS; "" means the profile's region (the daemon
	// falls back to us-east-1 when the profile has none).
	Region string
	// RefreshBefore: refresh upstream credentials when less than this
	// remains. Default 15m.
	RefreshBefore time.Duration
	// LogLevel is debug, info, warn or error. Default info.
	LogLevel string

	// ControlSocket is the local control socket the CLI talks to. Default
	// $XDG_CONFIG_HOME/imdsd/control.sock (else ~/.config/imdsd/...).
	ControlSocket string

	IMDS IMDSConfig
	ECS  ECSConfig
	// Keyring says where `imdsd keys` keeps long-term keys.
	Keyring Keyring

	// Rotation is [keyring] rotate_after and auto_rotate.
	Rotation Rotation

	// Profiles holds imdsd's own per-profile settings ([profiles.<name>]),
	// which the AWS files have no key for.
	Profiles map[string]ProfileOptions
}

// ProfileOptions is a [profiles.<name>] table.
type ProfileOptions struct {
	// MFAProcess is a command whose stdout is the current MFA code; when
	// set, imdsd runs it instead of waiting for `imdsd mfa`.
	MFAProcess string
	// MFADuration is the life of the MFA session (GetSessionToken);
	// default 12h, 15m..36h.
	MFADuration time.Duration
	// Policy is an inline session policy (JSON) passed to AssumeRole.
	Policy string
	// PolicyARNs are managed policies passed to AssumeRole as session
	// policies, so served credentials can be narrower than the role.
	PolicyARNs []string
	// Duration overrides the profile's duration_seconds (15m..12h).
	Duration time.Duration
}

// ProfileOptions returns the options for a profile, with defaults.
func (c *Config) ProfileOptions(name string) ProfileOptions {
	o := c.Profiles[name]
	if o.MFADuration == 0 {
		o.MFADuration = 12 * time.Hour
	}
	return o
}

// IMDSConfig is the [imds] table.
type IMDSConfig struct {
	// Listen addresses, host:port. Default ["127.0.0.1:9911"]. Empty list
	// (listen = []) disables the endpoint.
	Listen []string
	// TokensRequired is tokens = "required" (default, IMDSv2 only); tokens =
	// "optional" sets it false and also answers IMDSv1 GETs.
	TokensRequired bool
	// Allow: client address ranges accepted besides loopback (CIDRs or bare
	// addresses in the file).
	Allow []netip.Prefix
	// Hosts: extra Host header names accepted.
	Hosts []string
	// Docker: also accept clients from the local docker bridge networks
	// (docker0, br-*), discovered and kept current. Default true.
	Docker bool
	// MaxConnections per listener (max_connections; default 512). At the
	// cap the oldest idle keep-alive connection is closed for a new one.
	MaxConnections int
}

// ECSConfig is the [ecs] table.
type ECSConfig struct {
	// Listen addresses, host:port. Default ["127.0.0.1:9912"].
	Listen []string
	// TokenFile holds the Authorization token; "~" expanded. Default
	// $XDG_CONFIG_HOME/imdsd/ecs-token (else ~/.config/imdsd/ecs-token).
	// Created 0600 with a random token and no trailing newline if missing.
	TokenFile string
	// Profiles also served at /role/<profile>.
	Profiles []string
	Allow    []netip.Prefix
	Hosts    []string
	Docker   bool
	// MaxConnections per listener, as for IMDS.
	MaxConnections int
}
