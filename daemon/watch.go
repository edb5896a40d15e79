package daemon

import (
	"context"

	"github.com/imdsd/imdsd/config"
)

// watchedPaths: imdsd's config, the AWS files and the ECS token file, as
// actually in use (env overrides included).
func (d *Daemon) watchedPaths() []string {
	path := d.opt.ConfigPath
	if path == "" {
		path = config.DefaultPath()
	}
	out := []string{config.ExpandHome(path)}
	out = append(out, d.files.All()...)
	if tf := d.gen.Load().cfg.ECS.TokenFile; tf != "" {
		out = append(out, tf)
	}
	return out
}

// startWatcher reloads after each debounced burst of file changes, until
// ctx is done.
func (d *Daemon) startWatcher(ctx context.Context) error {
	w, err := config.NewWatcher(d.watchedPaths(), d.opt.Debounce, d.log)
	if err != nil {
		return err
	}
	d.spawn(func() {
		defer w.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case changed, ok := <-w.Events():
				if !ok {
					return
				}
				d.log.Debug("files changed", "paths", changed)
				if d.Reload(ctx) == nil {
					// The config may name a new token file.
					if err := w.SetPaths(d.watchedPaths()); err != nil {
						d.log.Warn("updating watched files", "err", err)
					}
				}
			}
		}
	})
	return nil
}
