package daemon

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func TestQuietReleaseStep(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	for _, tc := range []struct {
		name   string
		allocs []uint64 // cumulative, one per period
		want   []bool
	}{
		{"the start's allocations are the baseline", []uint64{50 * mib, 50 * mib, 50 * mib}, []bool{false, false, false}},
		{"idle with nothing new: never", []uint64{3 * mib, 3*mib + 1000, 3*mib + 2000, 3*mib + 3000}, []bool{false, false, false, false}},
		{"garbage, then a quiet period: once", []uint64{3 * mib, 5 * mib, 5 * mib, 5 * mib}, []bool{false, false, true, false}},
		{"garbage in small steps, each period quiet", []uint64{0, mib / 4, mib / 2, 3 * mib / 4, mib, mib + 100}, []bool{false, false, false, false, true, false}},
		{"under load: never", []uint64{0, 40 * mib, 80 * mib, 120 * mib}, []bool{false, false, false, false}},
		{"load, then quiet: once, then again only after more garbage", []uint64{0, 40 * mib, 40 * mib, 40 * mib, 42 * mib, 42 * mib}, []bool{false, false, true, false, false, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			q := quietRelease{min: releaseMin, quiet: quietMax}
			for i, a := range tc.allocs {
				if got := q.step(a); got != tc.want[i] {
					t.Errorf("period %d (%d bytes allocated): release %v, want %v", i, a, got, tc.want[i])
				}
			}
		})
	}
}

// The loop on a fake clock: a burst of garbage is released within two
// periods of going quiet, once, and the loop ends with its context.
func TestReleaseWhenQuietLoop(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var allocs, releases atomic.Uint64
		allocs.Store(2 << 20) // the start
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			defer close(done)
			releaseWhenQuiet(ctx, quietPeriod, allocs.Load, func() { releases.Add(1) })
		}()
		time.Sleep(3 * quietPeriod)
		synctest.Wait()
		if n := releases.Load(); n != 0 {
			t.Fatalf("%d releases for the start's allocations, want 0", n)
		}
		allocs.Add(3 << 20) // a burst of garbage
		time.Sleep(time.Second)
		synctest.Wait()
		if n := releases.Load(); n != 0 {
			t.Fatalf("%d releases while the burst's period runs, want 0", n)
		}
		time.Sleep(2 * quietPeriod)
		synctest.Wait()
		if n := releases.Load(); n != 1 {
			t.Fatalf("%d releases two periods after a burst, want 1", n)
		}
		time.Sleep(10 * quietPeriod)
		synctest.Wait()
		if n := releases.Load(); n != 1 {
			t.Fatalf("%d releases after a long idle spell with nothing new, want 1", n)
		}
		cancel()
		<-done
	})
}

func TestHeapAllocsCounts(t *testing.T) {
	t.Parallel()
	before := heapAllocs()
	sink = make([]byte, 1<<20)
	if got := heapAllocs() - before; got < 1<<20 {
		t.Errorf("heapAllocs grew by %d bytes over a 1 MiB allocation", got)
	}
}

var sink []byte

// Garbage made right after the start (the first rescans and audit walks)
// counts: the baseline is read when the loop starts, not a period later.
func TestReleaseWhenQuietCountsTheFirstPeriod(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var allocs, releases atomic.Uint64
		allocs.Store(2 << 20)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go releaseWhenQuiet(ctx, quietPeriod, allocs.Load, func() { releases.Add(1) })
		synctest.Wait()
		allocs.Add(3 << 20)
		time.Sleep(2*quietPeriod + time.Second)
		synctest.Wait()
		if n := releases.Load(); n != 1 {
			t.Fatalf("%d releases two periods after garbage made in the first, want 1", n)
		}
	})
}
