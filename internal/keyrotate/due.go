package keyrotate

import (
	"context"
	"fmt"
	"time"
)

// Due says whether a key created at created should be rotated by now. A
// key of unknown age (zero created) or rotate_after 0 is never due.
func Due(created time.Time, rotateAfter time.Duration, now time.Time) bool {
	return !created.IsZero() && rotateAfter > 0 && now.Sub(created) >= rotateAfter
}

// StatusLine is a key's age for status and `imdsd keys list`, with the
// command to run once it is due:
//
//	key AKIA... of profile dev is 97 days old; rotate_after is 90 days: run `imdsd keys rotate dev`
func StatusLine(profile, keyID string, created time.Time, rotateAfter time.Duration, now time.Time) string {
	if created.IsZero() {
		return fmt.Sprintf("key %s of profile %s is of unknown age; rotate it with `imdsd keys rotate %s` to start counting", keyID, profile, profile)
	}
	age := age(now.Sub(created))
	if Due(created, rotateAfter, now) {
		return fmt.Sprintf("key %s of profile %s is %s old; rotate_after is %s: run `imdsd keys rotate %s`", keyID, profile, age, days(rotateAfter), profile)
	}
	return fmt.Sprintf("key %s of profile %s is %s old (rotate_after %s)", keyID, profile, age, days(rotateAfter))
}

// age in whole days once a day old, else hours: users count key age in
// days, and "0 days" says nothing about a key made this morning.
func age(d time.Duration) string {
	switch {
	case d < 0:
		return "0 hours" // created "in the future": a clock apart from IAM's
	case d < 24*time.Hour:
		return plural(int(d/time.Hour), "hour")
	}
	return plural(int(d/(24*time.Hour)), "day")
}

// days says a rotate_after: in days when it is whole days, as written.
func days(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return plural(int(d/(24*time.Hour)), "day")
	}
	return d.String()
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// RotateIfDue rotates the profile's stored key when it is at least
// rotateAfter old (auto_rotate), and does nothing otherwise: no AWS call.
// rotated says whether a rotation was attempted; the Result and error are
// Rotate's.
func RotateIfDue(ctx context.Context, o Options, rotateAfter time.Duration) (res Result, rotated bool, err error) {
	o.defaults()
	k, err := o.Store.Get(o.Profile)
	if err != nil {
		return Result{Profile: o.Profile}, false, fmt.Errorf("profile %s: reading its key from the keyring failed, so its age is unknown: %w", o.Profile, err)
	}
	if !Due(k.Created, rotateAfter, o.Now()) {
		return Result{Profile: o.Profile, OldKeyID: k.AccessKeyID, Stored: k.AccessKeyID}, false, nil
	}
	res, err = Rotate(ctx, o)
	return res, true, err
}
