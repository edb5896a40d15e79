package daemon

import (
	"context"
	"runtime/debug"
)

// releaseStartGarbage hands the start's garbage (config loading, the SDK's
// clients, the first fetches) back to the kernel once every first fetch
// has ended: about 1 MiB of private memory the daemon would otherwise keep
// resident for its whole life (docs/benchmarks.md, "The start-memory
// release"). Only heap pages: the binary's own pages are left alone.
func (d *Daemon) releaseStartGarbage(ctx context.Context) {
	for _, b := range d.gen.Load().brokers {
		select {
		case <-b.Started():
		case <-ctx.Done():
			return
		}
	}
	debug.FreeOSMemory()
}
