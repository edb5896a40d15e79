package broker

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/credentials/ssocreds"
	ssotypes "github.com/aws/aws-sdk-go-v2/service/sso/types"
	oidctypes "github.com/aws/aws-sdk-go-v2/service/ssooidc/types"
	"github.com/aws/smithy-go"
)

var (
	errEmptyCredentials = errors.New("upstream returned empty credentials")
	errNoSessionToken   = errors.New("upstream returned long-term keys without a session token; imdsd serves only temporary credentials")
	errExpiredOnArrival = errors.New("upstream returned credentials that are already expired or about to expire; check the system clock")
)

// upstreamError carries what the daemon was doing when STS failed, so the
// message can tell the user what to fix.
type upstreamError struct {
	Profile  string
	Op       string // "AssumeRole", "GetSessionToken", "credentials"
	RoleARN  string
	Source   string // profile holding the source credentials
	SourceID string // access key id of the source, if known
	// SSOProfile is the chain's profile with SSO settings, "" without one.
	SSOProfile string
	SSOSession string // its sso-session, "" for a legacy profile
	Err        error
}

func (e *upstreamError) Error() string { return Explain(e) }
func (e *upstreamError) Unwrap() error { return e.Err }

// explain turns an upstream failure into one actionable sentence. It never
// includes secrets: SDK errors carry only codes, messages and URLs.
func Explain(err error) string {
	var ue *upstreamError
	if !errors.As(err, &ue) {
		return err.Error()
	}
	if msg, ok := explainSSO(ue); ok {
		return msg
	}
	var api smithy.APIError
	var nerr net.Error
	var uerr *url.Error
	src := ue.Source
	if ue.SourceID != "" {
		src += " (access key " + ue.SourceID + ")"
	}
	switch {
	case errors.As(ue.Err, &api):
		code := api.ErrorCode()
		switch code {
		case "AccessDenied":
			if ue.Op == "AssumeRole" {
				return fmt.Sprintf("profile %s: STS denied AssumeRole on %s: check that the role's trust policy allows the identity of source profile %s (and its external_id, MFA or source-identity conditions) [%s: %s]", ue.Profile, ue.RoleARN, src, code, api.ErrorMessage())
			}
			return fmt.Sprintf("profile %s: STS denied %s for the credentials of %s [%s: %s]", ue.Profile, ue.Op, src, code, api.ErrorMessage())
		case "ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "SignatureDoesNotMatch", "UnrecognizedClientException":
			return fmt.Sprintf("profile %s: the source credentials of profile %s are expired or wrong: update or rotate them in your AWS credentials file [%s: %s]", ue.Profile, src, code, api.ErrorMessage())
		case "Throttling", "ThrottlingException", "RequestLimitExceeded":
			return fmt.Sprintf("profile %s: STS is throttling %s; retrying with backoff [%s]", ue.Profile, ue.Op, code)
		case "RegionDisabledException":
			return fmt.Sprintf("profile %s: STS is not enabled in this region for the account; set region or sts_regional_endpoints [%s: %s]", ue.Profile, code, api.ErrorMessage())
		case "ValidationError":
			return fmt.Sprintf("profile %s: STS rejected %s parameters (check duration_seconds, role_session_name, external_id) [%s: %s]", ue.Profile, ue.Op, code, api.ErrorMessage())
		}
		return fmt.Sprintf("profile %s: STS %s failed [%s: %s]", ue.Profile, ue.Op, code, api.ErrorMessage())
	case errors.Is(ue.Err, context.DeadlineExceeded):
		return fmt.Sprintf("profile %s: STS %s timed out%s; check the network or the STS endpoint setting", ue.Profile, ue.Op, endpointOf(ue.Err))
	case errors.As(ue.Err, &uerr), errors.As(ue.Err, &nerr):
		return fmt.Sprintf("profile %s: could not reach STS%s for %s: %s; check the network, proxy and endpoint_url/AWS_ENDPOINT_URL_STS", ue.Profile, endpointOf(ue.Err), ue.Op, rootCause(ue.Err))
	}
	return fmt.Sprintf("profile %s: %s failed: %v", ue.Profile, ue.Op, ue.Err)
}

// explainSSO says what an IAM Identity Center failure asks of the user:
// mostly to sign in (again). Only the SSO clients' own error types count,
// so an STS failure further down a chain keeps its STS sentence.
func explainSSO(ue *upstreamError) (string, bool) {
	if ue.SSOProfile == "" {
		return "", false
	}
	var (
		invalid *ssocreds.InvalidTokenError
		unauth  *ssotypes.UnauthorizedException
		grant   *oidctypes.InvalidGrantException
		expired *oidctypes.ExpiredTokenException
		client  *oidctypes.InvalidClientException
		api     smithy.APIError
	)
	err := ue.Err
	switch {
	case errors.As(err, &invalid), errors.Is(err, fs.ErrNotExist), errors.As(err, &unauth),
		errors.As(err, &grant), errors.As(err, &expired), errors.As(err, &client),
		// The SDK's plain error for an expired token it cannot refresh.
		strings.Contains(err.Error(), "cached SSO token is expired"):
		login := "--profile " + ue.SSOProfile
		if ue.SSOSession != "" {
			login = "--sso-session " + ue.SSOSession
		}
		return fmt.Sprintf("profile %s: not signed in to IAM Identity Center, or the sign-in expired: run `imdsd login %s`", ue.Profile, login), true
	case errors.As(err, &api) && api.ErrorCode() == "ForbiddenException":
		return fmt.Sprintf("profile %s: IAM Identity Center gives you no access to the role of profile %s: check its sso_account_id and sso_role_name against your assignments [%s: %s]", ue.Profile, ue.SSOProfile, api.ErrorCode(), api.ErrorMessage()), true
	}
	return "", false
}

func endpointOf(err error) string {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		u, perr := url.Parse(uerr.URL)
		if perr == nil {
			return " at " + u.Scheme + "://" + u.Host
		}
	}
	return ""
}

func rootCause(err error) string {
	var oerr *net.OpError
	if errors.As(err, &oerr) {
		return oerr.Err.Error()
	}
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		return s[i+2:]
	}
	return s
}
