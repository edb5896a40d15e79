package daemon

import (
	"context"
	"slices"

	"github.com/imdsd/imdsd/config"
)

// watchedPaths: imdsd's config, the AWS files and the ECS token file, as
// actually in use (env overrides included), and the SSO token cache files
// of the served profiles.
func (d *Daemon) watchedPaths() []string {
	path := d.opt.ConfigPath
	if path == "" {
		path = config.DefaultPath()
	}
	out := []string{config.ExpandHome(path)}
	out = append(out, d.files.All()...)
	g := d.gen.Load()
	if tf := g.cfg.ECS.TokenFile; tf != "" {
		out = append(out, tf)
	}
	for f := range g.ssoCaches() {
		out = append(out, f)
	}
	return out
}

// ssoCaches maps each SSO token cache file to the profiles that read it.
func (g *generation) ssoCaches() map[string][]string {
	out := map[string][]string{}
	for name, p := range g.profiles {
		if p != nil && p.SSOCacheFile != "" {
			out[p.SSOCacheFile] = append(out[p.SSOCacheFile], name)
		}
	}
	return out
}

// startWatcher reloads after each debounced burst of file changes, until
// ctx is done. A changed SSO token alone is no reason to reload: it wakes
// the profiles that read it instead.
func (d *Daemon) startWatcher(ctx context.Context) error {
	w, err := config.NewWatcher(d.watchedPaths(), d.opt.Debounce, d.log)
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.watcher = w
	d.mu.Unlock()
	d.spawn(func() {
		defer func() {
			d.mu.Lock()
			d.watcher = nil
			d.mu.Unlock()
			w.Close()
		}()
		for {
			select {
			case <-ctx.Done():
				return
			case changed, ok := <-w.Events():
				if !ok {
					return
				}
				d.log.Debug("files changed", "paths", changed)
				caches := d.gen.Load().ssoCaches()
				files := slices.DeleteFunc(slices.Clone(changed), func(p string) bool { return caches[p] != nil })
				if len(files) > 0 && d.reload(ctx, loadOpts{fromWatcher: true}) == nil {
					// The config may name a new token file or profile.
					if err := w.SetPaths(d.watchedPaths()); err != nil {
						d.log.Warn("updating watched files", "err", err)
					}
				}
				d.ssoTokensChanged(changed)
			}
		}
	})
	return nil
}

// ssoTokensChanged has the profiles that read a changed SSO token fetch
// now if their last fetch failed (not signed in, or the sign-in expired),
// so a login serves them at once instead of at the next backoff. Profiles
// being served keep their credentials: the SDK's own refresh of the token
// writes the file too, and must not cause another fetch.
func (d *Daemon) ssoTokensChanged(changed []string) {
	g := d.gen.Load()
	caches := g.ssoCaches()
	for _, f := range changed {
		// The session manager reads the file first: a new sign-in revives
		// the session before its profiles are woken.
		if m := g.sso[f]; m != nil {
			m.Changed()
		}
		for _, name := range caches[f] {
			if b := g.brokers[name]; b != nil && b.State().LastError != "" {
				d.log.Info("SSO token changed; fetching credentials", "profile", name)
				b.RefreshNow()
			}
		}
	}
}
