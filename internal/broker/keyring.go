package broker

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/imdsd/imdsd/config"
)

// Chains rooted in imdsd's keyring. The SDK's loader knows such a
// profile only through the keyring overlay (config.KeyringProcess), which
// it must never run: every config here is loaded with an explicit
// credentials provider, so the SDK resolves the profile's region and
// endpoints but none of its credential providers, and the role hops are
// assumed here, as the SDK would, from the keyring's keys.

// keyringKeys is the static provider of the keyring's keys.
func keyringKeys(o STSOptions, p *config.Profile) (aws.CredentialsProvider, error) {
	if o.Keys == nil || !o.Keys.HasKeys() {
		return nil, fmt.Errorf("profile %s: the keys of %s are in imdsd's keyring, which is locked; run `imdsd unlock`", p.Name, p.Keyring)
	}
	k := *o.Keys
	k.Source = "imdsd keyring"
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return k, nil }), nil
}

// keyringConfig is the SDK config of profile (p itself or a link of its
// chain) with credentials from the keyring's keys through hops (outermost
// first; none for the keyring profile itself).
func keyringConfig(ctx context.Context, o STSOptions, p *config.Profile, profile string, hops []config.RoleHop, aro func(*stscreds.AssumeRoleOptions)) (aws.Config, error) {
	creds, err := keyringKeys(o, p)
	if err != nil {
		return aws.Config{}, err
	}
	for _, h := range hops[min(1, len(hops)):] {
		if h.MFASerial != "" {
			return aws.Config{}, &config.ProfileError{Profile: h.Profile, Key: "mfa_serial", Msg: "MFA is supported on the role whose source_profile holds the keys; this role has a role between it and the keys"}
		}
	}
	if len(hops) > 0 && hops[0].MFASerial != "" && hops[0].Profile != p.Name {
		return aws.Config{}, &config.ProfileError{Profile: hops[0].Profile, Key: "mfa_serial", Msg: "MFA is supported on the served role itself, with source_profile naming the keyring profile"}
	}
	cfg, err := loadConfig(ctx, o, profile, nil, awsconfig.WithCredentialsProvider(creds))
	if err != nil {
		return aws.Config{}, err
	}
	// Innermost role first, each assumed with the credentials of the one
	// before, with the STS client of the profile being loaded (as the
	// SDK's own chain does).
	for i := len(hops) - 1; i >= 0; i-- {
		h := hops[i]
		client := sts.NewFromConfig(cfg, func(so *sts.Options) { so.Credentials = creds })
		creds = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(client, h.RoleARN, func(ao *stscreds.AssumeRoleOptions) {
			if h.ExternalID != "" {
				ao.ExternalID = aws.String(h.ExternalID)
			}
			ao.RoleSessionName = h.RoleSessionName
			ao.Duration = h.Duration
			if aro != nil {
				aro(ao)
			}
		}))
	}
	cfg.Credentials = creds
	return cfg, nil
}
