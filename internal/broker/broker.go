// Package broker keeps each served profile's temporary credentials fresh:
// one Broker per profile fetches ahead of expiry with one call in flight,
// and requests only read what it stored. It is the only package that calls
// STS (upstream.go) and turns STS failures into actionable sentences.
package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/imdsd/imdsd/imds"
)

// Fetch obtains fresh temporary credentials from upstream (STS). Only
// a broker's loop calls it.
type Fetch func(ctx context.Context) (imds.Credentials, error)

// Options tune the refresh loop; zero values take the defaults.
type Options struct {
	RefreshBefore time.Duration // refresh when less than this remains
	BackoffBase   time.Duration // first retry delay after a failure
	BackoffCap    time.Duration // longest retry delay
	FetchTimeout  time.Duration // one upstream attempt
	// MinRemaining: credentials with less life than this are not served.
	MinRemaining time.Duration
	Now          func() time.Time
}

func (o *Options) defaults() {
	if o.RefreshBefore <= 0 {
		o.RefreshBefore = 15 * time.Minute
	}
	if o.BackoffBase <= 0 {
		o.BackoffBase = time.Second
	}
	if o.BackoffCap <= 0 {
		o.BackoffCap = 2 * time.Minute
	}
	if o.FetchTimeout <= 0 {
		o.FetchTimeout = 30 * time.Second
	}
	if o.MinRemaining <= 0 {
		o.MinRemaining = 5 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// attempt is one upstream fetch; done is closed when it ends, so any number
// of waiting requests share it (200 first requests = 1 STS call).
type attempt struct {
	done    chan struct{}
	started time.Time // when the loop began it (guarded by Broker.mu)
}

// broker keeps one profile's credentials fresh. A single goroutine fetches
// ahead of expiry with jittered exponential backoff on failure; requests
// only read what it stored, or wait for the fetch already in flight.
type Broker struct {
	profile string
	fetch   Fetch
	opt     Options
	log     *slog.Logger

	cur atomic.Pointer[imds.Credentials] // last good, nil if none

	mu       sync.Mutex
	inflight *attempt // non-nil while a fetch runs
	lastErr  error
	// lastLogged is the last failure message logged at error level.
	lastLogged  string
	warnedShort bool
	failures    int
	lastFetch   time.Time
	nextFetch   time.Time
	served      atomic.Int64

	// up is the upstream behind fetch (nil in demo mode), for MFA login
	// and status.
	up *upstream

	// floor: credentials from fetches begun before it were issued before a
	// revocation's cut-off and no longer work, so they are not kept.
	floor time.Time

	wake   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
	// first is the fetch start began; its end is when this profile's
	// start has settled.
	first *attempt
}

func New(profile string, fetch Fetch, opt Options, log *slog.Logger) *Broker {
	opt.defaults()
	return &Broker{
		profile: profile,
		fetch:   fetch,
		opt:     opt,
		log:     log.With("profile", profile),
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
}

// start begins the refresh loop; the first fetch starts at once, so the
// attempt exists before start returns and early requests wait on it.
func (b *Broker) Start(ctx context.Context) {
	ctx, b.cancel = context.WithCancel(ctx)
	b.mu.Lock()
	b.inflight = &attempt{done: make(chan struct{})}
	b.first = b.inflight
	b.mu.Unlock()
	go b.loop(ctx)
}

// started is closed when the first fetch has ended, well or not.
func (b *Broker) Started() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.first == nil { // not started: nothing to wait for
		c := make(chan struct{})
		close(c)
		return c
	}
	return b.first.done
}

// stop ends the loop and drops the cached credentials from memory.
func (b *Broker) Stop() {
	if b.cancel != nil {
		b.cancel()
		<-b.done
	}
	b.cur.Store(nil)
}

// setRefreshBefore applies a reloaded refresh_before from the next fetch on.
func (b *Broker) SetRefreshBefore(d time.Duration) {
	b.mu.Lock()
	b.opt.RefreshBefore = d
	b.mu.Unlock()
}

// refreshNow asks the loop to fetch at once (a changed source, `imdsd
// refresh`), without waiting for it.
func (b *Broker) RefreshNow() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

func (b *Broker) loop(ctx context.Context) {
	defer close(b.done)
	for {
		b.mu.Lock()
		a := b.inflight
		if a == nil {
			a = &attempt{done: make(chan struct{})}
			b.inflight = a
		}
		a.started = b.opt.Now()
		b.mu.Unlock()

		fctx, cancel := context.WithTimeout(ctx, b.opt.FetchTimeout)
		c, err := b.fetch(fctx)
		cancel()
		if ctx.Err() != nil {
			b.finish(a, nil, ctx.Err())
			return
		}
		next := b.finish(a, &c, err)

		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-b.wake:
			t.Stop()
		}
	}
}

// finish records an attempt's outcome, releases its waiters and returns
// when the next fetch should start.
func (b *Broker) finish(a *attempt, c *imds.Credentials, err error) time.Time {
	now := b.opt.Now()
	if err == nil {
		err = validate(c, now, b.opt.MinRemaining)
	}
	b.mu.Lock()
	defer func() {
		b.inflight = nil
		b.mu.Unlock()
		close(a.done)
	}()
	b.lastFetch = now
	if err == nil && a.started.Before(b.floor) {
		return now // begun before a revocation's cut-off: fetch again at once
	}
	if err != nil {
		if c == nil { // shutting down
			return now
		}
		b.lastErr = err
		b.failures++
		b.nextFetch = now.Add(b.backoff())
		if old := b.cur.Load(); old != nil && !old.Expires.After(now.Add(b.opt.MinRemaining)) {
			b.cur.Store(nil) // never keep expired credentials around
		}
		// The same failure again (STS still down, MFA still needed) is
		// logged at debug: one line per cause, not one per retry.
		level := slog.LevelError
		if msg := Explain(err); msg == b.lastLogged {
			level = slog.LevelDebug
		} else {
			b.lastLogged = msg
		}
		b.log.Log(context.Background(), level, "credential refresh failed", "err", Explain(err), "attempt", b.failures, "retry_in", b.nextFetch.Sub(now).Round(time.Millisecond))
		return b.nextFetch
	}
	if c.LastUpdated.IsZero() {
		c.LastUpdated = now
	}
	if c.Issued.IsZero() {
		c.Issued = a.started // a lower bound on STS's issue time, for the audit
	}
	cc := *c
	b.cur.Store(&cc)
	if b.failures > 0 {
		b.log.Info("credential refresh recovered", "after_failures", b.failures)
	}
	b.lastErr = nil
	b.lastLogged = ""
	b.failures = 0
	b.nextFetch = refreshAt(now, cc.Expires, b.opt.RefreshBefore)
	if life := cc.Expires.Sub(now); life < 2*minServedLife && !b.warnedShort {
		b.warnedShort = true
		b.log.Warn("these credentials live too short for every client: botocore and the AWS CLI may use a key past its expiry when less than 20 minutes remain; raise duration_seconds (or the role's maximum session duration) to 1h or more", "lifetime", life.Round(time.Second))
	}
	b.log.Info("credentials refreshed", "access_key_id", cc.AccessKeyID, "expires", cc.Expires.UTC().Format(time.RFC3339), "next_refresh", b.nextFetch.UTC().Format(time.RFC3339))
	return b.nextFetch
}

// minServedLife is the least life served credentials keep when their
// lifetime allows: botocore treats a key with under 12-20 minutes left as
// an outage and stretches its expiry by that much, so it would sign with
// the key after it expired.
const minServedLife = 25 * time.Minute

// refreshAt: refreshBefore (at least minServedLife) ahead of expiry, or at
// half-life for credentials that live shorter than twice that, less a
// little jitter so many profiles do not refresh in lockstep.
func refreshAt(now, expires time.Time, before time.Duration) time.Time {
	before = max(before, minServedLife)
	life := expires.Sub(now)
	var wait time.Duration
	if life < 2*before {
		wait = life / 2
	} else {
		wait = life - before
	}
	if j := wait / 20; j > 0 {
		wait -= time.Duration(rand.Int64N(int64(j)))
	}
	return now.Add(wait)
}

// backoff is exponential with full jitter in [d/2, d], capped. Called with
// b.mu held.
func (b *Broker) backoff() time.Duration {
	d := b.opt.BackoffBase
	for i := 1; i < b.failures && d < b.opt.BackoffCap; i++ {
		d *= 2
	}
	if d > b.opt.BackoffCap {
		d = b.opt.BackoffCap
	}
	half := d / 2
	return half + time.Duration(rand.Int64N(int64(half)+1))
}

func validate(c *imds.Credentials, now time.Time, min time.Duration) error {
	switch {
	case c.AccessKeyID == "" || c.SecretAccessKey == "":
		return errEmptyCredentials
	case c.SessionToken == "":
		return errNoSessionToken
	case !c.Expires.After(now.Add(min)):
		return errExpiredOnArrival
	}
	return nil
}

// maxWait bounds how long a request waits for a fetch in flight.
const maxWait = 5 * time.Second

// Credentials serves from memory: valid cached credentials at once; with
// none, it waits for the fetch in flight (if any) up to ctx; else it says
// why there are none.
func (b *Broker) Credentials(ctx context.Context, now time.Time) (imds.Credentials, error) {
	if c, ok := b.valid(now); ok {
		b.served.Add(1)
		return c, nil
	}
	b.mu.Lock()
	a := b.inflight
	b.mu.Unlock()
	if a != nil {
		// A request may wait for a fetch in flight, never for long; the
		// timer is made only here, off the cached path.
		t := time.NewTimer(maxWait)
		defer t.Stop()
		select {
		case <-a.done:
		case <-t.C:
			return imds.Credentials{}, &imds.UnavailableError{Profile: b.profile, Message: "still fetching credentials from STS; retry shortly"}
		case <-ctx.Done():
			return imds.Credentials{}, &imds.UnavailableError{Profile: b.profile, Message: "still fetching credentials from STS; retry shortly"}
		}
		// The wait took time: the caller's clock is stale.
		if c, ok := b.valid(b.opt.Now()); ok {
			b.served.Add(1)
			return c, nil
		}
	}
	b.mu.Lock()
	err := b.lastErr
	b.mu.Unlock()
	msg := "no credentials yet; retry shortly"
	if err != nil {
		msg = Explain(err)
	}
	return imds.Credentials{}, &imds.UnavailableError{Profile: b.profile, Message: msg}
}

func (b *Broker) valid(now time.Time) (imds.Credentials, bool) {
	c := b.cur.Load()
	if c == nil || !c.Expires.After(now.Add(b.opt.MinRemaining)) {
		return imds.Credentials{}, false
	}
	return *c, true
}

// State is what a broker knows of its profile, for status. No secret.
type State struct {
	AccessKeyID string
	Expires     time.Time
	LastRefresh time.Time
	NextRefresh time.Time
	LastError   string
	NeedsMFA    bool
	// MFAExpires is when the profile's MFA session ends (zero if none).
	MFAExpires time.Time
	Requests   int64
	// RefreshBefore is how long before expiry the next refresh starts.
	RefreshBefore time.Duration
}

// State returns a snapshot of the broker's state.
func (b *Broker) State() State {
	b.mu.Lock()
	st := State{LastRefresh: b.lastFetch, NextRefresh: b.nextFetch, Requests: b.served.Load(), RefreshBefore: b.opt.RefreshBefore}
	if c := b.cur.Load(); c != nil {
		st.AccessKeyID, st.Expires = c.AccessKeyID, c.Expires
	}
	if b.lastErr != nil {
		st.LastError = Explain(b.lastErr)
		st.NeedsMFA = errors.Is(b.lastErr, ErrNeedsMFA)
	}
	b.mu.Unlock()
	if b.up != nil && b.up.p.MFASerial != "" {
		st.MFAExpires = b.up.o.MFA.expires(b.up)
	}
	return st
}

// Refresh fetches anew and waits for the outcome: a fetch that was already
// running when it was called does not count, since it may predate what the
// caller changed (a new MFA session, rotated keys).
func (b *Broker) Refresh(ctx context.Context) (State, error) {
	b.mu.Lock()
	running := b.inflight
	b.mu.Unlock()
	if running != nil {
		if err := b.wait(ctx, running); err != nil {
			return b.State(), err
		}
	}
	b.mu.Lock()
	a := b.inflight
	if a == nil {
		// The loop takes this attempt as its next fetch.
		a = &attempt{done: make(chan struct{})}
		b.inflight = a
	}
	b.mu.Unlock()
	b.RefreshNow()
	if err := b.wait(ctx, a); err != nil {
		return b.State(), err
	}
	st := b.State()
	if st.LastError != "" {
		return st, errors.New(st.LastError)
	}
	return st, nil
}

// Renew is Refresh after a revocation at AWS with that cut-off: the
// cached credentials are dropped at once (they no longer work), and new
// ones are fetched once the cut-off has passed, so they are issued after
// it; a fetch begun before it is not kept.
func (b *Broker) Renew(ctx context.Context, cutoff time.Time) (State, error) {
	b.mu.Lock()
	b.floor = cutoff
	b.cur.Store(nil)
	b.mu.Unlock()
	if d := time.Until(cutoff); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return b.State(), fmt.Errorf("profile %s: waiting to fetch credentials issued after the revocation: %w", b.profile, ctx.Err())
		}
	}
	return b.Refresh(ctx)
}

func (b *Broker) wait(ctx context.Context, a *attempt) error {
	select {
	case <-a.done:
		return nil
	case <-b.done:
		return fmt.Errorf("profile %s is no longer served", b.profile)
	case <-ctx.Done():
		return fmt.Errorf("profile %s: still fetching credentials: %w", b.profile, ctx.Err())
	}
}

// MFASerial is the profile's MFA device ("" when it needs none).
func (b *Broker) MFASerial() string {
	if b.up == nil {
		return ""
	}
	return b.up.p.MFASerial
}

// LoginMFA starts an MFA session with a code typed by the user; the
// following fetches assume the role with it.
func (b *Broker) LoginMFA(ctx context.Context, code string) (time.Time, error) {
	if b.MFASerial() == "" {
		return time.Time{}, fmt.Errorf("profile %s has no mfa_serial; nothing to do", b.profile)
	}
	exp, err := b.up.o.MFA.login(ctx, b.up, code)
	if err != nil {
		return time.Time{}, errors.New(Explain(err))
	}
	return exp, nil
}
