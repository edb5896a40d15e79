package imds

import (
	"log/slog"
	"net/http"
	"net/netip"
	"time"
)

// EC2Settings is the part of the EC2 face that a config reload may change.
// The daemon swaps it whole with EC2.Update; requests in flight keep the
// settings they started with.
type EC2Settings struct {
	// Profile is the profile served; its name is the role name in the
	// security-credentials listing.
	Profile string
	// Region is reported by placement/region, the availability zone and the
	// identity document.
	Region string
	// TokensRequired: true = IMDSv2 only (tokenless GETs get 401); false
	// also answers IMDSv1 GETs.
	TokensRequired bool
	// InstanceID is reported by meta-data/instance-id; stable per machine.
	InstanceID string
	// Also lists role names still answered at security-credentials/<name>
	// (but not listed) for a grace period after the served profile changed,
	// so a client that listed the old name just before does not get a 404.
	Also []string
}

// ECSSettings is the part of the ECS face that a config reload may change.
type ECSSettings struct {
	// DefaultProfile is served at /creds (and at /role/<DefaultProfile>).
	DefaultProfile string
	// Profiles are also served at /role/<profile>.
	Profiles []string
	// Token is the value the Authorization header must equal.
	Token string
}

// Policy is a listener's client policy: who may connect and which Host
// headers are accepted.
type Policy struct {
	// Allow lists client address ranges accepted besides loopback, which is
	// always accepted.
	Allow []netip.Prefix
	// Hosts lists extra Host header names accepted besides loopback
	// addresses, "localhost" and the metadata addresses (169.254.169.254,
	// 169.254.170.2, 169.254.170.23, fd00:ec2::254, fd00:ec2::23).
	Hosts []string
}

// VendFunc is told of every credential document served, for the audit log.
// It must not block; it must never log the secret or the token.
type VendFunc func(r *http.Request, profile string, c Credentials, now time.Time)

// Options are fixed for the life of a handler.
type Options struct {
	Logger *slog.Logger // nil: slog.Default()
	OnVend VendFunc     // nil: no audit hook
}
