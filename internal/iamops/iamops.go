// Package iamops makes the IAM calls imdsd needs, and turns IAM failures
// into actionable sentences. It is the only package that imports the IAM
// client; whose credentials it uses is the caller's choice (cfg).
package iamops

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/smithy-go"
)

// RevokePolicyName is the inline policy the IAM console's "Revoke active
// sessions" puts on a role; using the same name means a later revocation,
// from either, replaces it rather than piling up policies.
const RevokePolicyName = "AWSRevokeOlderSessions"

// RevokePolicy denies everything to sessions issued before cutoff.
func RevokePolicy(cutoff time.Time) string {
	return fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":["*"],"Resource":["*"],"Condition":{"DateLessThan":{"aws:TokenIssueTime":%q}}}]}`,
		cutoff.UTC().Format(time.RFC3339))
}

// RoleName is the name of a role ARN (arn:PARTITION:iam::ACCOUNT:role[/path]/NAME).
func RoleName(roleARN string) (string, error) {
	parts := strings.SplitN(roleARN, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "iam" || !strings.HasPrefix(parts[5], "role/") {
		return "", fmt.Errorf("%q is not a role ARN (arn:aws:iam::ACCOUNT:role/NAME)", roleARN)
	}
	name := parts[5][strings.LastIndex(parts[5], "/")+1:]
	if name == "" {
		return "", fmt.Errorf("%q is not a role ARN (arn:aws:iam::ACCOUNT:role/NAME)", roleARN)
	}
	return name, nil
}

// RevokeOlderSessions puts AWSRevokeOlderSessions on the role, as the
// console does: every session of the role issued before now is denied
// everything from then on (it keeps only GetCallerIdentity). now is used
// as given, at second precision, so the caller chooses the cut-off.
func RevokeOlderSessions(ctx context.Context, cfg aws.Config, roleARN string, now time.Time) error {
	name, err := RoleName(roleARN)
	if err != nil {
		return err
	}
	_, err = iam.NewFromConfig(cfg).PutRolePolicy(ctx, &iam.PutRolePolicyInput{
		RoleName:       aws.String(name),
		PolicyName:     aws.String(RevokePolicyName),
		PolicyDocument: aws.String(RevokePolicy(now)),
	})
	if err != nil {
		return &Error{Action: "iam:PutRolePolicy", RoleARN: roleARN, Err: err}
	}
	return nil
}

// Error is a failed IAM call on a role, said as one sentence.
type Error struct {
	Action  string // "iam:PutRolePolicy"
	RoleARN string
	// Caller names who called IAM, for the sentence ("" = the identity
	// calling IAM); callers that know better set it.
	Caller string
	Err    error
}

func (e *Error) Unwrap() error { return e.Err }

// Denied reports whether IAM refused the call for want of permission.
func (e *Error) Denied() bool {
	var api smithy.APIError
	return errors.As(e.Err, &api) && (api.ErrorCode() == "AccessDenied" || api.ErrorCode() == "AccessDeniedException")
}

// Error never includes secrets: SDK errors carry codes, messages and URLs.
func (e *Error) Error() string {
	var api smithy.APIError
	var uerr *url.Error
	var nerr net.Error
	caller := e.Caller
	if caller == "" {
		caller = "the identity calling IAM"
	}
	switch {
	case e.Denied() && errors.As(e.Err, &api):
		return fmt.Sprintf("IAM denied %s on %s to %s, so nothing was revoked: grant it %s on that role, or use the IAM console's Revoke active sessions on role %s [%s: %s]",
			e.Action, e.RoleARN, caller, e.Action, roleNameOr(e.RoleARN), api.ErrorCode(), api.ErrorMessage())
	case errors.As(e.Err, &api) && api.ErrorCode() == "NoSuchEntity":
		return fmt.Sprintf("IAM %s on %s: the role does not exist in the account of %s, so nothing was revoked; check role_arn [%s: %s]",
			e.Action, e.RoleARN, caller, api.ErrorCode(), api.ErrorMessage())
	case errors.As(e.Err, &api):
		return fmt.Sprintf("IAM %s on %s failed, so nothing was revoked [%s: %s]", e.Action, e.RoleARN, api.ErrorCode(), api.ErrorMessage())
	case errors.Is(e.Err, context.DeadlineExceeded):
		return fmt.Sprintf("IAM %s on %s timed out%s, so nothing was revoked; check the network or the IAM endpoint setting (AWS_ENDPOINT_URL_IAM)", e.Action, e.RoleARN, endpointOf(e.Err))
	case errors.As(e.Err, &uerr), errors.As(e.Err, &nerr):
		return fmt.Sprintf("could not reach IAM%s for %s on %s, so nothing was revoked: check the network, proxy and AWS_ENDPOINT_URL_IAM [%v]", endpointOf(e.Err), e.Action, e.RoleARN, e.Err)
	}
	return fmt.Sprintf("IAM %s on %s failed, so nothing was revoked: %v", e.Action, e.RoleARN, e.Err)
}

func roleNameOr(arn string) string {
	if n, err := RoleName(arn); err == nil {
		return n
	}
	return arn
}

func endpointOf(err error) string {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		if u, perr := url.Parse(uerr.URL); perr == nil {
			return " at " + u.Scheme + "://" + u.Host
		}
	}
	return ""
}
