package control

import (
	"strings"
	"testing"
	"time"

	"github.com/imdsd/imdsd/internal/audit"
)

func TestWriteSessions(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.Local)
	dev := audit.Consumer{Profile: "dev", Face: "imds", Who: "uid 1000 pid 42 (aws)", Requests: 7, Last: now.Add(-time.Minute), AccessKeyID: "ASIADEV",
		ProfileOldestValid: now.Add(-41 * time.Minute), ProfileValid: 2}
	ops := audit.Consumer{Profile: "ops", Face: "ecs", Who: "container web", Requests: 1, Last: now.Add(-2 * time.Hour), AccessKeyID: "ASIAOPS"}
	for name, tc := range map[string]struct {
		cs   []audit.Consumer
		want []string
		not  []string
	}{
		"valid and expired": {[]audit.Consumer{dev, ops},
			[]string{"OLDEST VALID", "2026-12-01 11:19:00 (41m0s ago, 2 valid)", "began fetching", "imdsd revoke --profile P"}, nil},
		"nothing valid": {[]audit.Consumer{ops}, nil, []string{"began fetching"}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var b strings.Builder
			if err := WriteSessions(&b, tc.cs, now); err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, b.String())
				}
			}
			for _, line := range strings.Split(b.String(), "\n") {
				if strings.HasPrefix(line, "ops ") && !strings.HasSuffix(line, " -") {
					t.Errorf("ops has nothing valid, but its line is %q", line)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(b.String(), w) {
					t.Errorf("output has %q:\n%s", w, b.String())
				}
			}
		})
	}
}
