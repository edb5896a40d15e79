package broker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials/ssocreds"
	ssotypes "github.com/aws/aws-sdk-go-v2/service/sso/types"
	oidctypes "github.com/aws/aws-sdk-go-v2/service/ssooidc/types"
	"github.com/aws/smithy-go"

	"github.com/imdsd/imdsd/imds"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// scriptedFetch issues numbered credentials with the given life, or fails
// while fail is set.
type scriptedFetch struct {
	calls atomic.Int64
	life  time.Duration
	delay time.Duration
	fail  atomic.Pointer[error]
}

func (s *scriptedFetch) fetch(ctx context.Context) (imds.Credentials, error) {
	n := s.calls.Add(1)
	if s.delay > 0 {
		select {
		case <-time.After(s.delay):
		case <-ctx.Done():
			return imds.Credentials{}, ctx.Err()
		}
	}
	if e := s.fail.Load(); e != nil {
		return imds.Credentials{}, *e
	}
	return imds.Credentials{
		AccessKeyID:     fmt.Sprintf("ASIATEST%08d", n),
		SecretAccessKey: "secret-FAKE",
		SessionToken:    "token-FAKE",
		Expires:         time.Now().Add(s.life),
	}, nil
}

func (s *scriptedFetch) setFail(err error) {
	if err == nil {
		s.fail.Store(nil)
		return
	}
	s.fail.Store(&err)
}

func startBroker(t *testing.T, f Fetch, o Options) *Broker {
	t.Helper()
	b := New("dev", f, o, quiet)
	b.Start(context.Background())
	t.Cleanup(b.Stop)
	return b
}

func TestBrokerConcurrentFirstRequestsShareOneFetch(t *testing.T) {
	sf := &scriptedFetch{life: time.Hour, delay: 100 * time.Millisecond}
	b := startBroker(t, sf.fetch, Options{})
	var wg sync.WaitGroup
	keys := make([]string, 200)
	errs := make([]error, 200)
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := b.Credentials(context.Background(), time.Now())
			keys[i], errs[i] = c.AccessKeyID, err
		}()
	}
	wg.Wait()
	for i := range 200 {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
		if keys[i] != "ASIATEST00000001" {
			t.Fatalf("request %d got %q, want the first fetch's key", i, keys[i])
		}
	}
	if n := sf.calls.Load(); n != 1 {
		t.Fatalf("200 concurrent first requests caused %d fetches, want 1", n)
	}
}

func TestBrokerRefreshesAtHalfLifeForShortCredentials(t *testing.T) {
	// 2s credentials with refresh_before 15m: refresh at ~1s, well before
	// expiry, so a client never sees the same key past its half-life.
	sf := &scriptedFetch{life: 2 * time.Second}
	b := startBroker(t, sf.fetch, Options{RefreshBefore: 15 * time.Minute, MinRemaining: 100 * time.Millisecond})
	c1, err := b.Credentials(context.Background(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		c, err := b.Credentials(context.Background(), time.Now())
		if err != nil {
			t.Fatalf("request during refresh failed: %v", err)
		}
		if c.AccessKeyID != c1.AccessKeyID {
			if left := time.Until(c1.Expires); left < 500*time.Millisecond {
				t.Fatalf("refreshed only %v before expiry, want about half the 2s life", left)
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("credentials were not refreshed within 3s (fetches: %d)", sf.calls.Load())
}

func TestBrokerServesLastGoodWhileValidThenNothingExpired(t *testing.T) {
	sf := &scriptedFetch{life: 1500 * time.Millisecond}
	b := startBroker(t, sf.fetch, Options{RefreshBefore: time.Hour, MinRemaining: 50 * time.Millisecond, BackoffBase: 50 * time.Millisecond, BackoffCap: 100 * time.Millisecond})
	good, err := b.Credentials(context.Background(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	sf.setFail(errors.New("sts down"))
	// Until expiry the last good credentials keep being served.
	for time.Until(good.Expires) > 200*time.Millisecond {
		c, err := b.Credentials(context.Background(), time.Now())
		if err != nil {
			t.Fatalf("valid cached credentials not served while STS fails: %v", err)
		}
		if c.AccessKeyID != good.AccessKeyID {
			t.Fatalf("served %q while every fetch fails", c.AccessKeyID)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(time.Until(good.Expires) + 50*time.Millisecond)
	c, err := b.Credentials(context.Background(), time.Now())
	var ue *imds.UnavailableError
	if !errors.As(err, &ue) {
		t.Fatalf("after expiry with STS down got %+v, %v; want UnavailableError", c.AccessKeyID, err)
	}
	if !strings.Contains(ue.Message, "sts down") {
		t.Fatalf("message %q does not say why", ue.Message)
	}
	// Recovery: once STS answers, fresh credentials within the backoff cap.
	sf.setFail(nil)
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := b.Credentials(context.Background(), time.Now()); err == nil {
			if !c.Expires.After(time.Now()) {
				t.Fatalf("served expired credentials %v", c.Expires)
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("did not recover within 2s of STS coming back")
}

func TestBrokerRejectsUnservableCredentials(t *testing.T) {
	for name, c := range map[string]imds.Credentials{
		"long-term keys": {AccessKeyID: "AKIAFAKE", SecretAccessKey: "s", Expires: time.Now().Add(time.Hour)},
		"empty":          {Expires: time.Now().Add(time.Hour)},
		"expired":        {AccessKeyID: "ASIAFAKE", SecretAccessKey: "s", SessionToken: "t", Expires: time.Now().Add(-time.Minute)},
	} {
		t.Run(name, func(t *testing.T) {
			b := startBroker(t, func(context.Context) (imds.Credentials, error) { return c, nil }, Options{BackoffBase: time.Hour})
			got, err := b.Credentials(context.Background(), time.Now())
			var ue *imds.UnavailableError
			if !errors.As(err, &ue) {
				t.Fatalf("served %+v; want UnavailableError", got.AccessKeyID)
			}
		})
	}
}

func TestBrokerStopDropsCredentials(t *testing.T) {
	sf := &scriptedFetch{life: time.Hour}
	b := New("dev", sf.fetch, Options{}, quiet)
	b.Start(context.Background())
	if _, err := b.Credentials(context.Background(), time.Now()); err != nil {
		t.Fatal(err)
	}
	b.Stop()
	if b.cur.Load() != nil {
		t.Fatal("credentials still in memory after stop")
	}
}

func TestBackoffIsJitteredAndCapped(t *testing.T) {
	b := New("dev", nil, Options{BackoffBase: time.Second, BackoffCap: 30 * time.Second}, quiet)
	seen := map[time.Duration]bool{}
	for failures := 1; failures <= 12; failures++ {
		b.failures = failures
		want := time.Second << (failures - 1)
		if want > 30*time.Second {
			want = 30 * time.Second
		}
		for range 50 {
			d := b.backoff()
			if d < want/2 || d > want {
				t.Fatalf("failure %d: backoff %v outside [%v, %v]", failures, d, want/2, want)
			}
			seen[d] = true
		}
	}
	if len(seen) < 100 {
		t.Fatalf("only %d distinct delays in 600 draws: not jittered", len(seen))
	}
}

func TestRefreshAt(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		life, before time.Duration
		lo, hi       time.Duration // wait window after now
	}{
		// 1h credentials: the 25-minute floor wins over 15m.
		{time.Hour, 15 * time.Minute, 35*time.Minute - 105*time.Second, 35 * time.Minute},
		{12 * time.Hour, 15 * time.Minute, 11*time.Hour + 35*time.Minute - (11*time.Hour+35*time.Minute)/20, 11*time.Hour + 35*time.Minute},
		{12 * time.Hour, time.Hour, 11*time.Hour - 11*time.Hour/20, 11 * time.Hour},
		{20 * time.Minute, 15 * time.Minute, 10*time.Minute - 30*time.Second, 10 * time.Minute},
		{20 * time.Second, 15 * time.Minute, 10*time.Second - 500*time.Millisecond, 10 * time.Second},
	} {
		got := refreshAt(now, now.Add(tc.life), tc.before).Sub(now)
		if got < tc.lo || got > tc.hi {
			t.Errorf("life %v before %v: refresh after %v, want in [%v, %v]", tc.life, tc.before, got, tc.lo, tc.hi)
		}
	}
}

func TestExplainNamesTheFix(t *testing.T) {
	for _, tc := range []struct {
		err  *upstreamError
		want []string
	}{
		{&upstreamError{Profile: "dev", Op: "AssumeRole", RoleARN: "arn:aws:iam::111122223333:role/dev", Source: "base", Err: &smithy.GenericAPIError{Code: "AccessDenied", Message: "not authorized"}},
			[]string{"profile dev", "trust policy", "arn:aws:iam::111122223333:role/dev", "base"}},
		{&upstreamError{Profile: "dev", Op: "AssumeRole", Source: "base", SourceID: "AKIAFAKE", Err: &smithy.GenericAPIError{Code: "ExpiredToken"}},
			[]string{"profile dev", "expired or wrong", "base", "AKIAFAKE"}},
		{&upstreamError{Profile: "dev", Op: "AssumeRole", Source: "base", Err: &smithy.GenericAPIError{Code: "InvalidClientTokenId"}},
			[]string{"expired or wrong", "base"}},
		// SSO: each way of being signed out says to sign in, for the
		// profile that holds the SSO settings.
		{&upstreamError{Profile: "app", Op: "AssumeRole", SSOProfile: "sso", Err: &ssocreds.InvalidTokenError{}},
			[]string{"profile app", "not signed in", "imdsd login --profile sso"}},
		{&upstreamError{Profile: "sso", Op: "credentials", SSOProfile: "sso", Err: fmt.Errorf("failed to read cached SSO token file, %w", fs.ErrNotExist)},
			[]string{"imdsd login --profile sso"}},
		{&upstreamError{Profile: "sso", Op: "credentials", SSOProfile: "sso", Err: fmt.Errorf("refresh cached SSO token failed, %w", errors.New("cached SSO token is expired, or not present, and cannot be refreshed"))},
			[]string{"imdsd login --profile sso"}},
		{&upstreamError{Profile: "sso", Op: "credentials", SSOProfile: "sso", Err: &oidctypes.InvalidGrantException{}},
			[]string{"imdsd login --profile sso"}},
		{&upstreamError{Profile: "sso", Op: "credentials", SSOProfile: "sso", Err: &ssotypes.UnauthorizedException{}},
			[]string{"imdsd login --profile sso"}},
		{&upstreamError{Profile: "sso", Op: "credentials", SSOProfile: "sso", Err: &smithy.GenericAPIError{Code: "ForbiddenException", Message: "No access"}},
			[]string{"no access", "sso_role_name", "No access"}},
		// An STS failure after an SSO link keeps its STS sentence.
		{&upstreamError{Profile: "app", Op: "AssumeRole", RoleARN: "arn:aws:iam::111122223333:role/app", Source: "sso", SSOProfile: "sso", Err: &smithy.GenericAPIError{Code: "AccessDenied"}},
			[]string{"trust policy"}},
	} {
		got := Explain(tc.err)
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("Explain(%v) = %q; missing %q", tc.err.Err, got, w)
			}
		}
	}
}

// Renew after a revocation: the cached key is dropped at once, and a fetch
// begun before the cut-off is not kept (its credentials were issued
// before it); what Renew returns was fetched after the cut-off.
func TestRenewDropsAndDiscardsFetchesBegunBeforeTheCutoff(t *testing.T) {
	var n atomic.Int64
	started := make(chan struct{}, 4)
	release := make(chan struct{})
	var block atomic.Bool
	fetch := func(ctx context.Context) (imds.Credentials, error) {
		k := n.Add(1)
		if block.Load() {
			started <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
				return imds.Credentials{}, ctx.Err()
			}
		}
		return imds.Credentials{AccessKeyID: fmt.Sprintf("ASIATEST%08d", k), SecretAccessKey: "s-FAKE", SessionToken: "t-FAKE", Expires: time.Now().Add(time.Hour)}, nil
	}
	b := startBroker(t, fetch, Options{})
	<-b.Started()
	if st := b.State(); st.AccessKeyID != "ASIATEST00000001" {
		t.Fatalf("first key %q", st.AccessKeyID)
	}

	// A refresh is in flight when the revocation happens.
	block.Store(true)
	b.RefreshNow()
	<-started
	cutoff := time.Now()
	type result struct {
		st  State
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := b.Renew(context.Background(), cutoff)
		done <- result{st, err}
	}()
	// Renew drops the cached key before anything else.
	for b.State().AccessKeyID != "" {
		runtime.Gosched()
	}
	block.Store(false)
	close(release)
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.st.AccessKeyID == "" || r.st.AccessKeyID == "ASIATEST00000001" || r.st.AccessKeyID == "ASIATEST00000002" {
		t.Fatalf("after renew the broker holds %q: want a key fetched after the cut-off (not #1, nor #2 begun before it)", r.st.AccessKeyID)
	}
	if c, err := b.Credentials(context.Background(), time.Now()); err != nil || c.AccessKeyID != r.st.AccessKeyID {
		t.Fatalf("serves %q (%v), want %q", c.AccessKeyID, err, r.st.AccessKeyID)
	}
}
