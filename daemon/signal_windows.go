//go:build windows

package daemon

import "context"

// Windows has no SIGHUP; file watching and the control socket reload.
func (d *Daemon) watchSignals(ctx context.Context) {}
