package daemon

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/imdsd/imdsd/config"
	"github.com/imdsd/imdsd/internal/broker"
	"github.com/imdsd/imdsd/internal/control"
)

// Reload re-reads imdsd's config and the AWS files, validates them whole
// and swaps them in. On error the running config keeps serving.
func (d *Daemon) Reload(ctx context.Context) error {
	return d.reload(ctx, loadOpts{})
}

// reload is Reload; o.fromWatcher says the file watcher asked for it.
func (d *Daemon) reload(ctx context.Context, o loadOpts) error {
	err := d.loadPlan(ctx, nil, o)
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
	return d.loadPlan(ctx, cfg, loadOpts{initial: initial})
}

// loadOpts say what kind of load this is.
type loadOpts struct {
	initial bool // the start: nothing serves yet
	unlock  bool // build brokers although locked, and unlock at commit
	// probe: commit only once this profile has credentials (`imdsd use`),
	// so a profile that cannot be served never replaces one that is.
	probe string
	// fromWatcher: the file watcher reported the change being loaded, so
	// its idea of the files is the one read here.
	fromWatcher bool
}

func (d *Daemon) loadPlan(ctx context.Context, cfg *config.Config, o loadOpts) error {
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
	leased := slices.Sorted(maps.Keys(d.leases))
	if d.watcher != nil && !o.fromWatcher {
		// A reload the watcher did not ask for (SIGHUP, use, unlock, a
		// second look): whatever the files do from here is reported, even
		// a return to what the watcher saw last (see Watcher.Forget). Not
		// after the watcher's own reloads, so that touches and unrelated
		// files beside the watched ones keep causing none.
		d.watcher.Forget()
	}
	d.mu.Unlock()

	res := make(chan error, 1) // sent with d.mu held
	abandoned := false         // guarded by d.mu
	d.spawn(func() {
		defer func() { <-d.reloading }()
		p, err := d.planRetrying(ctx, cfg, prev, bound, leased, o.initial, o.unlock)
		if err == nil && o.probe != "" {
			if err = p.probe(ctx, o.probe); err != nil {
				p.discard()
			}
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		switch {
		case err == nil && (abandoned || !d.running):
			p.discard()
			err = errors.New("reload abandoned")
		case err == nil:
			if o.unlock && d.lockEpoch == epoch {
				d.locked.Store(false)
			}
			d.commit(p)
			if d.keyAges != nil {
				d.keyAges.Reset(0) // a new or changed keyring key may be past rotate_after
			}
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
func (d *Daemon) planRetrying(ctx context.Context, cfg *config.Config, prev *generation, bound map[string]bool, leased []string, initial, unlock bool) (*plan, error) {
	if cfg == nil {
		var err error
		if cfg, err = config.Load(d.opt.ConfigPath); err != nil {
			return nil, err
		}
	}
	for try := 0; ; try++ {
		p, err := d.makePlan(ctx, cfg, prev, bound, leased, initial, unlock)
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
	next := g.with(func(n *generation) {
		// The SSO managers hold refresh tokens: they go too, and unlock
		// builds new ones from the token cache.
		n.brokers, n.also, n.keyringKeys, n.sso = map[string]*broker.Broker{}, nil, nil, nil
	})
	d.keyring.set("") // the file keyring's passphrase goes too
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
	for _, m := range g.sso {
		m.Stop()
	}
	d.mfa.Clear()
	d.log.Warn("locked: every credential dropped from memory; nothing is served until `imdsd unlock`", "profiles", len(g.brokers))
}

// Unlock serves again: every profile fetches anew (MFA profiles need a new
// code). Clients keep getting "locked" until the new brokers are in place.
// A passphrase opens the file keyring: it is checked against the keyring
// first, and a wrong one leaves everything locked as it was.
func (d *Daemon) Unlock(ctx context.Context, passphrase string) error {
	if passphrase != "" {
		if err := d.checkPassphrase(d.gen.Load().cfg, passphrase); err != nil {
			return err
		}
		d.keyring.set(passphrase)
		if !d.locked.Load() {
			// Only the keyring's profiles waited: a reload serves them.
			return d.Reload(ctx)
		}
	}
	if !d.locked.Load() {
		return nil
	}
	if err := d.loadPlan(ctx, d.gen.Load().cfg, loadOpts{unlock: true}); err != nil {
		return err
	}
	d.log.Info("unlocked")
	return nil
}

// Refresh asks every broker to fetch now, without waiting.
func (d *Daemon) Refresh() {
	for _, b := range d.gen.Load().brokers {
		b.RefreshNow()
	}
}

// RefreshAll has every broker fetch now (source keys rotated, `imdsd
// refresh`) and waits for each outcome; requests keep being served from
// the cache meanwhile.
func (d *Daemon) RefreshAll(ctx context.Context) []control.ProfileRefresh {
	g := d.gen.Load()
	out := make([]control.ProfileRefresh, 0, len(g.brokers))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, b := range g.brokers {
		wg.Go(func() {
			st, err := b.Refresh(ctx)
			r := control.ProfileRefresh{Name: name, AccessKeyID: st.AccessKeyID, Expires: st.Expires}
			if err != nil {
				r.Error = err.Error()
			}
			mu.Lock()
			out = append(out, r)
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.SortFunc(out, func(a, b control.ProfileRefresh) int { return strings.Compare(a.Name, b.Name) })
	return out
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
		if slices.Contains(g.served(), name) {
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
