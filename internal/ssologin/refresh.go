package ssologin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssooidc"
	oidctypes "github.com/aws/aws-sdk-go-v2/service/ssooidc/types"
)

// ErrSignInNeeded wraps a refresh the OIDC service refused for good: the
// refresh token expired or was revoked, or the client registration ended.
// Retrying cannot help; only a new sign-in can.
var ErrSignInNeeded = errors.New("IAM Identity Center refused the refresh token")

// Refresher renews a sign-in's access token with its refresh token (the
// OIDC refresh_token grant), for the daemon's SSO session manager. Its
// client is built like the sign-in's, so endpoint settings apply alike.
type Refresher struct {
	c *ssooidc.Client
	t target
}

// Session is the sign-in's sso-session name, "" for a legacy profile.
func (r *Refresher) Session() string { return r.t.session }

// StartURL is the sign-in's portal.
func (r *Refresher) StartURL() string { return r.t.startURL }

// Region is the sign-in's SSO region.
func (r *Refresher) Region() string { return r.t.region }

// NewRefresher builds the OIDC client of the sign-in o names (Profile or
// SSOSession; Files and HTTPClient as for Login). It makes no call.
func NewRefresher(ctx context.Context, o Options) (*Refresher, error) {
	if (o.Profile == "") == (o.SSOSession == "") {
		return nil, errEither
	}
	t, cleanup, err := resolve(ctx, o)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	c, _, err := oidcClient(ctx, o, t)
	if err != nil {
		return nil, err
	}
	return &Refresher{c: c, t: t}, nil
}

// Refreshed is a renewed token. RefreshToken is "" when the service did
// not rotate it (the old one stays good).
type Refreshed struct {
	AccessToken, RefreshToken string
	ExpiresIn                 time.Duration
}

// Refresh makes one refresh_token grant. A refusal for good wraps
// ErrSignInNeeded; anything else (network, throttling) may be retried.
func (r *Refresher) Refresh(ctx context.Context, clientID, clientSecret, refreshToken string) (Refreshed, error) {
	out, err := r.c.CreateToken(ctx, &ssooidc.CreateTokenInput{
		ClientId: aws.String(clientID), ClientSecret: aws.String(clientSecret),
		RefreshToken: aws.String(refreshToken), GrantType: aws.String("refresh_token"),
	})
	if err != nil {
		var (
			grant   *oidctypes.InvalidGrantException
			expired *oidctypes.ExpiredTokenException
			client  *oidctypes.InvalidClientException
			unauth  *oidctypes.UnauthorizedClientException
			denied  *oidctypes.AccessDeniedException
		)
		if errors.As(err, &grant) || errors.As(err, &expired) || errors.As(err, &client) || errors.As(err, &unauth) || errors.As(err, &denied) {
			return Refreshed{}, fmt.Errorf("%w: %w", ErrSignInNeeded, err)
		}
		return Refreshed{}, err
	}
	if aws.ToString(out.AccessToken) == "" || out.ExpiresIn <= 0 {
		return Refreshed{}, errors.New("IAM Identity Center answered the refresh without a token")
	}
	return Refreshed{
		AccessToken: aws.ToString(out.AccessToken), RefreshToken: aws.ToString(out.RefreshToken),
		ExpiresIn: time.Duration(out.ExpiresIn) * time.Second,
	}, nil
}
