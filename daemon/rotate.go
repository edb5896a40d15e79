package daemon

import (
	"context"
	"slices"
	"time"

	"github.com/imdsd/imdsd/internal/broker"
	"github.com/imdsd/imdsd/internal/keyrotate"
)

// rotateCheck is how often auto_rotate looks at key ages. A look reads
// only the generation (no keyring item, no AWS call) unless a key is due,
// and ages are counted in days, so an hour is prompt enough.
const rotateCheck = time.Hour

// watchKeyAges runs auto_rotate at start and every rotateCheck, on a
// timer rather than a goroutine of its own: an idle daemon's memory is
// mostly goroutine stacks and heap, and this check is hourly.
// A commit resets it to fire at once, so a key that a reload brought in
// past rotate_after is rotated without waiting for the hour.
func (d *Daemon) watchKeyAges(ctx context.Context) {
	var t *time.Timer
	t = time.AfterFunc(rotateCheck, func() {
		d.spawn(func() {
			d.autoRotate(ctx)
			if ctx.Err() == nil {
				t.Reset(rotateCheck)
			}
		})
	})
	context.AfterFunc(ctx, func() { t.Stop() })
	d.mu.Lock()
	d.keyAges = t
	d.mu.Unlock()
	t.Reset(0) // the first look now; t is assigned, which the callback reads
}

// autoRotate rotates, one at a time, the keyring keys behind served
// profiles that are past rotate_after when auto_rotate is on, then
// reloads so the brokers use the new keys. Clients go on being served
// from the brokers in place meanwhile.
func (d *Daemon) autoRotate(ctx context.Context) {
	g := d.gen.Load()
	if !g.cfg.Rotation.AutoRotate || d.locked.Load() || !d.rotating.CompareAndSwap(false, true) {
		return
	}
	defer d.rotating.Store(false)
	var due []string
	for _, kr := range g.keyring {
		if keyrotate.Due(kr.created, g.cfg.Rotation.RotateAfter, time.Now()) && !slices.Contains(due, kr.root) {
			due = append(due, kr.root)
		}
	}
	if len(due) == 0 {
		return
	}
	slices.Sort(due)
	store, err := d.openKeyring(g.cfg, d.keyring.get())
	if err != nil {
		d.log.Warn("auto_rotate: the keyring cannot be opened; keys past rotate_after stay as they are", "err", err)
		return
	}
	rotated := false
	for _, root := range due {
		res, err := keyrotate.Rotate(ctx, keyrotate.Options{
			Store: store, Profile: root,
			STS: broker.STSOptions{Files: g.files, HTTPClient: d.opt.HTTPClient},
		})
		if res.Stored != "" && res.Stored != res.OldKeyID {
			rotated = true
		}
		if err != nil {
			d.log.Error("auto_rotate failed", "profile", root, "err", err)
			continue
		}
		d.log.Info("auto_rotate: key rotated", "profile", root, "old", res.OldKeyID, "new", res.NewKeyID)
	}
	if rotated {
		if err := d.Reload(ctx); err != nil {
			d.log.Error("auto_rotate: reload onto the new key failed; the old brokers keep serving until it succeeds", "err", err)
		}
	}
}
