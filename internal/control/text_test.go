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
