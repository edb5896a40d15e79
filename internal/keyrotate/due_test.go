package keyrotate

import (
	"testing"
	"time"
)

func TestDueAndStatusLine(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	const day = 24 * time.Hour
	for name, tc := range map[string]struct {
		created     time.Time
		rotateAfter time.Duration
		due         bool
		line        string
	}{
		"past rotate_after": {now.Add(-97 * day), 90 * day, true,
			"key AKIAEXAMPLE of profile dev is 97 days old; rotate_after is 90 days: run `imdsd keys rotate dev`"},
		"exactly at it": {now.Add(-90 * day), 90 * day, true,
			"key AKIAEXAMPLE of profile dev is 90 days old; rotate_after is 90 days: run `imdsd keys rotate dev`"},
		"young": {now.Add(-12*day - 5*time.Hour), 90 * day, false,
			"key AKIAEXAMPLE of profile dev is 12 days old (rotate_after 90 days)"},
		"made today": {now.Add(-3 * time.Hour), 90 * day, false,
			"key AKIAEXAMPLE of profile dev is 3 hours old (rotate_after 90 days)"},
		"hours rotate_after": {now.Add(-2 * day), 36 * time.Hour, true,
			"key AKIAEXAMPLE of profile dev is 2 days old; rotate_after is 36h0m0s: run `imdsd keys rotate dev`"},
		"unknown age": {time.Time{}, 90 * day, false,
			"key AKIAEXAMPLE of profile dev is of unknown age; rotate it with `imdsd keys rotate dev` to start counting"},
		"created ahead of our clock": {now.Add(time.Minute), 90 * day, false,
			"key AKIAEXAMPLE of profile dev is 0 hours old (rotate_after 90 days)"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := Due(tc.created, tc.rotateAfter, now); got != tc.due {
				t.Errorf("Due = %v, want %v", got, tc.due)
			}
			if got := StatusLine("dev", "AKIAEXAMPLE", tc.created, tc.rotateAfter, now); got != tc.line {
				t.Errorf("StatusLine =\n %q\nwant\n %q", got, tc.line)
			}
		})
	}
}
