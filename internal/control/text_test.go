package control

import (
	"strings"
	"testing"
	"time"
)

func TestHealthyAndShort(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	ok := ProfileStatus{Name: "dev", AccessKeyID: "ASIA1", Expires: now.Add(52 * time.Minute)}
	cases := map[string]struct {
		st      Status
		healthy bool
		short   string
	}{
		"all served":   {Status{Profiles: []ProfileStatus{ok}}, true, "imdsd: dev ok (52m0s left)"},
		"locked":       {Status{Locked: true, Profiles: []ProfileStatus{ok}}, false, "LOCKED"},
		"needs MFA":    {Status{Profiles: []ProfileStatus{ok, {Name: "admin", NeedsMFA: true}}}, false, "admin needs MFA (imdsd mfa --profile admin CODE)"},
		"failing":      {Status{Profiles: []ProfileStatus{{Name: "dev", LastError: "STS denied AssumeRole"}}}, false, "dev FAILING: STS denied AssumeRole"},
		"expired":      {Status{Profiles: []ProfileStatus{{Name: "dev", AccessKeyID: "ASIA1", Expires: now.Add(-time.Second)}}}, false, "dev no credentials yet"},
		"not fetched":  {Status{Profiles: []ProfileStatus{{Name: "dev"}}}, false, "dev no credentials yet"},
		"no profiles?": {Status{}, true, "imdsd: "},
	}
	for name, tc := range cases {
		if got := tc.st.Healthy(now); got != tc.healthy {
			t.Errorf("%s: healthy %v, want %v", name, got, tc.healthy)
		}
		if got := tc.st.Short(now); !strings.Contains(got, tc.short) || strings.Contains(got, "\n") {
			t.Errorf("%s: short %q, want one line with %q", name, got, tc.short)
		}
	}
}

func TestSSOLines(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for name, tc := range map[string]struct {
		p    ProfileStatus
		want string // "" for no SSO line
	}{
		"not SSO":       {ProfileStatus{Name: "dev"}, ""},
		"not signed in": {ProfileStatus{Name: "app", SSOProfile: "sso"}, "not signed in to IAM Identity Center: run `imdsd login --profile sso`"},
		"error says it": {ProfileStatus{Name: "app", SSOProfile: "sso", LastError: "profile app: not signed in ..."}, ""},
		"renews":        {ProfileStatus{Name: "sso", SSOProfile: "sso", SSOExpires: now.Add(8 * time.Hour), SSORenews: true}, "renews itself"},
		"ends soon":     {ProfileStatus{Name: "sso", SSOProfile: "sso", SSOExpires: now.Add(10 * time.Minute)}, "WARNING: the SSO sign-in ends in 10m0s and cannot renew itself: run `imdsd login --profile sso`"},
		"expired":       {ProfileStatus{Name: "sso", SSOProfile: "sso", SSOExpires: now.Add(-time.Minute)}, "WARNING: the SSO sign-in expired"},
		"plenty left":   {ProfileStatus{Name: "sso", SSOProfile: "sso", SSOExpires: now.Add(8 * time.Hour)}, "SSO sign-in ends in 8h0m0s"},
	} {
		var b strings.Builder
		Status{Started: now, Profiles: []ProfileStatus{tc.p}}.WriteText(&b, now)
		got := ssoLine(tc.p, now)
		if tc.want == "" && got != "" || !strings.Contains(got, tc.want) || tc.want != "" && !strings.Contains(b.String(), tc.p.Name+": "+got) {
			t.Errorf("%s: SSO line %q, want one with %q in the status text", name, got, tc.want)
		}
	}
}
