package daemon

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/imdsd/imdsd/config"
	"github.com/imdsd/imdsd/internal/broker"
)

// Reload re-reads imdsd's config and the AWS files, validates them whole
// and swaps them in. On error the running config keeps serving.
func (d *Daemon) Reload(ctx context.Context) error {
	err := d.load(ctx, nil, false)
	if errors.Is(err, errNotRunning) {
		return err
	}
	d.mu.Lock()
	d.lastLoad = reloadResult{At: time.Now(), Err: err}
	d.mu.Unlock()
	if err != nil {
		d.log.Error("reload failed; the last good config keeps serving", "err", err)
	}
	return err
}

var errNotRunning = errors.New("daemon is not running")

// load plans a generation from cfg (nil: read the config file) and
// commits it. Planning runs on its own goroutine, bounded by
// ReloadTimeout: a file that never finishes reading leaves the last good
// generation serving and the caller with an error, not a hang.
func (d *Daemon) load(ctx context.Context, cfg *config.Config, initial bool) error {
	return d.loadPlan(ctx, cfg, initial, false)
}

func (d *Daemon) loadPlan(ctx context.Context, cfg *config.Config, initial, unlock bool) error {
	ctx, cancel := context.WithTimeout(ctx, d.opt.ReloadTimeout)
	defer cancel()
	select {
	case d.reloading <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("an earlier reload is still reading files after %s (a file on a stalled network filesystem?); the last good config keeps serving", d.opt.ReloadTimeout)
	}
	d.mu.Lock()
	if !d.running {
		d.mu.Unlock()
		<-d.reloading
		return errNotRunning
	}
	prev := d.gen.Load()
	bound := map[string]bool{}
	for k := range d.listeners {
		bound[k] = true
	}
	epoch := d.lockEpoch
	d.mu.Unlock()

	res := make(chan error, 1) // sent with d.mu held
	abandoned := false         // guarded by d.mu
	d.spawn(func() {
		defer func() { <-d.reloading }()
		p, err := d.planRetrying(ctx, cfg, prev, bound, initial, unlock)
		d.mu.Lock()
		defer d.mu.Unlock()
		switch {
		case err == nil && (abandoned || !d.running):
			p.discard()
			err = errors.New("reload abandoned")
		case err == nil:
			if unlock && d.lockEpoch == epoch {
				d.locked.Store(false)
			}
			d.commit(p)
		}
		res <- err
	})
	select {
	case err := <-res:
		return err
	case <-ctx.Done():
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	abandoned = true
	select {
	case err := <-res: // it finished just in time
		return err
	default:
	}
	return fmt.Errorf("reload gave up after %s: reading and validating the files did not finish (a file on a stalled network filesystem?); the last good config keeps serving", d.opt.ReloadTimeout)
}

// planRetrying makes a plan, again if the AWS files changed meanwhile (an
// editor saving in several writes).
func (d *Daemon) planRetrying(ctx context.Context, cfg *config.Config, prev *generation, bound map[string]bool, initial, unlock bool) (*plan, error) {
	if cfg == nil {
		var err error
		if cfg, err = config.Load(d.opt.ConfigPath); err != nil {
			return nil, err
		}
	}
	for try := 0; ; try++ {
		p, err := d.makePlan(ctx, cfg, prev, bound, initial, unlock)
		if !errors.Is(err, errFilesChanged) || try == 5 {
			return p, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Lock drops every cached credential and MFA session from memory at once
// and refuses to serve (clients get a 503 saying so) until Unlock. It
// never waits for a reload.
func (d *Daemon) Lock() {
	d.mu.Lock()
	d.locked.Store(true)
	d.lockEpoch++
	g := d.gen.Load()
	next := g.with(func(n *generation) { n.brokers, n.also = map[string]*broker.Broker{}, nil })
	d.gen.Store(next)
	for n, t := range d.retiring {
		t.Stop()
		delete(d.retiring, n)
	}
	d.pushSettings(next)
	d.mu.Unlock()
	for _, b := range g.brokers {
		b.Stop() // the broker's provider chain, with any cached source session, goes with it
	}
	d.mfa.Clear()
	d.log.Warn("locked: every credential dropped from memory; nothing is served until `imdsd unlock`", "profiles", len(g.brokers))
}

// Unlock serves again: every profile fetches anew (MFA profiles need a new
// code). Clients keep getting "locked" until the new brokers are in place.
func (d *Daemon) Unlock(ctx context.Context) error {
	if !d.locked.Load() {
		return nil
	}
	if err := d.loadPlan(ctx, d.gen.Load().cfg, false, true); err != nil {
		return err
	}
	d.log.Info("unlocked")
	return nil
}

// Refresh asks every broker to fetch now (source keys rotated, `imdsd
// refresh`); requests keep being served from the cache meanwhile.
func (d *Daemon) Refresh() {
	for _, b := range d.gen.Load().brokers {
		b.RefreshNow()
	}
}

// retire keeps a replaced IMDS role answering for the switch grace, then
// stops answering it (and drops its broker unless something else serves
// it). Called with d.mu held.
func (d *Daemon) retire(name string) {
	if t, ok := d.retiring[name]; ok {
		t.Stop()
	}
	var t *time.Timer
	t = time.AfterFunc(d.opt.switchGrace, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.retiring[name] != t {
			return // superseded by a later reload, a lock or the shutdown
		}
		delete(d.retiring, name)
		g := d.gen.Load()
		next := g.with(func(n *generation) {
			n.also = slices.DeleteFunc(slices.Clone(g.also), func(a string) bool { return a == name })
		})
		b := g.brokers[name]
		if slices.Contains(servedProfiles(g.cfg), name) {
			b = nil
		}
		if b != nil {
			next.brokers = maps.Clone(g.brokers)
			delete(next.brokers, name)
		}
		d.gen.Store(next)
		d.pushSettings(next)
		if b != nil {
			d.spawnLocked(b.Stop)
		}
	})
	d.retiring[name] = t
}
