//go:build !windows

package daemon

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// watchSignals reloads on SIGHUP, the usual way to ask a daemon to re-read
// its files.
func (d *Daemon) watchSignals(ctx context.Context) (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-ch:
				d.log.Info("SIGHUP: reloading")
				_ = d.Reload() // Reload logs its own outcome
			}
		}
	}()
	return func() { signal.Stop(ch) }
}
