package ssosession

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/imdsd/imdsd/internal/ssologin"
)

const (
	// DefaultAhead is how long before expiry the token is renewed: before
	// any client sharing the cache file would. aws-sdk-go-v2 renews only
	// an expired token; botocore (boto3, the AWS CLI) from 15 minutes
	// before expiry (10 minutes: blocking). At 20 minutes, none of them
	// ever renews it, so the one refresh token is used by one process.
	DefaultAhead = 20 * time.Minute
	// checkMargin: Check refuses a token with less left than this, so a
	// fetch never hands the SDK a token it would renew itself.
	checkMargin = time.Minute
	retryBase   = 30 * time.Second
	retryCap    = 5 * time.Minute
	// maxSleep bounds every wait: monotonic timers stop while the machine
	// sleeps, and the token's expiry is wall-clock time.
	maxSleep      = 10 * time.Minute
	notifyTimeout = 10 * time.Second
)

// Grant is what a refresh_token grant sends. It holds secrets: never log.
type Grant struct{ ClientID, ClientSecret, RefreshToken string }

// Token is a renewed access token; RefreshToken "" means not rotated.
type Token struct {
	AccessToken, RefreshToken string
	ExpiresIn                 time.Duration
}

// RefreshFunc makes one refresh_token grant. A refusal for good (expired
// or revoked refresh token, ended registration) wraps
// ssologin.ErrSignInNeeded; any other error is retried.
type RefreshFunc func(ctx context.Context, g Grant) (Token, error)

// Notifier shows the user one message, e.g. a desktop notification.
type Notifier func(ctx context.Context, title, message string) error

// Options say which sign-in a Manager keeps and how.
type Options struct {
	// Session is the sso-session name; "" for a legacy profile, whose
	// Profile then names it (and the command to sign in again).
	Session, Profile string
	StartURL         string
	CacheFile        string // ~/.aws/sso/cache/<sha1>.json
	Refresh          RefreshFunc
	Notify           Notifier // nil: the log line only
	Log              *slog.Logger
	Ahead            time.Duration // 0: DefaultAhead
	Now              func() time.Time
}

// Manager keeps one sign-in alive. Start runs it; Check is the gate the
// session's profiles pass before the SDK may use the token.
type Manager struct {
	o       Options
	region  string // the OIDC client's, for Same
	changed chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}

	mu          sync.Mutex
	c           *cached // nil: no readable token file
	dead        bool    // expired and cannot be renewed: only a sign-in helps
	deadAccess  [32]byte
	refused     [32]byte // hash of the refresh token the service refused
	told        bool     // the user was told a sign-in is needed
	refreshing  chan struct{}
	failures    int
	retryAt     time.Time
	lastErr     string
	refreshes   int
	lastRefresh time.Time
	nextStep    time.Time
}

// New makes a Manager; it reads the cache file now, so Check answers
// before Start.
func New(o Options) *Manager {
	if o.Ahead <= 0 {
		o.Ahead = DefaultAhead
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	m := &Manager{o: o, changed: make(chan struct{}, 1), done: make(chan struct{})}
	m.o.Log = o.Log.With("sso_session", m.Name())
	m.load()
	return m
}

// Name is the sso-session name, or the legacy profile's start URL.
func (m *Manager) Name() string {
	if m.o.Session != "" {
		return m.o.Session
	}
	return m.o.StartURL
}

// Login is the command that signs in again.
func (m *Manager) Login() string {
	if m.o.Session != "" {
		return "imdsd login --sso-session " + m.o.Session
	}
	return "imdsd login --profile " + m.o.Profile
}

func (m *Manager) what() string {
	if m.o.Session != "" {
		return "sso-session " + m.o.Session
	}
	return "profile " + m.o.Profile + " (" + m.o.StartURL + ")"
}

// Start runs the renewal loop until Stop.
func (m *Manager) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	go m.loop(ctx)
}

// Stop ends the loop and waits for it.
func (m *Manager) Stop() {
	if m.cancel != nil {
		m.cancel()
		<-m.done
	}
}

// Changed is called when the cache file changed (a sign-in, another
// tool's renewal, our own write): the file is read again before it
// returns, so a profile woken next passes Check on a new sign-in.
func (m *Manager) Changed() {
	m.load()
	select {
	case m.changed <- struct{}{}:
	default:
	}
}

func (m *Manager) loop(ctx context.Context) {
	defer close(m.done)
	for {
		wait := min(m.step(ctx), maxSleep)
		m.mu.Lock()
		m.nextStep = m.o.Now().Add(wait)
		m.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-m.changed:
			t.Stop()
		case <-t.C:
			m.load()
		}
	}
}

// load reads the cache file. A token other than the one that died is a
// new sign-in: the session lives again.
func (m *Manager) load() {
	c, err := readCache(m.o.CacheFile)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		m.c = nil
		return
	}
	if m.c != nil && m.c.access != c.access && m.told {
		m.told = false // signed in again before the old token ran out
	}
	if m.dead && c.access != m.deadAccess {
		m.dead, m.told, m.failures, m.retryAt, m.lastErr = false, false, 0, time.Time{}, ""
		m.o.Log.Info("new IAM Identity Center sign-in; serving its profiles again", "expires", c.expires.UTC().Format(time.RFC3339))
	}
	m.c = c
}

// step does what the token needs now and says how long until it needs
// something again.
func (m *Manager) step(ctx context.Context) time.Duration {
	m.mu.Lock()
	c, now := m.c, m.o.Now()
	if c == nil || m.dead {
		m.mu.Unlock()
		return maxSleep
	}
	left := c.expires.Sub(now)
	renewable := c.refreshable(now) && sha256.Sum256([]byte(c.refreshToken)) != m.refused
	switch {
	case left > m.o.Ahead:
		m.mu.Unlock()
		return left - m.o.Ahead
	case !renewable && left <= 0:
		m.dead, m.deadAccess = true, c.access
		m.mu.Unlock()
		m.tell(ctx, fmt.Sprintf("The IAM Identity Center sign-in for %s has expired and cannot be renewed: run `%s`", m.what(), m.Login()))
		return maxSleep
	case !renewable:
		m.mu.Unlock()
		return left
	case now.Before(m.retryAt):
		m.mu.Unlock()
		return m.retryAt.Sub(now)
	}
	done := make(chan struct{})
	m.refreshing = done
	g := Grant{ClientID: c.clientID, ClientSecret: c.clientSecret, RefreshToken: c.refreshToken}
	m.mu.Unlock()

	tok, err := m.o.Refresh(ctx, g)
	var expires time.Time
	if err == nil {
		expires = m.o.Now().Add(tok.ExpiresIn)
		err = writeRefreshed(m.o.CacheFile, tok.AccessToken, tok.RefreshToken, expires)
	}
	if err == nil {
		m.load() // before Check may pass: it must see the new token
	}
	m.mu.Lock()
	m.refreshing = nil
	close(done)
	if ctx.Err() != nil {
		m.mu.Unlock()
		return 0
	}
	switch {
	case err == nil:
		m.refreshes++
		m.lastRefresh, m.failures, m.retryAt, m.lastErr = now, 0, time.Time{}, ""
		m.mu.Unlock()
		m.o.Log.Info("SSO token renewed", "expires", expires.UTC().Format(time.RFC3339))
		return 0
	case errors.Is(err, ssologin.ErrSignInNeeded):
		m.refused = sha256.Sum256([]byte(g.RefreshToken))
		m.lastErr = err.Error()
		m.mu.Unlock()
		msg := fmt.Sprintf("The IAM Identity Center session of %s has ended (the refresh was refused): run `%s`", m.what(), m.Login())
		if left > 0 {
			msg = fmt.Sprintf("The IAM Identity Center session of %s ends at %s and cannot be renewed (the refresh was refused): run `%s`", m.what(), c.expires.Local().Format("15:04"), m.Login())
		}
		m.tell(ctx, msg)
		return 0 // the next step waits for the expiry, or marks it dead
	}
	m.failures++
	d := retryBase << min(m.failures-1, 4)
	d = min(d, retryCap)
	m.retryAt = now.Add(d)
	m.lastErr = err.Error()
	m.mu.Unlock()
	m.o.Log.Warn("SSO token renewal failed; retrying", "err", err, "retry_in", d, "expires", c.expires.UTC().Format(time.RFC3339))
	return d
}

// tell says once per expiry that a sign-in is needed: always a log line,
// and a desktop notification where there is one.
func (m *Manager) tell(ctx context.Context, msg string) {
	m.mu.Lock()
	if m.told {
		m.mu.Unlock()
		return
	}
	m.told = true
	m.mu.Unlock()
	m.o.Log.Warn("SSO sign-in needed: " + msg)
	if m.o.Notify == nil {
		return
	}
	nctx, cancel := context.WithTimeout(ctx, notifyTimeout)
	defer cancel()
	if err := m.o.Notify(nctx, "imdsd: sign in to AWS", msg); err != nil {
		m.o.Log.Debug("no desktop notification", "err", err)
	}
}
