package daemon

import (
	"context"
	"os"
	"runtime/debug"
	"sync"
	"time"
)

// settleMax bounds the wait for the first fetches (an STS that hangs must
// not keep the start's memory around for FetchTimeout); settleGrace lets
// the requests that waited on them be answered first.
const (
	settleMax   = 10 * time.Second
	settleGrace = 200 * time.Millisecond
)

// releaseWhenSettled gives back what only the start needed, once the start
// has settled (listeners bound, every profile's first fetch ended): the
// garbage of loading the configs and building the SDK clients, and on
// Linux the pages of imdsd's binary that the start touched (see
// pageOutExecutable). Idle VmRSS goes from 11.8 to 4.6 MiB (6.5 after
// 130 s idle); the first request after it pays ~0.3 ms of page faults once.
// docs/benchmarks.md, "Idle RSS", has the measurements. Once per process
// (tests run many daemons in one); IMDSD_TRIM=0 turns it off.
func (d *Daemon) releaseWhenSettled(ctx context.Context) {
	if os.Getenv("IMDSD_TRIM") == "0" {
		return
	}
	limit := time.NewTimer(settleMax)
	defer limit.Stop()
wait:
	for _, b := range *d.brokers.Load() {
		select {
		case <-ctx.Done():
			return
		case <-limit.C:
			break wait
		case <-b.started():
		}
	}
	select {
	case <-ctx.Done():
		return
	case <-time.After(settleGrace):
	}
	trimOnce.Do(func() {
		before := residentKiB()
		debug.FreeOSMemory()
		if err := pageOutExecutable(); err != nil {
			d.log.Debug("the binary's startup pages stay resident", "err", err)
		}
		d.log.Debug("startup memory released", "rss_kib_before", before, "rss_kib_after", residentKiB())
	})
	close(d.trimmed)
}

var trimOnce sync.Once
