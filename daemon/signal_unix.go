//go:build !windows

package daemon

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// watchSignals reloads on SIGHUP, the usual way to ask a daemon to re-read
// its files, until ctx is done.
func (d *Daemon) watchSignals(ctx context.Context) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	d.spawn(func() {
		defer signal.Stop(ch)
		for {
			select {
			case <-ctx.Done():
				return
			case <-ch:
				d.log.Info("SIGHUP: reloading")
				_ = d.Reload(ctx) // Reload logs its own outcome
			}
		}
	})
}
