package broker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials/ssocreds"
	ssotypes "github.com/aws/aws-sdk-go-v2/service/sso/types"
	oidctypes "github.com/aws/aws-sdk-go-v2/service/ssooidc/types"
	"github.com/aws/smithy-go"

	"github.com/imdsd/imdsd/imds"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// The broker's timing (refresh ahead of expiry, backoff, fetch timeout) is
// tested in synctest bubbles: its timers run on a fake clock that advances
// only when every goroutine in the bubble is blocked, so timings are exact
// whatever the load, and a test of minutes takes no real time.

// scriptedFetch issues numbered credentials with the given life, or fails
// while fail is set; it records when each fetch began.
type scriptedFetch struct {
	calls  atomic.Int64
	life   time.Duration
	delay  time.Duration
	fail   atomic.Pointer[error]
	mu     sync.Mutex
	starts []time.Time
}

func (s *scriptedFetch) fetch(ctx context.Context) (imds.Credentials, error) {
	n := s.calls.Add(1)
	s.mu.Lock()
	s.starts = append(s.starts, time.Now())
	s.mu.Unlock()
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

func (s *scriptedFetch) startTimes() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.starts)
}

func startBroker(t *testing.T, f Fetch, o Options) *Broker {
	t.Helper()
	b := New("dev", f, o, quiet)
	b.Start(context.Background())
	t.Cleanup(b.Stop)
	return b
}

func TestBrokerConcurrentFirstRequestsShareOneFetch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sf := &scriptedFetch{life: time.Hour, delay: 100 * time.Millisecond}
		b := startBroker(t, sf.fetch, Options{})
		var wg sync.WaitGroup
		keys := make([]string, 200)
		errs := make([]error, 200)
		for i := range 200 {
			wg.Go(func() {
				c, err := b.Credentials(context.Background(), time.Now())
				keys[i], errs[i] = c.AccessKeyID, err
			})
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
	})
}

func TestBrokerRefreshesAtHalfLifeForShortCredentials(t *testing.T) {
	// 2s credentials with refresh_before 15m: refresh at half-life (less
	// up to 5 % jitter), well before expiry; clients polling meanwhile
	// always get credentials.
	synctest.Test(t, func(t *testing.T) {
		sf := &scriptedFetch{life: 2 * time.Second}
		b := startBroker(t, sf.fetch, Options{RefreshBefore: 15 * time.Minute, MinRemaining: 100 * time.Millisecond})
		c1, err := b.Credentials(context.Background(), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		for c := c1; c.AccessKeyID == c1.AccessKeyID; {
			if time.Until(c1.Expires) <= 0 {
				t.Fatalf("not refreshed before expiry (fetches: %d)", sf.calls.Load())
			}
			time.Sleep(10 * time.Millisecond)
			if c, err = b.Credentials(context.Background(), time.Now()); err != nil {
				t.Fatalf("request during refresh failed: %v", err)
			}
		}
		starts := sf.startTimes()
		if at := starts[1].Sub(starts[0]); at < 950*time.Millisecond || at > time.Second {
			t.Fatalf("refreshed %v after the first fetch, want at half the 2s life less up to 5%%", at)
		}
	})
}

func TestBrokerServesLastGoodWhileValidThenNothingExpired(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const minRemaining, backoffCap = 50 * time.Millisecond, 100 * time.Millisecond
		sf := &scriptedFetch{life: 1500 * time.Millisecond}
		b := startBroker(t, sf.fetch, Options{RefreshBefore: time.Hour, MinRemaining: minRemaining, BackoffBase: 50 * time.Millisecond, BackoffCap: backoffCap})
		good, err := b.Credentials(context.Background(), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		sf.setFail(errors.New("sts down"))
		// Until MinRemaining before expiry the last good credentials keep
		// being served.
		validUntil := good.Expires.Add(-minRemaining)
		for ; time.Now().Before(validUntil); time.Sleep(10 * time.Millisecond) {
			c, err := b.Credentials(context.Background(), time.Now())
			if err != nil {
				t.Fatalf("valid cached credentials not served while STS fails: %v", err)
			}
			if c.AccessKeyID != good.AccessKeyID {
				t.Fatalf("served %q while every fetch fails", c.AccessKeyID)
			}
		}
		// From then on: nothing, and why.
		c, err := b.Credentials(context.Background(), time.Now())
		var ue *imds.UnavailableError
		if !errors.As(err, &ue) {
			t.Fatalf("after expiry with STS down got %+v, %v; want UnavailableError", c.AccessKeyID, err)
		}
		if !strings.Contains(ue.Message, "sts down") {
			t.Fatalf("message %q does not say why", ue.Message)
		}
		if sf.calls.Load() < 3 {
			t.Fatalf("%d fetches while STS was down: no retry", sf.calls.Load())
		}
		// Recovery: once STS answers, fresh credentials within the backoff
		// cap (the retry in flight then is at most that far off).
		sf.setFail(nil)
		back := time.Now()
		for {
			if c, err := b.Credentials(context.Background(), time.Now()); err == nil {
				if !c.Expires.After(time.Now()) || c.AccessKeyID == good.AccessKeyID {
					t.Fatalf("served %s expiring %v after recovery", c.AccessKeyID, c.Expires)
				}
				break
			}
			if time.Since(back) > backoffCap {
				t.Fatalf("no credentials %v after STS came back; want within the backoff cap %v", time.Since(back), backoffCap)
			}
			time.Sleep(time.Millisecond)
		}
	})
}

// Every fetch failing: the gap before retry i+1 is the backoff after i
// failures, exponential from BackoffBase with full jitter in [d/2, d],
// capped at BackoffCap.
func TestBrokerRetriesWithJitteredGrowingCappedBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const base, limit = 100 * time.Millisecond, 1600 * time.Millisecond
		sf := &scriptedFetch{life: time.Hour}
		sf.setFail(errors.New("sts down"))
		startBroker(t, sf.fetch, Options{BackoffBase: base, BackoffCap: limit})
		time.Sleep(time.Minute)
		starts := sf.startTimes()
		if len(starts) < 30 {
			t.Fatalf("%d fetches in a minute of failures; want a retry at least every %v", len(starts), limit)
		}
		var capped []time.Duration
		d := base
		for i := 1; i < len(starts); i++ {
			gap := starts[i].Sub(starts[i-1])
			if gap < d/2 || gap > d {
				t.Errorf("gap after %d failures: %v, want in [%v, %v]", i, gap, d/2, d)
			}
			if d == limit {
				capped = append(capped, gap)
			}
			d = min(2*d, limit)
		}
		if slices.Min(capped) == slices.Max(capped) {
			t.Errorf("capped gaps all %v: not jittered", capped[0])
		}
	})
}

// A fetch that never returns by itself is cut off at FetchTimeout: a
// request waiting for it gets its answer then, not later.
func TestBrokerFetchTimeoutBoundsAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const fetchTimeout = 300 * time.Millisecond
		hung := func(ctx context.Context) (imds.Credentials, error) {
			<-ctx.Done()
			return imds.Credentials{}, ctx.Err()
		}
		b := startBroker(t, hung, Options{FetchTimeout: fetchTimeout, BackoffBase: time.Hour})
		start := time.Now()
		_, err := b.Credentials(context.Background(), start)
		var ue *imds.UnavailableError
		if !errors.As(err, &ue) {
			t.Fatalf("got %v; want UnavailableError", err)
		}
		if took := time.Since(start); took != fetchTimeout {
			t.Fatalf("answered after %v; want at the fetch timeout, %v", took, fetchTimeout)
		}
	})
}

// While a refresh waits on a slow STS, valid cached credentials are
// served at once: requests do not wait for the fetch in flight.
func TestBrokerCachedReadsDoNotWaitForSlowFetch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sf := &scriptedFetch{life: time.Hour}
		b := startBroker(t, sf.fetch, Options{FetchTimeout: time.Hour})
		good, err := b.Credentials(context.Background(), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		synctest.Wait() // the first fetch has returned: delay is the test's again
		sf.delay = time.Minute
		b.RefreshNow()
		synctest.Wait() // the refresh is now waiting on STS
		if n := sf.calls.Load(); n != 2 {
			t.Fatalf("%d fetches; want the refresh under way", n)
		}
		start := time.Now()
		for range 100 {
			c, err := b.Credentials(context.Background(), time.Now())
			if err != nil || c.AccessKeyID != good.AccessKeyID {
				t.Fatalf("during a slow refresh got %s, %v; want the cached %s", c.AccessKeyID, err, good.AccessKeyID)
			}
		}
		if waited := time.Since(start); waited != 0 {
			t.Fatalf("cached reads waited %v for the fetch in flight", waited)
		}
		time.Sleep(time.Minute + time.Second) // past the instant the fetch ends
		if c, err := b.Credentials(context.Background(), time.Now()); err != nil || c.AccessKeyID == good.AccessKeyID {
			t.Fatalf("after the slow refresh got %s, %v; want new credentials", c.AccessKeyID, err)
		}
	})
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
		// With an sso-session, the command names the session.
		{&upstreamError{Profile: "sso", Op: "credentials", SSOProfile: "sso", SSOSession: "corp", Err: &ssotypes.UnauthorizedException{}},
			[]string{"imdsd login --sso-session corp"}},
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
	// What is served is from after the cut-off too (the loop may already
	// have fetched once more: any later key is as good).
	if c, err := b.Credentials(context.Background(), time.Now()); err != nil || c.AccessKeyID == "ASIATEST00000001" || c.AccessKeyID == "ASIATEST00000002" {
		t.Fatalf("serves %q (%v), want a key fetched after the cut-off", c.AccessKeyID, err)
	}
}
