package ssosession

import (
	"context"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/imdsd/imdsd/config"
	"github.com/imdsd/imdsd/internal/ssologin"
)

// ProfileOptions name the sign-in behind a served profile.
type ProfileOptions struct {
	Profile    string // the profile of the chain with the SSO settings
	CacheFile  string
	Files      config.AWSFiles
	HTTPClient aws.HTTPClient // nil: the SDK's default
	Log        *slog.Logger
	Notify     Notifier
}

// ForProfile builds (does not start) the manager of a profile's sign-in,
// its OIDC client made as `imdsd login` makes it, so endpoint settings
// send renewals where the sign-in went. It makes no network call.
func ForProfile(ctx context.Context, o ProfileOptions) (*Manager, error) {
	r, err := ssologin.NewRefresher(ctx, ssologin.Options{Profile: o.Profile, Files: o.Files, HTTPClient: o.HTTPClient})
	if err != nil {
		return nil, err
	}
	m := New(Options{
		Session: r.Session(), Profile: o.Profile, StartURL: r.StartURL(), CacheFile: o.CacheFile,
		Log: o.Log, Notify: o.Notify,
		Refresh: func(ctx context.Context, g Grant) (Token, error) {
			t, err := r.Refresh(ctx, g.ClientID, g.ClientSecret, g.RefreshToken)
			return Token{AccessToken: t.AccessToken, RefreshToken: t.RefreshToken, ExpiresIn: t.ExpiresIn}, err
		},
	})
	m.region = r.Region()
	return m, nil
}

// Same says whether two managers keep the same sign-in the same way, so
// a reload can keep the running one (and its state).
func (m *Manager) Same(o *Manager) bool {
	return m.o.CacheFile == o.o.CacheFile && m.o.Session == o.o.Session && m.o.StartURL == o.o.StartURL &&
		m.o.Profile == o.o.Profile && m.region == o.region
}
