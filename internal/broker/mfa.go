package broker

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/imdsd/imdsd/imds"
)

// mfaSession is a GetSessionToken result obtained with an MFA code; role
// credentials are assumed with it until it expires.
type mfaSession struct {
	creds   imds.Credentials
	expires time.Time
}

// MFAStore keeps MFA sessions in memory only, keyed by device and source
// key, so an unrelated config edit does not ask for a new code.
type MFAStore struct {
	mu       sync.Mutex
	sessions map[string]mfaSession
}

func NewMFAStore() *MFAStore { return &MFAStore{sessions: map[string]mfaSession{}} }

func mfaKey(u *upstream) string { return u.p.MFASerial + "|" + u.p.SourceKeyID }

// mfaNeededError says how to provide the code.
type mfaNeededError struct{ profile, serial string }

func (e *mfaNeededError) Error() string {
	return fmt.Sprintf("profile %s needs an MFA code from %s: run `imdsd mfa --profile %s CODE`, or set mfa_process in [profiles.%s] of imdsd's config", e.profile, e.serial, e.profile, e.profile)
}

func (e *mfaNeededError) Is(target error) bool { return target == ErrNeedsMFA }

// session returns a live MFA session, running mfa_process for a code when
// one is configured.
func (s *MFAStore) session(ctx context.Context, u *upstream) (mfaSession, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sess, ok := s.sessions[mfaKey(u)]; ok && time.Until(sess.expires) > time.Minute {
		return sess, nil
	}
	delete(s.sessions, mfaKey(u))
	if u.o.Opts.MFAProcess == "" {
		return mfaSession{}, &mfaNeededError{profile: u.p.Name, serial: u.p.MFASerial}
	}
	code, err := runMFAProcess(ctx, u.p.Name, u.o.Opts.MFAProcess)
	if err != nil {
		return mfaSession{}, err
	}
	sess, err := u.mfaLogin(ctx, code)
	if err != nil {
		return mfaSession{}, err
	}
	s.sessions[mfaKey(u)] = sess
	return sess, nil
}

// login starts an MFA session with a code typed by the user.
func (s *MFAStore) login(ctx context.Context, u *upstream, code string) (time.Time, error) {
	if err := checkMFACode(code); err != nil {
		return time.Time{}, err
	}
	sess, err := u.mfaLogin(ctx, code)
	if err != nil {
		return time.Time{}, err
	}
	s.mu.Lock()
	s.sessions[mfaKey(u)] = sess
	s.mu.Unlock()
	return sess.expires, nil
}

// expires reports when the profile's MFA session ends (zero if none).
func (s *MFAStore) expires(u *upstream) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[mfaKey(u)].expires
}

// clear forgets every MFA session (lock).
func (s *MFAStore) Clear() {
	s.mu.Lock()
	clear(s.sessions)
	s.mu.Unlock()
}

func checkMFACode(code string) error {
	if len(code) < 6 || len(code) > 8 || strings.Trim(code, "0123456789") != "" {
		return errors.New("an MFA code is 6 to 8 digits")
	}
	return nil
}

// runMFAProcess runs the configured command and reads the code from its
// stdout. The code is never logged.
func runMFAProcess(ctx context.Context, profile, command string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var cmd *exec.Cmd
	if runtime.GOOS == "windows" {
		cmd = exec.CommandContext(ctx, "cmd", "/C", command)
	} else {
		cmd = exec.CommandContext(ctx, "/bin/sh", "-c", command)
	}
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("profile %s: mfa_process %q failed: %v", profile, command, err)
	}
	code := strings.TrimSpace(string(out))
	if err := checkMFACode(code); err != nil {
		return "", fmt.Errorf("profile %s: mfa_process %q did not print an MFA code: %v", profile, command, err)
	}
	return code, nil
}
