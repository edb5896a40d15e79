package ssosession

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"time"

	"github.com/imdsd/imdsd/config"
)

// cached is what the manager needs from a token cache file. The tokens
// stay in memory only as long as a refresh needs them; status never
// sees them.
type cached struct {
	access                 [32]byte // hash of the access token: tells a new sign-in from the old
	expires                time.Time
	regExpires             time.Time // zero when the file does not say
	clientID, clientSecret string
	refreshToken           string
	startURL, region       string
}

// refreshable: the file holds what a refresh_token grant needs, and the
// client registration has not ended.
func (c *cached) refreshable(now time.Time) bool {
	return c.refreshToken != "" && c.clientID != "" && c.clientSecret != "" &&
		(c.regExpires.IsZero() || now.Before(c.regExpires))
}

// readCache reads and parses a token cache file through config's checked
// reader. A missing file is an error wrapping fs.ErrNotExist.
func readCache(path string) (*cached, error) {
	data, err := config.ReadSSOTokenFile(path)
	if err != nil {
		return nil, err
	}
	var f struct {
		StartURL              string `json:"startUrl"`
		Region                string `json:"region"`
		AccessToken           string `json:"accessToken"`
		ExpiresAt             string `json:"expiresAt"`
		ClientID              string `json:"clientId"`
		ClientSecret          string `json:"clientSecret"`
		RegistrationExpiresAt string `json:"registrationExpiresAt"`
		RefreshToken          string `json:"refreshToken"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("%s is not an SSO token cache file (%v): remove it and run imdsd login", path, err)
	}
	c := &cached{access: sha256.Sum256([]byte(f.AccessToken)), clientID: f.ClientID, clientSecret: f.ClientSecret,
		refreshToken: f.RefreshToken, startURL: f.StartURL, region: f.Region}
	if f.AccessToken == "" {
		return nil, fmt.Errorf("%s holds no access token: run imdsd login", path)
	}
	if c.expires, err = parseTime(f.ExpiresAt); err != nil {
		return nil, fmt.Errorf("%s: expiresAt %q is not a time (%v): run imdsd login", path, f.ExpiresAt, err)
	}
	if f.RegistrationExpiresAt != "" {
		c.regExpires, _ = parseTime(f.RegistrationExpiresAt)
	}
	return c, nil
}

// parseTime reads the times the AWS CLI (whole seconds, Z) and the SDKs
// (which may add fractions or an offset) write.
func parseTime(s string) (time.Time, error) {
	return time.Parse(time.RFC3339Nano, s)
}

// writeRefreshed puts a renewed token into the cache file: every other
// field, known or not (the AWS CLI and the SDKs may add their own), stays
// as it was; the write is atomic and 0600, so the SDKs and the AWS CLI,
// which read the same file, never see half a token. A refresh that did
// not rotate the refresh token keeps the old one.
func writeRefreshed(path string, access, refresh string, expires time.Time) error {
	data, err := config.ReadSSOTokenFile(path)
	if err != nil {
		return err
	}
	var f map[string]json.RawMessage
	if err := json.Unmarshal(data, &f); err != nil {
		return fmt.Errorf("%s is not an SSO token cache file: %w", path, err)
	}
	set := func(k, v string) {
		b, _ := json.Marshal(v)
		f[k] = b
	}
	set("accessToken", access)
	set("expiresAt", expires.UTC().Format(time.RFC3339))
	if refresh != "" {
		set("refreshToken", refresh)
	}
	out, err := json.Marshal(f)
	if err != nil {
		return err
	}
	return config.WriteFileAtomic(path, out, 0o600)
}
