package ssosession

import (
	"context"
	"crypto/sha256"
	"fmt"
	"time"
)

// SignInError means the session needs a new sign-in; its message ends
// with the command to run.
type SignInError struct{ Msg string }

func (e *SignInError) Error() string { return e.Msg }

// Check is the gate a profile of this session passes before the SDK may
// use the token: it makes no network call. A dead session fails at once
// with the command to run; a token about to expire that the manager has
// not renewed (yet) fails too, since the SDK would otherwise renew it on
// its own, once per profile. A renewal in flight is waited for. With no
// token file it passes: the SDK then reports that nobody signed in,
// without a call either.
func (m *Manager) Check(ctx context.Context) error {
	m.mu.Lock()
	if r := m.refreshing; r != nil {
		m.mu.Unlock()
		select {
		case <-r:
		case <-ctx.Done():
			return fmt.Errorf("the IAM Identity Center token of %s is being renewed; retry shortly", m.what())
		}
		m.mu.Lock()
	}
	defer m.mu.Unlock()
	c := m.c
	switch {
	case m.dead:
		return &SignInError{Msg: fmt.Sprintf("the IAM Identity Center sign-in for %s has expired and cannot be renewed: run `%s`", m.what(), m.Login())}
	case c == nil:
		return nil
	case c.expires.After(m.o.Now().Add(checkMargin)):
		return nil
	case !c.refreshable(m.o.Now()) || sha256.Sum256([]byte(c.refreshToken)) == m.refused:
		return &SignInError{Msg: fmt.Sprintf("the IAM Identity Center sign-in for %s is expiring and cannot be renewed: run `%s`", m.what(), m.Login())}
	}
	why := ""
	if m.lastErr != "" {
		why = " (" + m.lastErr + ")"
	}
	return fmt.Errorf("the IAM Identity Center token of %s is expiring and imdsd could not renew it yet%s; retrying, or run `%s`", m.what(), why, m.Login())
}

// Status is a manager's state for `imdsd status`. It holds no token.
type Status struct {
	Name, Login, StartURL, Region string
	SignedIn                      bool      // a readable token file exists
	Expires                       time.Time // the access token's end
	Renews                        bool      // it can be renewed without a sign-in
	RegistrationExpires           time.Time // the client registration's end, if the file says
	// SignInBy is when a new sign-in will be needed, where known: the
	// token's end if it cannot be renewed, else the registration's.
	SignInBy    time.Time
	Dead        bool
	LastError   string
	Refreshes   int
	LastRefresh time.Time
	NextCheck   time.Time
}

// Status returns a snapshot.
func (m *Manager) Status() Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.o.Now()
	st := Status{Name: m.Name(), Login: m.Login(), StartURL: m.o.StartURL, Dead: m.dead, LastError: m.lastErr,
		Refreshes: m.refreshes, LastRefresh: m.lastRefresh, NextCheck: m.nextStep}
	if c := m.c; c != nil {
		st.SignedIn, st.Expires, st.RegistrationExpires, st.Region = true, c.expires, c.regExpires, c.region
		if st.StartURL == "" {
			st.StartURL = c.startURL
		}
		st.Renews = !m.dead && c.refreshable(now) && sha256.Sum256([]byte(c.refreshToken)) != m.refused
		st.SignInBy = c.expires
		if st.Renews {
			st.SignInBy = c.regExpires
		}
	}
	return st
}
