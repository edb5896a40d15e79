package config

import (
	"strconv"
	"strings"
	"time"
)

// The [keyring] table's key-rotation settings. The rest of the table (the
// backend) is parsed with the keyring; these only say when a stored key is
// old enough to rotate and whether the daemon does it itself.

// DefaultRotateAfter is AWS's own advice (and the CIS benchmark's): rotate
// access keys every 90 days.
const DefaultRotateAfter = 90 * 24 * time.Hour

// rotate_after bounds: a day at least (more often only churns keys that
// every other tool must pick up), ten years at most.
const (
	minRotateAfter = 24 * time.Hour
	maxRotateAfter = 3650 * 24 * time.Hour
)

// Rotation is when stored access keys are due for rotation.
type Rotation struct {
	// RotateAfter is the age past which status warns and, with
	// AutoRotate, the daemon rotates. Default 90 days.
	RotateAfter time.Duration
	// AutoRotate lets the daemon rotate a key past RotateAfter. Default
	// false: rotating changes a key other tools may hold too.
	AutoRotate bool
}

// rotation reads rotate_after and auto_rotate from the [keyring] table
// into r, which holds the defaults.
func (p *cfgParser) rotation(t map[string]any, r *Rotation) {
	if v, ok := t["rotate_after"]; ok {
		if s, ok := p.str("keyring.rotate_after", v, `"90d"`); ok {
			d, err := parseDays(s)
			switch {
			case err != nil:
				p.fail("keyring.rotate_after", "%q is not a duration; write days like \"90d\" or hours like \"2160h\"", s)
			case d < minRotateAfter || d > maxRotateAfter:
				p.fail("keyring.rotate_after", "%q is out of range; use \"1d\" to \"3650d\" (default \"90d\")", s)
			default:
				r.RotateAfter = d
			}
		}
	}
	if v, ok := t["auto_rotate"]; ok {
		r.AutoRotate = p.boolean("keyring.auto_rotate", v)
	}
}

// parseDays is time.ParseDuration that also takes whole days ("90d"):
// key ages are thought of in days, and Go's units stop at hours.
func parseDays(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 || days > 1e5 {
			return 0, strconv.ErrSyntax
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}
