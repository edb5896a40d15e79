package daemon

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imdsd/imdsd/internal/audit"
)

// horizonEnv is startEnv with the audit's clock (which decides what has
// expired) running offset ahead of the real one.
func horizonEnv(t *testing.T, offset *atomic.Int64, grant ...string) *testEnv {
	t.Helper()
	o := envOptions{tune: func(o *Options) {
		o.auditNow = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	}}
	if len(grant) > 0 {
		return revokeEnv(t, o, grant...)
	}
	return startEnv(t, o)
}

// devHorizon is what `imdsd sessions` says of profile dev: since when the
// credentials it vended that still work were issued, and how many.
func (e *testEnv) devHorizon(ctx context.Context) (time.Time, int) {
	e.t.Helper()
	cs, err := e.client().Sessions(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	var dev []audit.Consumer
	for _, c := range cs {
		if c.Profile == "dev" {
			dev = append(dev, c)
		}
	}
	if len(dev) == 0 {
		e.t.Fatalf("sessions lists no consumer of dev: %+v", cs)
	}
	return dev[0].ProfileOldestValid, dev[0].ProfileValid
}

// `imdsd sessions` shows when the oldest credential still valid of those
// vended was issued: a refresh adds a newer one, and once the oldest
// expires the next one is the oldest.
func TestSessionsOldestValidMovesOnAtExpiry(t *testing.T) {
	t.Parallel()
	var auditAhead atomic.Int64
	e := horizonEnv(t, &auditAhead)
	var stsAhead atomic.Int64 // the fake STS's clock: sets the expiries it issues
	e.sts.SetClock(func() time.Time { return time.Now().Add(time.Duration(stsAhead.Load())).Truncate(time.Second) })
	ctx := context.Background()

	a, err := e.ec2Creds(ctx)
	if err != nil {
		t.Fatal(err)
	}
	oldestA, n := e.devHorizon(ctx)
	if oldestA.IsZero() || oldestA.After(time.Now()) || n != 1 {
		t.Fatalf("after one vend: oldest %v, %d valid; want a past issue time and 1", oldestA, n)
	}

	// B expires 10 minutes after A.
	stsAhead.Store(int64(10 * time.Minute))
	beforeB := time.Now()
	if _, err := e.client().Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	afterB := time.Now()
	b, err := e.ec2Creds(ctx)
	if err != nil || b.AccessKeyID == a.AccessKeyID {
		t.Fatalf("after refresh: %s (%v), want a new key", b.AccessKeyID, err)
	}
	if oldest, n := e.devHorizon(ctx); !oldest.Equal(oldestA) || n != 2 {
		t.Fatalf("after a refresh: oldest %v, %d valid; want still %v, 2", oldest, n, oldestA)
	}

	auditAhead.Store(int64(time.Hour + 5*time.Minute)) // A has expired, B has not
	oldest, n := e.devHorizon(ctx)
	if oldest.Before(beforeB) || oldest.After(afterB) || n != 1 {
		t.Fatalf("after A expired: oldest %v, %d valid; want B's fetch, between %v and %v, and 1", oldest, n, beforeB, afterB)
	}
	auditAhead.Store(int64(2 * time.Hour))
	if oldest, n := e.devHorizon(ctx); !oldest.IsZero() || n != 0 {
		t.Fatalf("after both expired: oldest %v, %d valid; want none", oldest, n)
	}
}

// After `imdsd revoke` nothing vended before counts as valid; what is
// vended next was issued after the cut-off.
func TestSessionsOldestValidAfterRevoke(t *testing.T) {
	var auditAhead atomic.Int64
	e := horizonEnv(t, &auditAhead, "iam:PutRolePolicy")
	ctx := context.Background()
	if _, err := e.ec2Creds(ctx); err != nil {
		t.Fatal(err)
	}
	if oldest, n := e.devHorizon(ctx); oldest.IsZero() || n != 1 {
		t.Fatalf("before revoke: oldest %v, %d valid", oldest, n)
	}
	res, err := e.client().Revoke(ctx, "dev")
	if err != nil {
		t.Fatal(err)
	}
	if oldest, n := e.devHorizon(ctx); !oldest.IsZero() || n != 0 {
		t.Fatalf("after revoke: oldest %v, %d valid; want none (all revoked)", oldest, n)
	}
	if _, err := e.ec2Creds(ctx); err != nil {
		t.Fatal(err)
	}
	if oldest, n := e.devHorizon(ctx); oldest.Before(res.Cutoff) || n != 1 {
		t.Fatalf("after a vend past the revoke: oldest %v, %d valid; want at or after the cut-off %v, 1", oldest, n, res.Cutoff)
	}
}
