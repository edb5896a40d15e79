// Package imds is the HTTP face of imdsd: the EC2 instance-metadata service
// (IMDSv2 tokens, optional IMDSv1) and the ECS container-credentials endpoint,
// with their security checks, and the http.Server they run on (time limits
// kept by a watchdog). It never calls STS: credentials come from a Source
// that the daemon hands it.
package imds

import (
	"context"
	"errors"
	"time"
)

// Credentials are temporary credentials ready to serve. They never hold
// long-term keys: the daemon only puts STS-issued session credentials here.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	Expires         time.Time
	// LastUpdated is when the daemon obtained these credentials.
	LastUpdated time.Time
	// Issued is when the daemon began the fetch that got them: STS issued
	// them no earlier (its answer carries no issue time). Zero = unknown.
	Issued time.Time
	// AccountID may be empty when it is not known.
	AccountID string
	// RoleArn may be empty (GetSessionToken credentials have no role).
	RoleArn string
}

// Source gives the handlers credentials for a profile. Implementations must
// answer from memory: a handler may wait for a first fetch already in flight
// (bounded by ctx) but never causes an STS call of its own. now is the
// request's time (read once per request: the clock is a measurable part of
// a cached answer); the credentials must be servable at it.
type Source interface {
	Credentials(ctx context.Context, profile string, now time.Time) (Credentials, error)
}

// SourceFunc adapts a function to Source.
type SourceFunc func(ctx context.Context, profile string, now time.Time) (Credentials, error)

// Credentials implements Source.
func (f SourceFunc) Credentials(ctx context.Context, profile string, now time.Time) (Credentials, error) {
	return f(ctx, profile, now)
}

// ErrUnknownProfile is returned by a Source for a profile it does not serve;
// handlers answer 404.
var ErrUnknownProfile = errors.New("profile is not served by imdsd")

// UnavailableError is returned by a Source when it serves the profile but has
// no valid credentials right now (STS failing, MFA needed, daemon locked).
// Handlers answer 503 with Message, which must say why and what to do, and
// must not contain secrets.
type UnavailableError struct {
	Profile string
	Message string
}

func (e *UnavailableError) Error() string {
	return "credentials for profile " + e.Profile + " are unavailable: " + e.Message
}
