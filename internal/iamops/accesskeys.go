package iamops

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/smithy-go"
)

// The access-key calls act on the calling user: no UserName is sent, so
// IAM takes the user whose long-term key signs (cfg's credentials), and a
// role or session is refused instead of acting on someone else's keys.

// AccessKey is one of the calling user's access keys as IAM lists it
// (never with its secret).
type AccessKey struct {
	ID      string
	Status  string // "Active" or "Inactive"
	Created time.Time
}

// NewKey is a key just created, with its secret: IAM shows the secret
// only in this answer.
type NewKey struct {
	ID      string
	Secret  string
	Created time.Time
}

// ListAccessKeys lists the calling user's access keys, oldest first.
func ListAccessKeys(ctx context.Context, cfg aws.Config) ([]AccessKey, error) {
	var out []AccessKey
	p := iam.NewListAccessKeysPaginator(iam.NewFromConfig(cfg), &iam.ListAccessKeysInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, &KeyError{Action: "iam:ListAccessKeys", Err: err}
		}
		for _, m := range page.AccessKeyMetadata {
			out = append(out, AccessKey{ID: aws.ToString(m.AccessKeyId), Status: string(m.Status), Created: aws.ToTime(m.CreateDate)})
		}
	}
	slices.SortStableFunc(out, func(a, b AccessKey) int { return a.Created.Compare(b.Created) })
	return out, nil
}

// CreateAccessKey makes a new access key for the calling user.
func CreateAccessKey(ctx context.Context, cfg aws.Config) (NewKey, error) {
	// Never retried: a retry after an answer lost in transit would make a
	// second key nobody stores, and fill the user's two slots.
	out, err := iam.NewFromConfig(cfg, func(o *iam.Options) { o.Retryer = aws.NopRetryer{} }).CreateAccessKey(ctx, &iam.CreateAccessKeyInput{})
	if err != nil {
		return NewKey{}, &KeyError{Action: "iam:CreateAccessKey", Err: err}
	}
	k := out.AccessKey
	if k == nil || aws.ToString(k.AccessKeyId) == "" || aws.ToString(k.SecretAccessKey) == "" {
		return NewKey{}, &KeyError{Action: "iam:CreateAccessKey", Err: errors.New("IAM answered without the new key's id or secret")}
	}
	return NewKey{ID: aws.ToString(k.AccessKeyId), Secret: aws.ToString(k.SecretAccessKey), Created: aws.ToTime(k.CreateDate)}, nil
}

// DeleteAccessKey deletes one of the calling user's access keys (which
// may be the very key that signs the call).
func DeleteAccessKey(ctx context.Context, cfg aws.Config, id string) error {
	_, err := iam.NewFromConfig(cfg).DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{AccessKeyId: aws.String(id)})
	if err != nil {
		return &KeyError{Action: "iam:DeleteAccessKey", KeyID: id, Err: err}
	}
	return nil
}

// KeyError is a failed IAM call on the caller's own access keys, said as
// one sentence: what IAM refused and what to change. What the failure
// means for a rotation (which key is stored, what is left to do) is the
// caller's to add.
type KeyError struct {
	Action string // "iam:CreateAccessKey"
	KeyID  string // the key acted on (DeleteAccessKey), if any
	Err    error
}

func (e *KeyError) Unwrap() error { return e.Err }

// Code is IAM's error code, "" when IAM did not answer.
func (e *KeyError) Code() string {
	var api smithy.APIError
	if errors.As(e.Err, &api) {
		return api.ErrorCode()
	}
	return ""
}

// Error never includes secrets: SDK errors carry codes, messages and URLs.
func (e *KeyError) Error() string {
	var api smithy.APIError
	var uerr *url.Error
	var nerr net.Error
	isAPI := errors.As(e.Err, &api)
	what := e.Action
	if e.KeyID != "" {
		what += " of key " + e.KeyID
	}
	detail := func() string {
		if !isAPI {
			return ""
		}
		return fmt.Sprintf(" [%s: %s]", api.ErrorCode(), api.ErrorMessage())
	}
	switch code := e.Code(); {
	case code == "AccessDenied" || code == "AccessDeniedException":
		console := "rotate the key in the IAM console"
		if e.KeyID != "" {
			console = "delete " + e.KeyID + " in the IAM console"
		}
		return fmt.Sprintf("IAM denied %s: give the user iam:ListAccessKeys, iam:CreateAccessKey and iam:DeleteAccessKey on itself (Resource arn:aws:iam::*:user/${aws:username}), or %s%s", what, console, detail())
	case code == "LimitExceeded":
		return fmt.Sprintf("IAM refused %s: the user already has two access keys, IAM's limit; delete the one imdsd does not store (IAM console, or `aws iam delete-access-key --access-key-id ID`) and run rotate again%s", what, detail())
	case code == "ValidationError":
		return fmt.Sprintf("IAM refused %s: the credentials are not an IAM user's long-term access key (a role or session has no access keys of its own), so there is no key to rotate%s", what, detail())
	case code == "InvalidClientTokenId" || code == "SignatureDoesNotMatch":
		return fmt.Sprintf("IAM does not accept the stored key for %s: it was deleted, deactivated or mistyped; store a working key with `imdsd keys add` first%s", what, detail())
	case code == "NoSuchEntity":
		return fmt.Sprintf("IAM %s: the key or its user no longer exists%s", what, detail())
	case code != "":
		return fmt.Sprintf("IAM %s failed%s", what, detail())
	case errors.Is(e.Err, context.DeadlineExceeded):
		return fmt.Sprintf("IAM %s timed out%s; check the network or the IAM endpoint setting (AWS_ENDPOINT_URL_IAM)", what, endpointOf(e.Err))
	case errors.As(e.Err, &uerr), errors.As(e.Err, &nerr):
		return fmt.Sprintf("could not reach IAM%s for %s: check the network, proxy and AWS_ENDPOINT_URL_IAM [%v]", endpointOf(e.Err), what, e.Err)
	}
	return fmt.Sprintf("IAM %s failed: %v", what, e.Err)
}
