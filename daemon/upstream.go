package daemon

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"regexp"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/imdsd/imdsd/config"
	"github.com/imdsd/imdsd/imds"
)

// MFAFunc returns a one-time code for an MFA device, or an error saying how
// the user can provide one.
type MFAFunc func(profile, serial string) (string, error)

// upstreamOptions are shared by every profile's fetch.
type upstreamOptions struct {
	Files       config.AWSFiles
	SessionName string // default role_session_name
	HTTPClient  aws.HTTPClient
	MFA         MFAFunc
}

// newUpstream builds the fetch for one profile. The SDK's shared-config
// loader builds the provider chain now, from the files as just validated;
// later edits reach it only through a new validated reload. The SDK's own
// providers do AssumeRole (with its source chain), SSO, credential_process
// and web identity; long-term keys are exchanged with GetSessionToken and
// never returned.
func newUpstream(ctx context.Context, p *config.Profile, o upstreamOptions) (fetchFunc, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx,
		awsconfig.WithSharedConfigProfile(p.Name),
		awsconfig.WithSharedConfigFiles(o.Files.Config),
		awsconfig.WithSharedCredentialsFiles(o.Files.Credentials),
		awsconfig.WithDefaultRegion("us-east-1"),
		awsconfig.WithHTTPClient(o.HTTPClient),
		awsconfig.WithRetryMaxAttempts(2),
		awsconfig.WithAssumeRoleCredentialOptions(func(ao *stscreds.AssumeRoleOptions) {
			if ao.RoleSessionName == "" {
				ao.RoleSessionName = o.SessionName
			}
			if ao.SerialNumber != nil {
				serial := *ao.SerialNumber
				ao.TokenProvider = func() (string, error) { return o.MFA(p.Name, serial) }
			}
		}),
	)
	if err != nil {
		return nil, &config.ProfileError{Profile: p.Name, Msg: err.Error()}
	}
	return func(ctx context.Context) (imds.Credentials, error) {
		ue := &upstreamError{Profile: p.Name, Op: "credentials", RoleARN: p.RoleARN, SourceID: p.SourceKeyID}
		if n := len(p.SourceChain); n > 0 {
			ue.Source = p.SourceChain[n-1]
		}
		if p.Kind == config.KindAssumeRole {
			ue.Op = "AssumeRole"
		}
		// The cache would hand back what it already has; a refresh must
		// reach upstream.
		if cc, ok := cfg.Credentials.(*aws.CredentialsCache); ok {
			cc.Invalidate()
		}
		c, err := cfg.Credentials.Retrieve(ctx)
		if err != nil {
			ue.Err = err
			return imds.Credentials{}, ue
		}
		if c.SessionToken == "" {
			// Long-term keys: exchange them so they never reach a client.
			ue.Op, ue.SourceID = "GetSessionToken", c.AccessKeyID
			in := &sts.GetSessionTokenInput{}
			if p.Duration > 0 {
				in.DurationSeconds = aws.Int32(int32(p.Duration / time.Second))
			}
			if p.MFASerial != "" {
				code, err := o.MFA(p.Name, p.MFASerial)
				if err != nil {
					ue.Err = err
					return imds.Credentials{}, ue
				}
				in.SerialNumber, in.TokenCode = aws.String(p.MFASerial), aws.String(code)
			}
			out, err := sts.NewFromConfig(cfg).GetSessionToken(ctx, in)
			if err != nil {
				ue.Err = err
				return imds.Credentials{}, ue
			}
			sc := out.Credentials
			return imds.Credentials{
				AccessKeyID:     aws.ToString(sc.AccessKeyId),
				SecretAccessKey: aws.ToString(sc.SecretAccessKey),
				SessionToken:    aws.ToString(sc.SessionToken),
				Expires:         aws.ToTime(sc.Expiration),
				AccountID:       firstNonEmpty(c.AccountID, p.AccountID),
			}, nil
		}
		if !c.CanExpire {
			// A session token with no expiry (e.g. static session keys in
			// the credentials file) cannot be refreshed safely; serve it
			// for at most an hour so clients come back.
			c.Expires = time.Now().Add(time.Hour)
		}
		return imds.Credentials{
			AccessKeyID:     c.AccessKeyID,
			SecretAccessKey: c.SecretAccessKey,
			SessionToken:    c.SessionToken,
			Expires:         c.Expires,
			AccountID:       firstNonEmpty(c.AccountID, p.AccountID),
			RoleArn:         p.RoleARN,
		}, nil
	}, nil
}

func noMFA(profile, serial string) (string, error) {
	return "", fmt.Errorf("profile %s needs an MFA code from device %s, and this version of imdsd cannot prompt for one; use a profile without mfa_serial", profile, serial)
}

func newHTTPClient() aws.HTTPClient {
	return awshttp.NewBuildableClient().WithTimeout(15 * time.Second)
}

var sessionNameBad = regexp.MustCompile(`[^\w+=,.@-]`)

// defaultSessionName names the local user and host, so CloudTrail shows who
// assumed the role from where.
func defaultSessionName() string {
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

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
