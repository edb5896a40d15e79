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
	type want struct{ release, soon bool }
	no, soon, rel := want{}, want{soon: true}, want{release: true}
	for _, tc := range []struct {
		name   string
		allocs []uint64 // cumulative, one per period
		want   []want
	}{
		{"the start's allocations are the baseline", []uint64{50 * mib, 50 * mib, 50 * mib}, []want{soon, no, no}},
		{"idle with nothing new: never, and not soon", []uint64{3 * mib, 3*mib + 1000, 3*mib + 2000, 3*mib + 3000}, []want{soon, no, no, no}},
		{"garbage, then a quiet period: once", []uint64{3 * mib, 5 * mib, 5 * mib, 5 * mib}, []want{soon, soon, rel, no}},
		{"garbage in small steps, each period quiet", []uint64{0, mib / 4, mib / 2, 3 * mib / 4, mib, mib + 100}, []want{soon, no, no, no, rel, no}},
		{"under load: never, and look again soon", []uint64{0, 40 * mib, 80 * mib, 120 * mib}, []want{soon, soon, soon, soon}},
		{"load, then quiet: once, then again only after more garbage", []uint64{0, 40 * mib, 40 * mib, 40 * mib, 42 * mib, 42 * mib}, []want{soon, soon, rel, no, soon, rel}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			q := quietRelease{min: releaseMin, quiet: quietMax}
			for i, a := range tc.allocs {
				r, s := q.step(a)
				if got := (want{r, s}); got != tc.want[i] {
					t.Errorf("period %d (%d bytes allocated): %+v, want %+v", i, a, got, tc.want[i])
				}
			}
		})
	}
}

// loop runs releaseWhenQuiet in a synctest bubble over a fake allocation
// counter, counting its looks and its releases.
type loop struct {
	allocs, looks, releases atomic.Uint64
}

func (l *loop) run(ctx context.Context) {
	releaseWhenQuiet(ctx, func() uint64 { l.looks.Add(1); return l.allocs.Load() }, func() { l.releases.Add(1) })
}

func (l *loop) expect(t *testing.T, after time.Duration, releases uint64, what string) {
	t.Helper()
	time.Sleep(after)
	synctest.Wait()
	if n := l.releases.Load(); n != releases {
		t.Fatalf("%s: %d releases, want %d", what, n, releases)
	}
}

// On a fake clock: the start is not released; a burst of garbage is,
// once, within two periods of going quiet; an idle daemon is looked at
// rarely; garbage made during a long wait is released within the longest
// wait and two periods.
func TestReleaseWhenQuietLoop(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var l loop
		l.allocs.Store(2 << 20) // the start
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go l.run(ctx)
		synctest.Wait()
		l.allocs.Add(3 << 20) // the first rescans: garbage in the first period counts
		l.expect(t, quietPeriod+time.Second, 0, "while the burst's period runs")
		l.expect(t, quietPeriod, 1, "two periods after a burst")

		looks := l.looks.Load()
		l.expect(t, 30*time.Minute, 1, "after half an hour with nothing new")
		if n := l.looks.Load() - looks; n > 20 {
			t.Errorf("%d looks in half an hour of idle, want at most 20 (one per %v)", n, quietMaxPeriod)
		}

		l.allocs.Add(2 << 20) // garbage while the loop waits its longest
		l.expect(t, quietMaxPeriod+2*quietPeriod, 2, "after garbage made during a long wait")
	})
}

// Under load the loop never releases: every period allocates.
func TestReleaseWhenQuietNeverUnderLoad(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var l loop
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go l.run(ctx)
		for range 60 { // ten minutes at 40 MiB a second
			time.Sleep(10 * time.Second)
			l.allocs.Add(400 << 20)
		}
		l.expect(t, 0, 0, "under ten minutes of load")
	})
}

func TestHeapAllocsCounts(t *testing.T) {
	t.Parallel()
	read := heapAllocs()
	before := read()
	sink = make([]byte, 1<<20)
	if got := read() - before; got < 1<<20 {
		t.Errorf("heapAllocs grew by %d bytes over a 1 MiB allocation", got)
	}
}

var sink []byte
