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
// the host's networks (rtnetlink dumps, ~1 MiB a minute on a machine with
// container churn), the audit's /proc walks and a refresh all leave some.
// So once the process has allocated quietRelease.min since the last
// release and then stays quiet for a whole period, it collects and hands
// the free pages back (debug.FreeOSMemory), once per idle spell. Under
// load it never does: every period sees allocation. Measured in
// docs/benchmarks.md ("Idle private memory").
const (
	quietPeriod = 15 * time.Second
	releaseMin  = 1 << 20   // bytes allocated since the last release
	quietMax    = 256 << 10 // bytes allocated in one period that still count as quiet
)

// quietRelease decides, one period at a time, when to release.
type quietRelease struct {
	min, quiet uint64
	base, prev uint64 // allocation counter at the last release, at the last period
	started    bool
}

// step takes the process's cumulative heap allocation at the end of a
// period and says whether to release now. The first reading, taken when
// the daemon starts serving, only sets the baseline: the start's
// allocations are mostly the live heap (SDK tables, clients), and a
// collection right after the start cost more runtime metadata than it
// freed.
func (q *quietRelease) step(allocs uint64) bool {
	if !q.started {
		q.started, q.base, q.prev = true, allocs, allocs
		return false
	}
	period := allocs - q.prev
	q.prev = allocs
	if allocs-q.base < q.min || period > q.quiet {
		return false
	}
	q.base = allocs
	return true
}

// releaseIdleGarbage returns idle garbage to the kernel until ctx is done.
func releaseIdleGarbage(ctx context.Context) {
	releaseWhenQuiet(ctx, quietPeriod, heapAllocs, debug.FreeOSMemory)
}

// releaseWhenQuiet runs quietRelease every period until ctx is done.
func releaseWhenQuiet(ctx context.Context, every time.Duration, allocs func() uint64, release func()) {
	q := quietRelease{min: releaseMin, quiet: quietMax}
	q.step(allocs())
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if q.step(allocs()) {
				release()
			}
		}
	}
}

// heapAllocs reads the cumulative bytes allocated on the heap; unlike
// runtime.ReadMemStats it does not stop the world.
func heapAllocs() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
