// Package control is imdsd's control API: HTTP over a unix socket that
// only the daemon's user can reach. It holds the request and response
// types, the server (over a small Backend interface the daemon
// implements) and the client the CLI uses.
package control

import (
	"time"
)

// Status is what `imdsd status` shows. It never holds a secret.
type Status struct {
	PID         int              `json:"pid"`
	Started     time.Time        `json:"started"`
	Demo        bool             `json:"demo"`
	Locked      bool             `json:"locked"`
	ConfigFile  string           `json:"config_file"`
	AWSFiles    []string         `json:"aws_files"`
	LastReload  time.Time        `json:"last_reload,omitzero"`
	ReloadError string           `json:"reload_error,omitempty"`
	IMDSProfile string           `json:"imds_profile"`
	Profiles    []ProfileStatus  `json:"profiles"`
	Listeners   []ListenerStatus `json:"listeners"`
	// AuditDropped counts vends not audited because the audit queue was
	// full (the clients were still served).
	AuditDropped int64 `json:"audit_dropped,omitempty"`
	// Warnings about the AWS files (readable by others, misspelt keys).
	Warnings []string `json:"warnings,omitempty"`
	// KeyringBackend is the [keyring] backend in use.
	KeyringBackend string `json:"keyring_backend,omitempty"`
	// KeyringLocked: the file keyring has no passphrase, so the profiles
	// whose keys it holds are not served until `imdsd unlock` gives one.
	KeyringLocked bool `json:"keyring_locked,omitempty"`
	// SSOSessions are the IAM Identity Center sign-ins the daemon keeps
	// alive, each once however many profiles use it.
	SSOSessions []SSOSessionStatus `json:"sso_sessions,omitempty"`
}

// SSOSessionStatus is one IAM Identity Center sign-in (an sso-session, or
// a legacy profile's start URL). It never holds a token.
type SSOSessionStatus struct {
	Name     string   `json:"name"`  // sso-session name, or the legacy start URL
	Login    string   `json:"login"` // the command that signs in again
	StartURL string   `json:"start_url"`
	Region   string   `json:"region,omitempty"`
	Profiles []string `json:"profiles"` // served profiles that use it
	SignedIn bool     `json:"signed_in"`
	// Expires is the access token's end; Renews says the daemon can renew
	// it without a sign-in (a refresh token, a live registration).
	Expires time.Time `json:"expires,omitzero"`
	Renews  bool      `json:"renews,omitempty"`
	// RegistrationExpires is when the client registration (and with it
	// every renewal) ends, when the cache file says.
	RegistrationExpires time.Time `json:"registration_expires,omitzero"`
	// SignInBy is when a new sign-in will be needed, where known.
	SignInBy    time.Time `json:"sign_in_by,omitzero"`
	Ended       bool      `json:"ended,omitempty"` // expired, cannot be renewed
	LastError   string    `json:"last_error,omitempty"`
	Renewals    int       `json:"renewals,omitempty"`
	LastRenewal time.Time `json:"last_renewal,omitzero"`
}

// ProfileStatus is one served profile.
type ProfileStatus struct {
	Name        string    `json:"name"`
	ServedAt    []string  `json:"served_at"`
	Kind        string    `json:"kind,omitempty"`
	RoleARN     string    `json:"role_arn,omitempty"`
	AccessKeyID string    `json:"access_key_id,omitempty"`
	Expires     time.Time `json:"expires,omitzero"`
	LastRefresh time.Time `json:"last_refresh,omitzero"`
	NextRefresh time.Time `json:"next_refresh,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	NeedsMFA    bool      `json:"needs_mfa,omitempty"`
	MFAExpires  time.Time `json:"mfa_expires,omitzero"`
	Requests    int64     `json:"requests"`
	// SSOProfile is the profile to sign in for (imdsd login --profile)
	// when credentials come from IAM Identity Center; "" otherwise.
	SSOProfile string `json:"sso_profile,omitempty"`
	// SSOExpires is when the cached SSO token ends (zero: no sign-in);
	// SSORenews says the SDK can renew it without a new sign-in.
	SSOExpires time.Time `json:"sso_expires,omitzero"`
	SSORenews  bool      `json:"sso_renews,omitempty"`
	// Keyring is the profile whose long-term key in imdsd's keyring the
	// credentials come from ("" when the key is not in the keyring), with
	// that key's id and when it was made.
	Keyring        string    `json:"keyring,omitempty"`
	KeyringKeyID   string    `json:"keyring_key_id,omitempty"`
	KeyringCreated time.Time `json:"keyring_key_created,omitzero"`
	// KeyringRotate says the key is past rotate_after and how to rotate
	// it ("" while it is not due).
	KeyringRotate string `json:"keyring_rotate,omitempty"`
}

// ListenerStatus is one bound address and its client policy.
type ListenerStatus struct {
	Face  string   `json:"face"`
	Addr  string   `json:"addr"`
	Allow []string `json:"allow"` // always includes loopback
	Hosts []string `json:"hosts,omitempty"`
}

// CredentialProcessOutput is the credential_process JSON format.
type CredentialProcessOutput struct {
	Version         int    `json:"Version"`
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
	SessionToken    string `json:"SessionToken"`
	Expiration      string `json:"Expiration"`
}

// MFAResult answers `imdsd mfa`.
type MFAResult struct {
	Profile     string    `json:"profile"`
	MFAExpires  time.Time `json:"mfa_expires"`
	AccessKeyID string    `json:"access_key_id,omitempty"`
	Expires     time.Time `json:"expires,omitzero"`
}

// ProfileRefresh is one profile's outcome of `imdsd refresh`.
type ProfileRefresh struct {
	Name        string    `json:"name"`
	AccessKeyID string    `json:"access_key_id,omitempty"`
	Expires     time.Time `json:"expires,omitzero"`
	Error       string    `json:"error,omitempty"`
}

// ExecSession is what `imdsd exec` gives its command: a container
// credentials endpoint serving one profile, with its token and region.
// The Token is the daemon's ECS token: never printed.
type ExecSession struct {
	Profile string `json:"profile"`
	URL     string `json:"url"`
	Token   string `json:"token"`
	Region  string `json:"region,omitempty"`
}

// RevokeResult is one role's outcome of `imdsd revoke` or `imdsd lock
// --revoke`: sessions issued before Cutoff are denied at AWS, and the
// profile serves AccessKeyID, fetched after it (none when locked).
type RevokeResult struct {
	Profile     string    `json:"profile"`
	RoleARN     string    `json:"role_arn,omitempty"`
	Cutoff      time.Time `json:"cutoff,omitzero"`
	AccessKeyID string    `json:"access_key_id,omitempty"`
	Expires     time.Time `json:"expires,omitzero"`
	// Note says why nothing was revoked for a profile that is no role.
	Note  string `json:"note,omitempty"`
	Error string `json:"error,omitempty"`
}
