package daemon

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Garbage made while the daemon is idle stays resident: its heap is far
// below Go's 6 MiB goal (gc.go), so nothing collects it for minutes, and a
// collection returns pages to the kernel only above that goal. Rescans of
// the host's networks (rtnetlink dumps), the audit's /proc walks and a
// refresh all leave some: a daemon left alone on a busy machine went from
// 3.2 to 4.6-9.7 MiB private within two minutes. So once the process has
// allocated releaseMin since the last release and then stays quiet for a
// whole period, it collects and hands the free pages back
// (debug.FreeOSMemory), once per idle spell. Under load it never does:
// every period sees allocation. Measured in docs/benchmarks.md ("Idle
// growth, and a release when the daemon goes quiet").
const (
	quietPeriod    = 15 * time.Second
	quietMaxPeriod = 2 * time.Minute // between looks while nothing happens
	releaseMin     = 1 << 20         // bytes allocated since the last release
	quietMax       = 256 << 10       // bytes allocated in one period that still count as quiet
)

// quietRelease decides, one period at a time, when to release.
type quietRelease struct {
	min, quiet uint64
	base, prev uint64 // allocation counter at the last release, at the last period
	started    bool
}

// step takes the process's cumulative heap allocation at the end of a
// period and says whether to release now, and whether to look again soon
// (the process is busy, or garbage waits for a quiet period) rather than
// after a longer period. The first reading, taken when the daemon starts
// serving, only sets the baseline: the start's allocations are mostly the
// live heap (SDK tables, clients), and a collection right after the start
// cost more runtime metadata than it freed.
func (q *quietRelease) step(allocs uint64) (release, soon bool) {
	if !q.started {
		q.started, q.base, q.prev = true, allocs, allocs
		return false, true
	}
	period := allocs - q.prev
	q.prev = allocs
	pending := allocs - q.base
	if pending >= q.min && period <= q.quiet {
		q.base = allocs
		return true, false
	}
	return false, pending >= q.min || period > q.quiet
}

// releaseIdleGarbage returns idle garbage to the kernel until ctx is done.
func releaseIdleGarbage(ctx context.Context) {
	releaseWhenQuiet(ctx, heapAllocs(), debug.FreeOSMemory)
}

// releaseWhenQuiet runs quietRelease until ctx is done: every quietPeriod
// while something happens, backing off to quietMaxPeriod while nothing
// does, so that an idle daemon is not woken every few seconds for it.
func releaseWhenQuiet(ctx context.Context, allocs func() uint64, release func()) {
	q := quietRelease{min: releaseMin, quiet: quietMax}
	q.step(allocs())
	every := quietPeriod
	t := time.NewTimer(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rel, soon := q.step(allocs())
		if rel {
			release()
		}
		every = min(2*every, quietMaxPeriod)
		if soon {
			every = quietPeriod
		}
		t.Reset(every)
	}
}

// heapAllocs returns a reader of the cumulative bytes allocated on the
// heap; unlike runtime.ReadMemStats it does not stop the world.
func heapAllocs() func() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	return func() uint64 {
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
}
