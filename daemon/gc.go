package daemon

import (
	"os"
	"runtime/debug"
)

// gcPercent is imdsd's GOGC. The daemon's live heap is under 1 MiB (most
// of it the AWS SDK's package-level tables), so with Go's default the heap
// goal sits at the 4 MiB floor and a keep-alive credential load collects
// about 80 times a second, each cycle re-marking that same live heap. At
// 150 the floor is 6 MiB: ~40 % fewer collections, for at most 2 MiB more
// heap under load; idle memory is unchanged. Measured in
// docs/benchmarks.md ("Garbage collection").
const gcPercent = 150

// TuneGC applies gcPercent to this process unless the user set GOGC (which
// then wins, as with any Go program). Call it once, from the daemon's main.
func TuneGC() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(gcPercent)
	}
}
