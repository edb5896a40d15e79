package control

import (
	"strings"
	"testing"
	"time"
)

func TestSSOSessionText(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	base := SSOSessionStatus{Name: "corp", Login: "imdsd login --sso-session corp", StartURL: "https://example.awsapps.com/start", Region: "eu-west-1", Profiles: []string{"dev", "prod"}, SignedIn: true}
	with := func(f func(*SSOSessionStatus)) SSOSessionStatus { s := base; f(&s); return s }
	for name, tc := range map[string]struct {
		ss      SSOSessionStatus
		want    []string
		notWant string
	}{
		"not signed in": {with(func(s *SSOSessionStatus) { s.SignedIn = false }), []string{"not signed in: run `imdsd login --sso-session corp`"}, "token expires"},
		"renews, registration known": {with(func(s *SSOSessionStatus) {
			s.Expires, s.Renews, s.Renewals, s.RegistrationExpires, s.SignInBy = now.Add(50*time.Minute), true, 3, now.Add(89*24*time.Hour), now.Add(89*24*time.Hour)
		}), []string{"token expires in 50m0s; imdsd renews it ahead of expiry (3 renewals so far)", "client registration ends, in 89d"}, "WARNING"},
		"renews, end unknown": {with(func(s *SSOSessionStatus) { s.Expires, s.Renews = now.Add(time.Hour), true }),
			[]string{"session end: set by IAM Identity Center"}, "WARNING"},
		"registration ends within the hour": {with(func(s *SSOSessionStatus) {
			s.Expires, s.Renews, s.RegistrationExpires, s.SignInBy = now.Add(50*time.Minute), true, now.Add(40*time.Minute), now.Add(40*time.Minute)
		}), []string{"WARNING: a new sign-in is needed in 40m0s: run `imdsd login --sso-session corp`"}, ""},
		"cannot renew, ends within the hour": {with(func(s *SSOSessionStatus) { s.Expires, s.SignInBy = now.Add(30*time.Minute), now.Add(30*time.Minute) }),
			[]string{"cannot be renewed", "WARNING: a new sign-in is needed in 30m0s"}, ""},
		"cannot renew, hours left": {with(func(s *SSOSessionStatus) { s.Expires, s.SignInBy = now.Add(5*time.Hour), now.Add(5*time.Hour) }),
			[]string{"token expires in 5h0m0s and cannot be renewed"}, "WARNING"},
		"ended": {with(func(s *SSOSessionStatus) { s.Ended, s.Expires = true, now.Add(-time.Minute) }),
			[]string{"WARNING: the sign-in has ended", "run `imdsd login --sso-session corp`"}, ""},
		"renewal failing": {with(func(s *SSOSessionStatus) {
			s.Expires, s.Renews, s.LastError = now.Add(10*time.Minute), true, "dial tcp: refused"
		}),
			[]string{"last renewal error: dial tcp: refused"}, ""},
	} {
		st := Status{Started: now, SSOSessions: []SSOSessionStatus{tc.ss}, Profiles: []ProfileStatus{
			{Name: "dev", SSOProfile: "dev", SSOExpires: now.Add(time.Hour), SSORenews: true},
			{Name: "prod", SSOProfile: "prod", SSOExpires: now.Add(time.Hour), SSORenews: true},
		}}
		var b strings.Builder
		st.WriteText(&b, now)
		out := b.String()
		if strings.Count(out, "SSO session corp (https://example.awsapps.com/start, eu-west-1), used by dev, prod:") != 1 {
			t.Errorf("%s: the session is not shown exactly once:\n%s", name, out)
		}
		if strings.Contains(out, "renews itself") {
			t.Errorf("%s: a per-profile SSO line repeats the session:\n%s", name, out)
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: status lacks %q:\n%s", name, w, out)
			}
		}
		if tc.notWant != "" && strings.Contains(out, tc.notWant) {
			t.Errorf("%s: status has %q:\n%s", name, tc.notWant, out)
		}
	}
}
