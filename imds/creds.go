package imds

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// lookup asks src for profile's credentials and decides whether they may be
// served. On failure it returns the status and a message that is safe to send
// to the client (never a secret).
func lookup(ctx context.Context, src Source, profile string, now time.Time) (Credentials, int, string) {
	c, err := src.Credentials(ctx, profile, now)
	if err != nil {
		status, msg := sourceError(err, profile)
		return Credentials{}, status, msg
	}
	if msg := unusable(c, now); msg != "" {
		return Credentials{}, http.StatusServiceUnavailable,
			"credentials for profile " + profile + " are unavailable: " + msg
	}
	return c, http.StatusOK, ""
}

// sourceError maps a Source error to a status. Everything but an unknown
// profile is a 503: SDKs treat it as "try again", which is what the daemon
// wants while it refreshes or waits for the user.
func sourceError(err error, profile string) (int, string) {
	var ue *UnavailableError
	switch {
	case errors.Is(err, ErrUnknownProfile):
		return http.StatusNotFound, "profile " + profile + " is not served by imdsd"
	case errors.As(err, &ue):
		return http.StatusServiceUnavailable, ue.Error()
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable, "credentials for profile " + profile + " are not ready yet; retry shortly"
	default:
		return http.StatusServiceUnavailable, "credentials for profile " + profile + " are unavailable: " + err.Error()
	}
}

// unusable is the last line of defence against a Source bug: a document
// with an empty field or a past expiry would make SDKs fail in confusing
// ways (or, with static-stability extensions, keep using dead keys).
func unusable(c Credentials, now time.Time) string {
	switch {
	case c.AccessKeyID == "", c.SecretAccessKey == "", c.SessionToken == "":
		return "the daemon holds incomplete credentials"
	case !c.Expires.After(now):
		return "the credentials held have expired; the daemon is refreshing them"
	}
	return ""
}

// rendered is a credential document ready to write.
type rendered struct {
	creds  Credentials
	body   []byte
	length []string // Content-Length header value
}

// docCache keeps the last document rendered for one profile and shape.
// Credentials change about hourly while requests may come thousands of
// times a second, so the hot path is a comparison and a pointer load. The
// cached bytes are shared by concurrent requests and never modified.
type docCache struct {
	p atomic.Pointer[rendered]
}

type renderFunc func(c Credentials, now time.Time) []byte

func (d *docCache) get(c Credentials, now time.Time, render renderFunc) *rendered {
	if r := d.p.Load(); r != nil && r.creds == c {
		return r
	}
	body := render(c, now)
	r := &rendered{creds: c, body: body, length: []string{strconv.Itoa(len(body))}}
	d.p.Store(r)
	return r
}

// lastUpdated is when the daemon got c, or now if it did not say.
func lastUpdated(c Credentials, now time.Time) time.Time {
	if c.LastUpdated.IsZero() {
		return now
	}
	return c.LastUpdated
}
