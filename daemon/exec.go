package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/imdsd/imdsd/internal/control"
)

// Exec serves profile at ECS /role/<profile> for an `imdsd exec` command
// for as long as it runs, whether or not the config serves it: the lease
// ends with release (the command's control connection closing). It
// returns once the profile has credentials, or with the reason it has
// none.
func (d *Daemon) Exec(ctx context.Context, profile string) (control.ExecSession, func(), error) {
	if profile == "" {
		return control.ExecSession{}, nil, errors.New("name the profile: imdsd exec PROFILE -- COMMAND")
	}
	if d.locked.Load() {
		return control.ExecSession{}, nil, errors.New("imdsd is locked; run `imdsd unlock` first")
	}
	d.mu.Lock()
	d.leases[profile]++
	d.mu.Unlock()
	release := func() {
		d.mu.Lock()
		d.leases[profile]--
		last := d.leases[profile] <= 0
		if last {
			delete(d.leases, profile)
		}
		g := d.gen.Load()
		d.mu.Unlock()
		if last && slices.Contains(g.leased, profile) {
			// Stop serving it (and drop its credentials) at once.
			d.spawn(func() { _ = d.Reload(context.Background()) })
		}
	}
	g := d.gen.Load()
	if b := g.brokers[profile]; b == nil || !slices.Contains(g.ecsProfiles(), profile) && profile != g.cfg.Profile {
		if err := d.loadPlan(ctx, nil, loadOpts{probe: profile}); err != nil {
			release()
			return control.ExecSession{}, nil, err
		}
		g = d.gen.Load()
	} else if st := b.State(); st.AccessKeyID == "" {
		release()
		return control.ExecSession{}, nil, fmt.Errorf("profile %s has no credentials: %s", profile, st.LastError)
	}
	addr, ok := d.loopbackAddr("ecs")
	if !ok {
		release()
		return control.ExecSession{}, nil, errors.New("imdsd exec needs an ECS listener on loopback: add 127.0.0.1:9912 to ecs.listen")
	}
	region := g.cfg.Region
	if region == "" {
		if p := g.profiles[profile]; p != nil {
			region = p.Region
		}
	}
	if region == "" {
		region = g.region
	}
	return control.ExecSession{
		Profile: profile,
		URL:     "http://" + addr + "/role/" + profile,
		Token:   g.ecsToken,
		Region:  region,
	}, release, nil
}

// loopbackAddr is a bound address of face that a local process can dial.
func (d *Daemon) loopbackAddr(face string) (string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var fallback string
	for _, l := range d.listeners {
		if l.face != face {
			continue
		}
		ap, err := netip.ParseAddrPort(l.ln.Addr().String())
		if err != nil {
			continue
		}
		switch {
		case ap.Addr().IsLoopback():
			return ap.String(), true
		case ap.Addr().IsUnspecified():
			fallback = net.JoinHostPort("127.0.0.1", fmt.Sprint(ap.Port()))
		}
	}
	return fallback, fallback != ""
}
