package audit

import (
	"testing"
	"time"

	"github.com/imdsd/imdsd/imds"
)

// The oldest valid credential moves on as credentials expire and when a
// revocation cuts off a role's older sessions; other roles keep theirs.
func TestHorizon(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	const dev, ops = "arn:aws:iam::111122223333:role/dev", "arn:aws:iam::111122223333:role/ops"
	cred := func(id, role string, issued time.Duration, life time.Duration) imds.Credentials {
		return imds.Credentials{AccessKeyID: id, RoleArn: role, Issued: t0.Add(issued), Expires: t0.Add(issued + life)}
	}
	var a Auditor // only its horizon is used
	a.horizon.note("dev", cred("ASIAA", dev, 0, time.Hour), t0)
	a.horizon.note("dev", cred("ASIAB", dev, 5*time.Minute, time.Hour), t0.Add(5*time.Minute))
	a.horizon.note("dev", cred("ASIAB", dev, 5*time.Minute, time.Hour), t0.Add(6*time.Minute)) // a second consumer of B
	a.horizon.note("ops", cred("ASIAO", ops, time.Minute, 2*time.Hour), t0.Add(6*time.Minute))
	a.horizon.note("dev", imds.Credentials{AccessKeyID: "ASIANOISSUE", Expires: t0.Add(time.Hour)}, t0.Add(6*time.Minute))

	type want struct {
		id    string
		valid int
	}
	check := func(at time.Duration, w map[string]want) {
		t.Helper()
		got := a.horizon.oldest(t0.Add(at))
		if len(got) != len(w) {
			t.Fatalf("at +%v: %+v, want %+v", at, got, w)
		}
		for p, ww := range w {
			if g := got[p]; g.AccessKeyID != ww.id || g.Valid != ww.valid {
				t.Errorf("at +%v profile %s: %+v, want %s of %d", at, p, g, ww.id, ww.valid)
			}
		}
	}
	check(time.Minute, map[string]want{"dev": {"ASIAA", 2}, "ops": {"ASIAO", 1}})
	if o := a.horizon.oldest(t0.Add(time.Minute))["dev"]; !o.Issued.Equal(t0) || !o.Expires.Equal(t0.Add(time.Hour)) {
		t.Errorf("dev's oldest: %+v, want issued %v expiring an hour later", o, t0)
	}
	check(time.Hour, map[string]want{"dev": {"ASIAB", 1}, "ops": {"ASIAO", 1}}) // A expires exactly then

	a.Revoked(dev, t0.Add(10*time.Minute))
	check(time.Hour, map[string]want{"ops": {"ASIAO", 1}})
	// Vended after the revocation but issued before its cut-off: dead at AWS.
	a.horizon.note("dev", cred("ASIALATE", dev, 9*time.Minute, time.Hour), t0.Add(time.Hour))
	a.horizon.note("dev", cred("ASIAC", dev, 11*time.Minute, time.Hour), t0.Add(time.Hour))
	check(time.Hour, map[string]want{"dev": {"ASIAC", 1}, "ops": {"ASIAO", 1}})

	// A vend forgets what has expired, even if nobody asks for sessions.
	a.horizon.note("qa", cred("ASIAQ", "", 3*time.Hour, time.Hour), t0.Add(3*time.Hour))
	a.horizon.mu.Lock()
	held := len(a.horizon.creds)
	a.horizon.mu.Unlock()
	if held != 1 {
		t.Errorf("%d credentials held after the others expired, want 1", held)
	}
	check(5*time.Hour, map[string]want{})
}
