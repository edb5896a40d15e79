package control

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// signInWarnBefore: status warns when a sign-in will be needed sooner.
const signInWarnBefore = time.Hour

// writeSSOSessions renders each IAM Identity Center sign-in once, however
// many profiles use it.
func (s Status) writeSSOSessions(w io.Writer, now time.Time) {
	for _, ss := range s.SSOSessions {
		fmt.Fprintf(w, "\nSSO session %s (%s", ss.Name, ss.StartURL)
		if ss.Region != "" {
			fmt.Fprintf(w, ", %s", ss.Region)
		}
		fmt.Fprintf(w, "), used by %s:\n", strings.Join(ss.Profiles, ", "))
		for _, l := range ssoSessionLines(ss, now) {
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
}

// ssoSessionLines say how long the sign-in lasts and when it will need
// the user again.
func ssoSessionLines(ss SSOSessionStatus, now time.Time) []string {
	login := "run `" + ss.Login + "`"
	switch {
	case !ss.SignedIn:
		return []string{"not signed in: " + login}
	case ss.Ended:
		return []string{"WARNING: the sign-in has ended and cannot be renewed; its profiles get no new credentials until you " + login}
	}
	var out []string
	left := ss.Expires.Sub(now)
	if ss.Renews {
		line := fmt.Sprintf("token expires in %s; imdsd renews it ahead of expiry (%d renewals so far)", left.Round(time.Second), ss.Renewals)
		out = append(out, line)
		if ss.RegistrationExpires.IsZero() {
			out = append(out, "session end: set by IAM Identity Center (the cache file does not say)")
		} else {
			out = append(out, "session end: at the latest when the client registration ends, in "+roundLeft(ss.RegistrationExpires.Sub(now)))
		}
	} else {
		out = append(out, fmt.Sprintf("token expires in %s and cannot be renewed (no refresh token): sign in again then", left.Round(time.Second)))
	}
	if ss.LastError != "" {
		out = append(out, "last renewal error: "+ss.LastError)
	}
	if by := ss.SignInBy; !by.IsZero() && by.Sub(now) < signInWarnBefore {
		out = append(out, fmt.Sprintf("WARNING: a new sign-in is needed in %s: %s", max(by.Sub(now), 0).Round(time.Second), login))
	}
	return out
}

func roundLeft(d time.Duration) string {
	if d >= 48*time.Hour {
		return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	}
	return d.Round(time.Minute).String()
}

// inSSOSession: the profile's sign-in is listed among the sessions, so
// its own SSO line would say it again.
func (s Status) inSSOSession(p ProfileStatus) bool {
	return slices.ContainsFunc(s.SSOSessions, func(ss SSOSessionStatus) bool { return slices.Contains(ss.Profiles, p.Name) })
}
