package keyrotate

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"

	"github.com/imdsd/imdsd/internal/broker"
)

// Backoff of the propagation wait: quick at first (a new key usually
// works within seconds), then every waitCap.
const (
	waitFirst = time.Second
	waitCap   = 16 * time.Second
)

// propagating says whether err is what AWS answers a key it does not know
// yet; anything else (denied, network) will not pass by waiting.
func propagating(err error) bool {
	var api smithy.APIError
	if !errors.As(err, &api) {
		return false
	}
	switch api.ErrorCode() {
	case "InvalidClientTokenId", "SignatureDoesNotMatch", "AuthFailure", "UnrecognizedClientException":
		return true
	}
	return false
}

// waitUsable calls GetCallerIdentity with creds until it works, retrying
// only propagation errors, with backoff, for at most o.Wait; the last try
// is at the bound. It records the tries and the time in res.
func (o *Options) waitUsable(ctx context.Context, creds aws.Credentials, res *Result) error {
	start := o.Now()
	deadline := start.Add(o.Wait)
	delay := waitFirst
	for {
		res.Attempts++
		_, _, err := broker.CallerIdentity(ctx, o.STS, o.Profile, creds)
		res.Waited = o.Now().Sub(start)
		if err == nil {
			return nil
		}
		left := deadline.Sub(o.Now())
		if !propagating(err) || left <= 0 {
			return err
		}
		if err := o.Sleep(ctx, min(delay, left)); err != nil {
			return err
		}
		delay = min(2*delay, waitCap)
	}
}
