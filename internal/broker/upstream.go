package broker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"regexp"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"

	"github.com/imdsd/imdsd/config"
	"github.com/imdsd/imdsd/imds"
)

// defaultRoleDuration: STS's own default (and stscreds') is 15 minutes,
// which would leave every served credential inside botocore's 15-minute
// refresh window; an hour is what roles allow by default.
const defaultRoleDuration = time.Hour

// STSOptions are shared by every profile's fetch.
type STSOptions struct {
	Files       config.AWSFiles
	SessionName string // default role_session_name
	HTTPClient  aws.HTTPClient
	Opts        config.ProfileOptions
	MFA         *MFAStore
	// Stamp is the hash of the AWS files as validated (config.StampFiles).
	Stamp [32]byte
	// Keys are the keyring's keys of the profile's chain root when it is
	// a keyring profile (config.Profile.Keyring); nil otherwise or while
	// the keyring is locked.
	Keys *aws.Credentials
	// SSOGate, for a profile whose chain signs in to IAM Identity Center,
	// is asked before each fetch (the daemon's SSO session manager): an
	// error fails the fetch with no call, so a sign-in that ended costs
	// no OIDC or portal call per profile and retry, and the SDK is never
	// handed a token it would renew itself.
	SSOGate func(ctx context.Context) error
}

// upstream turns one validated profile into temporary credentials.
type upstream struct {
	p   *config.Profile
	o   STSOptions
	cfg aws.Config // the profile's provider chain, built from validated files
	// src is the chain's source (long-term keys) for MFA profiles, which
	// need GetSessionToken with the code before anything else.
	src *aws.Config
	// build makes cfg (and src) anew; stale says the last attempt was cut
	// off, so cfg's cache may still hold the hung call.
	build func(ctx context.Context) error
	stale bool

	mu sync.Mutex // guards cfg and src: `imdsd mfa` reads them off the broker's goroutine
}

func (u *upstream) configs() (aws.Config, *aws.Config) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.cfg, u.src
}

// NewSTS builds the broker of one validated profile, its provider chain
// built now from the files as validated.
func NewSTS(ctx context.Context, p *config.Profile, so STSOptions, bo Options, log *slog.Logger) (*Broker, error) {
	u, err := newUpstream(ctx, p, so)
	if err != nil {
		return nil, err
	}
	b := New(p.Name, u.fetch, bo, log)
	b.up = u
	return b, nil
}

// newUpstream builds the fetch for one profile. The SDK's shared-config
// loader builds the provider chain now, from the files as just validated;
// later edits reach it only through a new validated reload. The SDK's own
// providers do AssumeRole (with its source chain), SSO, credential_process
// and web identity; long-term keys are exchanged with GetSessionToken and
// never returned.
func newUpstream(ctx context.Context, p *config.Profile, o STSOptions) (*upstream, error) {
	u := &upstream{p: p, o: o}
	load := func(ctx context.Context, profile string) (aws.Config, error) {
		if p.Keyring != "" {
			var hops []config.RoleHop
			if profile == p.Name {
				hops = p.Hops
			}
			return keyringConfig(ctx, o, p, profile, hops, u.assumeRoleOptions)
		}
		return loadConfig(ctx, o, profile, u.assumeRoleOptions)
	}
	src := ""
	if p.MFASerial != "" {
		// MFA: GetSessionToken with a code on the source keys, then
		// AssumeRole with that session for as long as it lasts, so the
		// user types a code once per MFA session, not once per refresh.
		src = p.Name
		if p.Kind == config.KindAssumeRole {
			if len(p.SourceChain) != 2 || p.SourceKeyID == "" {
				return nil, &config.ProfileError{Profile: p.Name, Key: "mfa_serial", Msg: "MFA is supported when source_profile names a profile with long-term keys; this chain has a role or provider in between"}
			}
			src = p.SourceChain[1]
		}
	}
	u.build = func(ctx context.Context) error {
		name := p.Name
		if src != "" {
			name = src
		}
		cfg, err := load(ctx, name)
		if err != nil {
			return &config.ProfileError{Profile: p.Name, Msg: err.Error()}
		}
		u.mu.Lock()
		defer u.mu.Unlock()
		u.cfg = cfg
		if src != "" {
			u.src = &cfg
		}
		return nil
	}
	if err := u.build(ctx); err != nil {
		return nil, err
	}
	return u, nil
}

// loadConfig builds a profile's provider chain with the SDK's loader.
func loadConfig(ctx context.Context, o STSOptions, profile string, aro func(*stscreds.AssumeRoleOptions), extra ...func(*awsconfig.LoadOptions) error) (aws.Config, error) {
	// The SDK opens the files itself: check them first (regular
	// files of ours, within the size cap), so a FIFO cannot hang it.
	if err := config.CheckAWSFiles(o.Files); err != nil {
		return aws.Config{}, err
	}
	opts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithSharedConfigProfile(profile),
		awsconfig.WithSharedConfigFiles(o.Files.Config),
		awsconfig.WithSharedCredentialsFiles(o.Files.Credentials),
		awsconfig.WithDefaultRegion("us-east-1"),
		awsconfig.WithHTTPClient(o.HTTPClient),
		awsconfig.WithRetryMaxAttempts(2),
	}
	if aro != nil {
		opts = append(opts, awsconfig.WithAssumeRoleCredentialOptions(aro))
	}
	return awsconfig.LoadDefaultConfig(ctx, append(opts, extra...)...)
}

// SourceConfig is the SDK config of a role profile's source credentials:
// the identity that assumes the role (its source_profile, itself a chain
// if that profile is a role), which is who may change the role in IAM.
// Its credentials come from the SDK's providers, so if the source is a
// role the SDK assumes it; nothing else here calls STS.
func SourceConfig(ctx context.Context, p *config.Profile, o STSOptions) (aws.Config, error) {
	if p.Kind != config.KindAssumeRole {
		return aws.Config{}, fmt.Errorf("profile %s is not a role profile (it is %s): only a role's sessions can be revoked; for keys, rotate them instead", p.Name, p.Kind)
	}
	if len(p.SourceChain) < 2 {
		return aws.Config{}, fmt.Errorf("profile %s takes its source credentials from credential_source, which imdsd cannot use to call IAM; give it a source_profile, or revoke from the IAM console (Roles > Revoke active sessions)", p.Name)
	}
	aro := func(ao *stscreds.AssumeRoleOptions) {
		if ao.RoleSessionName == "" {
			ao.RoleSessionName = o.SessionName
		}
	}
	var cfg aws.Config
	var err error
	if p.Keyring != "" {
		cfg, err = keyringConfig(ctx, o, p, p.SourceChain[1], p.Hops[1:], aro)
	} else {
		cfg, err = loadConfig(ctx, o, p.SourceChain[1], aro)
	}
	if err != nil {
		return aws.Config{}, &config.ProfileError{Profile: p.SourceChain[1], Msg: err.Error()}
	}
	return cfg, nil
}

// renew replaces a provider chain whose last call was cut off: the SDK's
// credentials cache runs retrievals without the caller's deadline, so a
// hung STS call would hold every later attempt until the HTTP timeout. It
// is rebuilt only from the files as validated; if they changed since, the
// reload that follows brings a new upstream.
func (u *upstream) renew(ctx context.Context) error {
	if !u.stale {
		return nil
	}
	if stamp, err := config.StampFiles(u.o.Files); err != nil || stamp != u.o.Stamp {
		return fmt.Errorf("profile %s: the AWS files changed since they were validated; waiting for the reload", u.p.Name)
	}
	if err := u.build(ctx); err != nil {
		return err
	}
	u.stale = false
	return nil
}

// note marks the chain stale when an attempt was cut off by its deadline.
func (u *upstream) note(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil {
		u.stale = true
	}
	return err
}

// assumeRoleOptions fills what the profile file cannot say: the default
// session name, and for the profile's own role (not intermediate roles of
// the chain) the session policies and duration from imdsd's config.
func (u *upstream) assumeRoleOptions(ao *stscreds.AssumeRoleOptions) {
	if ao.RoleSessionName == "" {
		ao.RoleSessionName = u.o.SessionName
	}
	if ao.RoleARN != u.p.RoleARN {
		return
	}
	u.applyRole(&ao.Duration, &ao.Policy, &ao.PolicyARNs)
}

func (u *upstream) applyRole(d *time.Duration, policy **string, arns *[]ststypes.PolicyDescriptorType) {
	switch {
	case u.o.Opts.Duration > 0:
		*d = u.o.Opts.Duration
	case u.p.Duration > 0:
		*d = u.p.Duration
	default:
		*d = defaultRoleDuration
	}
	if u.o.Opts.Policy != "" {
		*policy = aws.String(u.o.Opts.Policy)
	}
	for _, a := range u.o.Opts.PolicyARNs {
		*arns = append(*arns, ststypes.PolicyDescriptorType{Arn: aws.String(a)})
	}
}

func (u *upstream) errorFor(op string, err error) *upstreamError {
	ue := &upstreamError{Profile: u.p.Name, Op: op, RoleARN: u.p.RoleARN, SourceID: u.p.SourceKeyID, SSOProfile: u.p.SSOProfile, SSOSession: u.p.SSOSession, Err: err}
	if n := len(u.p.SourceChain); n > 0 {
		ue.Source = u.p.SourceChain[n-1]
	}
	return ue
}

// fetch is the broker's Fetch (called by one goroutine at a time).
func (u *upstream) fetch(ctx context.Context) (c imds.Credentials, err error) {
	if err := u.renew(ctx); err != nil {
		return imds.Credentials{}, err
	}
	defer func() { err = u.note(ctx, err) }()
	if f := u.p.SSOCacheFile; f != "" {
		// The SDK reads the token with a plain open: check it first. (A
		// FIFO made between the check and the SDK's open still blocks;
		// the directory is the user's own, so only they can do that.)
		if err := config.CheckSSOTokenFile(f); err != nil {
			return imds.Credentials{}, &config.ProfileError{Profile: u.p.Name, Msg: err.Error()}
		}
		if g := u.o.SSOGate; g != nil {
			if err := g(ctx); err != nil {
				return imds.Credentials{}, fmt.Errorf("profile %s: %w", u.p.Name, err)
			}
		}
	}
	cfg, src := u.configs()
	if src != nil {
		return u.fetchMFA(ctx, cfg)
	}
	op := "credentials"
	if u.p.Kind == config.KindAssumeRole {
		op = "AssumeRole"
	}
	// The cache would hand back what it already has; a refresh must reach
	// upstream.
	if cc, ok := cfg.Credentials.(*aws.CredentialsCache); ok {
		cc.Invalidate()
	}
	ac, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return imds.Credentials{}, u.errorFor(op, err)
	}
	if ac.SessionToken == "" {
		// Long-term keys: exchange them so they never reach a client.
		in := &sts.GetSessionTokenInput{}
		if d := u.sessionDuration(); d > 0 {
			in.DurationSeconds = aws.Int32(int32(d / time.Second))
		}
		out, err := sts.NewFromConfig(cfg).GetSessionToken(ctx, in)
		if err != nil {
			ue := u.errorFor("GetSessionToken", err)
			ue.SourceID = ac.AccessKeyID
			return imds.Credentials{}, ue
		}
		return fromSTS(out.Credentials, cmp.Or(ac.AccountID, u.p.AccountID), ""), nil
	}
	if !ac.CanExpire {
		// A session token with no expiry (static session keys in the
		// credentials file) cannot be refreshed; serve it for at most an
		// hour so clients come back.
		ac.Expires = time.Now().Add(time.Hour)
	}
	return imds.Credentials{
		AccessKeyID:     ac.AccessKeyID,
		SecretAccessKey: ac.SecretAccessKey,
		SessionToken:    ac.SessionToken,
		Expires:         ac.Expires,
		AccountID:       cmp.Or(ac.AccountID, u.p.AccountID),
		RoleArn:         u.p.RoleARN,
	}, nil
}

func (u *upstream) sessionDuration() time.Duration {
	if u.o.Opts.Duration > 0 {
		return u.o.Opts.Duration
	}
	return u.p.Duration
}

// fetchMFA serves from the MFA session: the session itself for a keys-only
// profile, else AssumeRole made with it.
func (u *upstream) fetchMFA(ctx context.Context, cfg aws.Config) (imds.Credentials, error) {
	sess, err := u.o.MFA.session(ctx, u)
	if err != nil {
		return imds.Credentials{}, err
	}
	if u.p.Kind != config.KindAssumeRole {
		return sess.creds, nil
	}
	client := sts.NewFromConfig(cfg, func(o *sts.Options) {
		o.Credentials = staticCreds(sess.creds)
	})
	in := &sts.AssumeRoleInput{RoleArn: aws.String(u.p.RoleARN), RoleSessionName: aws.String(cmp.Or(u.p.RoleSessionName, u.o.SessionName))}
	if u.p.ExternalID != "" {
		in.ExternalId = aws.String(u.p.ExternalID)
	}
	var d time.Duration
	u.applyRole(&d, &in.Policy, &in.PolicyArns)
	in.DurationSeconds = aws.Int32(int32(d / time.Second))
	out, err := client.AssumeRole(ctx, in)
	if err != nil {
		return imds.Credentials{}, u.errorFor("AssumeRole", err)
	}
	return fromSTS(out.Credentials, u.p.AccountID, u.p.RoleARN), nil
}

// mfaLogin uses a code from the user to start an MFA session.
func (u *upstream) mfaLogin(ctx context.Context, code string) (mfaSession, error) {
	_, src := u.configs()
	if cc, ok := src.Credentials.(*aws.CredentialsCache); ok {
		cc.Invalidate()
	}
	keys, err := src.Credentials.Retrieve(ctx)
	if err != nil {
		return mfaSession{}, u.errorFor("GetSessionToken", err)
	}
	if keys.SessionToken != "" {
		return mfaSession{}, &config.ProfileError{Profile: u.p.Name, Key: "mfa_serial", Msg: "the source credentials are already a session; MFA needs long-term keys in the source profile"}
	}
	in := &sts.GetSessionTokenInput{
		SerialNumber:    aws.String(u.p.MFASerial),
		TokenCode:       aws.String(code),
		DurationSeconds: aws.Int32(int32(u.o.Opts.MFADuration / time.Second)),
	}
	out, err := sts.NewFromConfig(*src).GetSessionToken(ctx, in)
	if err != nil {
		return mfaSession{}, u.errorFor("GetSessionToken (MFA)", err)
	}
	c := fromSTS(out.Credentials, u.p.AccountID, "")
	return mfaSession{creds: c, expires: c.Expires}, nil
}

func fromSTS(c *ststypes.Credentials, account, roleARN string) imds.Credentials {
	if c == nil {
		return imds.Credentials{}
	}
	return imds.Credentials{
		AccessKeyID:     aws.ToString(c.AccessKeyId),
		SecretAccessKey: aws.ToString(c.SecretAccessKey),
		SessionToken:    aws.ToString(c.SessionToken),
		Expires:         aws.ToTime(c.Expiration),
		AccountID:       account,
		RoleArn:         roleARN,
	}
}

func staticCreds(c imds.Credentials) aws.CredentialsProvider {
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken, CanExpire: true, Expires: c.Expires}, nil
	})
}

func NewHTTPClient() aws.HTTPClient {
	return awshttp.NewBuildableClient().WithTimeout(10 * time.Second)
}

var sessionNameBad = regexp.MustCompile(`[^\w+=,.@-]`)

// DefaultSessionName names the local user and host, so CloudTrail shows who
// assumed the role from where.
func DefaultSessionName() string {
	name := "imdsd"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		name += "@" + h
	}
	name = sessionNameBad.ReplaceAllString(name, "-")
	if len(name) > 64 {
		name = name[:64]
	}
	if len(name) < 2 {
		name = "imdsd"
	}
	return name
}

var ErrNeedsMFA = errors.New("needs an MFA code")

// CallerIdentity checks long-term keys (a key being added or a new key
// after rotation) with GetCallerIdentity, with the region and endpoint
// settings of profile in the files (the default profile's if it has no
// section), and returns the caller's ARN and account.
func CallerIdentity(ctx context.Context, o STSOptions, profile string, keys aws.Credentials) (arn, account string, err error) {
	cfg, err := KeysConfig(ctx, o, profile, keys)
	if err != nil {
		return "", "", err
	}
	out, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", "", &upstreamError{Profile: profile, Op: "GetCallerIdentity", SourceID: keys.AccessKeyID, Err: err}
	}
	return aws.ToString(out.Arn), aws.ToString(out.Account), nil
}

// KeysConfig is the SDK config that signs with the given long-term keys,
// with the rest (region, endpoints such as a services section or
// AWS_ENDPOINT_URL_IAM) from profile's section of the checked AWS files,
// or from [default] when the profile has no section (keys kept only in
// the keyring). Rotation calls IAM with it.
func KeysConfig(ctx context.Context, o STSOptions, profile string, keys aws.Credentials) (aws.Config, error) {
	if err := config.CheckAWSFiles(o.Files); err != nil {
		return aws.Config{}, err
	}
	load := func(p string) (aws.Config, error) {
		// "" leaves the profile unnamed, so a missing default profile
		// is no error (the SDK's own rule).
		return awsconfig.LoadDefaultConfig(ctx,
			awsconfig.WithSharedConfigProfile(p),
			awsconfig.WithSharedConfigFiles(o.Files.Config),
			awsconfig.WithSharedCredentialsFiles(o.Files.Credentials),
			awsconfig.WithDefaultRegion("us-east-1"),
			awsconfig.WithHTTPClient(cmp.Or[aws.HTTPClient](o.HTTPClient, NewHTTPClient())),
			awsconfig.WithRetryMaxAttempts(2),
			awsconfig.WithCredentialsProvider(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return keys, nil })),
		)
	}
	cfg, err := load(profile)
	var nf awsconfig.SharedConfigProfileNotExistError
	if errors.As(err, &nf) {
		// A keyring profile needs no section of its own: the default
		// profile's settings (or none) apply, as for the SDK.
		cfg, err = load("")
	}
	if err != nil {
		return aws.Config{}, &config.ProfileError{Profile: profile, Msg: err.Error()}
	}
	return cfg, nil
}
