// Package ssologin signs in to IAM Identity Center (SSO) the way the AWS
// CLI v2 does, for `imdsd login`: the authorization-code flow with PKCE and
// a loopback redirect (a browser on this machine), or the device-code flow
// (a URL and a code to type anywhere). It writes the token to the SDKs'
// shared cache (~/.aws/sso/cache/<sha1>.json) in the AWS CLI's format, so
// the SDK's ssocreds provider (and so imdsd's brokers) and the AWS CLI use
// it. It also lists the account roles a sign-in gives (imdsd sso
// profiles), and renews a sign-in's token with its refresh token for the
// daemon's session manager (Refresher). The profile and sso-session
// settings come from the SDK's loader.
package ssologin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/ssocreds"
	"github.com/aws/aws-sdk-go-v2/service/ssooidc"

	"github.com/imdsd/imdsd/config"
)

// DefaultScopes are registered when none are given: sso:account:access is
// what earns a refresh token, so the SDK can renew the token without
// another sign-in.
var DefaultScopes = []string{"sso:account:access"}

var errEither = errors.New("name either a profile or an sso-session")

// ErrNoBrowser means no browser could be opened here; Login then falls back
// to the device-code flow.
var ErrNoBrowser = errors.New("no browser can be opened here")

// Options say whom to sign in and how. Exactly one of Profile and
// SSOSession names the sign-in.
type Options struct {
	Profile    string // a profile with sso_session or (legacy) sso_start_url
	SSOSession string // an [sso-session NAME] section
	NoBrowser  bool   // device-code flow
	Scopes     []string
	Files      config.AWSFiles
	HTTPClient aws.HTTPClient // nil: the SDK's default
	Out        io.Writer      // what the user reads: URLs and the user code, never a token
	// OpenBrowser opens a URL in the user's browser; nil: the system's
	// (xdg-open, open, rundll32). Tests play the browser here.
	OpenBrowser func(url string) error
	// Wait sleeps between device-flow polls; nil: a timer. Tests inject
	// it to approve between polls instead of sleeping.
	Wait func(ctx context.Context, d time.Duration) error
}

// Result says what was signed in and where the token is. No secret.
type Result struct {
	Session   string // the sso-session name; "" for a legacy profile
	StartURL  string
	Region    string
	CacheFile string
	Expires   time.Time
	Refresh   bool // a refresh token was issued and cached
	Flow      string
}

// target is the resolved sign-in: which portal, and the cache key.
type target struct {
	session, startURL, region string
	profile                   string // the profile the SDK loads for endpoints
	files                     []string
}

// Login signs in and writes the token to the shared cache.
func Login(ctx context.Context, o Options) (*Result, error) {
	if (o.Profile == "") == (o.SSOSession == "") {
		return nil, errEither
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.OpenBrowser == nil {
		o.OpenBrowser = openSystemBrowser
	}
	if o.Wait == nil {
		o.Wait = sleep
	}
	if err := config.CheckAWSFiles(o.Files); err != nil {
		return nil, err
	}
	t, cleanup, err := resolve(ctx, o)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	client, authBase, err := oidcClient(ctx, o, t)
	if err != nil {
		return nil, err
	}
	scopes := o.Scopes
	if len(scopes) == 0 && t.session != "" {
		scopes = DefaultScopes
	}
	// Legacy profiles register without scopes, as the AWS CLI does: their
	// SDK provider cannot refresh, so a refresh token would only sit there.
	if t.session == "" {
		scopes = nil
	}
	f := flow{o: o, t: t, c: client, authBase: authBase, scopes: scopes}
	var tok *token
	res := &Result{Session: t.session, StartURL: t.startURL, Region: t.region}
	if !o.NoBrowser {
		res.Flow = "pkce"
		tok, err = f.pkce(ctx)
		if errors.Is(err, ErrNoBrowser) {
			fmt.Fprintln(o.Out, "No browser can be opened here: signing in with a device code instead.")
			o.NoBrowser = true
			f.o = o
		} else if err != nil {
			return nil, err
		}
	}
	if o.NoBrowser {
		res.Flow = "device"
		if tok, err = f.device(ctx); err != nil {
			return nil, err
		}
	}
	key := t.session
	if key == "" {
		key = t.startURL
	}
	if res.CacheFile, err = ssocreds.StandardCachedTokenFilepath(key); err != nil {
		return nil, err
	}
	if err := writeCacheFile(res.CacheFile, tok, t.startURL, t.region); err != nil {
		return nil, err
	}
	res.Expires, res.Refresh = tok.expires, tok.RefreshToken != ""
	return res, nil
}

// resolve reads the sign-in's settings with the SDK's loader. The loader
// reads sso-session sections only through a profile that names one, so
// for --sso-session a one-line profile naming it is added in a temporary
// file beside the user's files (never written into them).
func resolve(ctx context.Context, o Options) (target, func(), error) {
	t := target{profile: o.Profile, files: o.Files.Config}
	cleanup := func() {}
	if o.SSOSession != "" {
		// The name goes into an INI line: nothing that could end it.
		if strings.ContainsAny(o.SSOSession, "[]\r\n;#") || strings.TrimSpace(o.SSOSession) != o.SSOSession {
			return t, cleanup, fmt.Errorf("%q is not an sso-session name", o.SSOSession)
		}
		dir, err := os.MkdirTemp("", "imdsd-login-")
		if err != nil {
			return t, cleanup, err
		}
		cleanup = func() { os.RemoveAll(dir) }
		t.profile = "imdsd-login-" + randURL(6)
		f := filepath.Join(dir, "config")
		body := fmt.Sprintf("[profile %s]\nsso_session = %s\n", t.profile, o.SSOSession)
		if err := os.WriteFile(f, []byte(body), 0o600); err != nil {
			return t, cleanup, err
		}
		t.files = append(append([]string{}, o.Files.Config...), f)
	}
	sc, err := awsconfig.LoadSharedConfigProfile(ctx, t.profile, func(lo *awsconfig.LoadSharedConfigOptions) {
		lo.ConfigFiles, lo.CredentialsFiles = t.files, o.Files.Credentials
	})
	name := "profile " + o.Profile
	if o.SSOSession != "" {
		name = "sso-session " + o.SSOSession
	}
	if err != nil {
		return t, cleanup, fmt.Errorf("%s: %w", name, err)
	}
	// A role profile whose source_profile chain ends in SSO signs in for
	// that link, as the SDK resolving the role would use it.
	found := false
	for c := &sc; c != nil && !found; c = c.Source {
		switch {
		case c.SSOSession != nil:
			t.session, t.startURL, t.region = c.SSOSession.Name, c.SSOSession.SSOStartURL, c.SSOSession.SSORegion
		case c.SSOStartURL != "":
			t.startURL, t.region = c.SSOStartURL, c.SSORegion
		default:
			continue
		}
		found = true
		if c != &sc && o.Profile != "" {
			t.profile = c.Profile // its endpoint settings, as the SDK's SSO client uses
		}
	}
	if !found {
		return t, cleanup, fmt.Errorf("%s has no SSO settings: add sso_session (or the legacy sso_start_url and sso_region), or a source_profile that has them", name)
	}
	if t.startURL == "" || t.region == "" {
		return t, cleanup, fmt.Errorf("%s: sso_start_url and sso_region are both needed", name)
	}
	return t, cleanup, nil
}

// oidcClient builds the OIDC client as the SDK's SSO provider does, from
// the same profile, so endpoint settings (AWS_ENDPOINT_URL_SSO_OIDC, a
// services section) send sign-in and refresh to the same place. It also
// returns the base of the browser's /authorize URL: the OIDC endpoint.
func oidcClient(ctx context.Context, o Options, t target) (*ssooidc.Client, string, error) {
	cfg, err := loadSSOConfig(ctx, o, t)
	if err != nil {
		return nil, "", err
	}
	c := ssooidc.NewFromConfig(cfg)
	co := c.Options()
	ep, err := co.EndpointResolverV2.ResolveEndpoint(ctx, ssooidc.EndpointParameters{Region: aws.String(t.region), Endpoint: co.BaseEndpoint})
	if err != nil {
		return nil, "", fmt.Errorf("the OIDC endpoint of region %s: %w", t.region, err)
	}
	u := ep.URI
	return c, u.Scheme + "://" + u.Host + u.Path, nil
}

// loadSSOConfig loads the SDK config of the sign-in's profile, for its
// SSO and OIDC clients, in the SSO region.
func loadSSOConfig(ctx context.Context, o Options, t target) (aws.Config, error) {
	opts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithSharedConfigProfile(t.profile),
		awsconfig.WithSharedConfigFiles(t.files),
		awsconfig.WithSharedCredentialsFiles(o.Files.Credentials),
		awsconfig.WithRegion(t.region),
		// OIDC and portal calls are unsigned (the portal's carry the
		// bearer token): no credentials are resolved here.
		awsconfig.WithCredentialsProvider(aws.AnonymousCredentials{}),
	}
	if o.HTTPClient != nil {
		opts = append(opts, awsconfig.WithHTTPClient(o.HTTPClient))
	}
	return awsconfig.LoadDefaultConfig(ctx, opts...)
}

// token is what a grant returns, ready for the cache.
type token struct {
	AccessToken, RefreshToken, ClientID, ClientSecret string
	expires, regExpires                               time.Time
}

func tokenFrom(out *ssooidc.CreateTokenOutput, reg *ssooidc.RegisterClientOutput, now time.Time) *token {
	return &token{
		AccessToken: aws.ToString(out.AccessToken), RefreshToken: aws.ToString(out.RefreshToken),
		ClientID: aws.ToString(reg.ClientId), ClientSecret: aws.ToString(reg.ClientSecret),
		expires:    now.Add(time.Duration(out.ExpiresIn) * time.Second),
		regExpires: time.Unix(reg.ClientSecretExpiresAt, 0),
	}
}

// cacheFile is the AWS CLI's format of ~/.aws/sso/cache/<sha1>.json; the
// SDK reads accessToken, expiresAt, refreshToken, clientId, clientSecret.
type cacheFile struct {
	StartURL              string `json:"startUrl"`
	Region                string `json:"region"`
	AccessToken           string `json:"accessToken"`
	ExpiresAt             string `json:"expiresAt"`
	ClientID              string `json:"clientId,omitempty"`
	ClientSecret          string `json:"clientSecret,omitempty"`
	RegistrationExpiresAt string `json:"registrationExpiresAt,omitempty"`
	RefreshToken          string `json:"refreshToken,omitempty"`
}

// writeCacheFile writes atomically (a reader never sees half a token) and
// 0600 from the start (the token is a bearer credential).
func writeCacheFile(path string, tok *token, startURL, region string) error {
	cf := cacheFile{
		StartURL: startURL, Region: region,
		AccessToken: tok.AccessToken, ExpiresAt: tok.expires.UTC().Format(time.RFC3339),
		ClientID: tok.ClientID, ClientSecret: tok.ClientSecret, RefreshToken: tok.RefreshToken,
	}
	if !tok.regExpires.IsZero() {
		cf.RegistrationExpiresAt = tok.regExpires.UTC().Format(time.RFC3339)
	}
	data, err := json.Marshal(cf)
	if err != nil {
		return err
	}
	return config.WriteFileAtomic(path, data, 0o600)
}

func randURL(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
