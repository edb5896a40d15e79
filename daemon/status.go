package daemon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/imdsd/imdsd/config"
	"github.com/imdsd/imdsd/imds"
	"github.com/imdsd/imdsd/internal/audit"
	"github.com/imdsd/imdsd/internal/control"
	"github.com/imdsd/imdsd/internal/keyrotate"
)

// The daemon is the control API's Backend (internal/control).
var _ control.Backend = (*Daemon)(nil)

// Status returns a snapshot. It reads the generation in force and waits
// for no reload.
func (d *Daemon) Status() control.Status {
	g := d.gen.Load()
	st := control.Status{
		PID: os.Getpid(), Started: d.started, Demo: d.opt.Demo, Locked: d.locked.Load(),
		ConfigFile: g.cfg.DisplayPath(), AWSFiles: d.files.All(),
		IMDSProfile: g.cfg.Profile, AuditDropped: d.audit.Dropped(), Warnings: g.warnings,
		KeyringBackend: g.cfg.Keyring.Backend, KeyringLocked: g.keyringFile && d.keyring.get() == "",
		SSOSessions: g.ssoStatus(),
	}
	for _, n := range g.served() {
		ps := control.ProfileStatus{Name: n, ServedAt: servedAt(g, n)}
		if p := g.profiles[n]; p != nil {
			ps.Kind, ps.RoleARN = p.Kind.String(), p.RoleARN
			if p.SSOCacheFile != "" {
				ps.SSOProfile = p.SSOProfile
				// A missing or unreadable token reads as no sign-in;
				// the profile's last error says why it fails.
				ps.SSOExpires, ps.SSORenews, _ = config.SSOTokenInfo(p.SSOCacheFile)
			}
		}
		if b := g.brokers[n]; b != nil {
			bs := b.State()
			ps.AccessKeyID, ps.Expires, ps.LastRefresh, ps.NextRefresh = bs.AccessKeyID, bs.Expires, bs.LastRefresh, bs.NextRefresh
			ps.LastError, ps.NeedsMFA, ps.MFAExpires, ps.Requests = bs.LastError, bs.NeedsMFA, bs.MFAExpires, bs.Requests
		}
		if kr, ok := g.keyring[n]; ok {
			ps.Keyring, ps.KeyringKeyID, ps.KeyringCreated = kr.root, kr.keyID, kr.created
			if keyrotate.Due(kr.created, g.cfg.Rotation.RotateAfter, time.Now()) {
				ps.KeyringRotate = keyrotate.StatusLine(kr.root, kr.keyID, kr.created, g.cfg.Rotation.RotateAfter, time.Now())
			}
			if kr.err != "" && ps.LastError == "" {
				ps.LastError = kr.err
			}
		}
		switch {
		case slices.Contains(g.missing, n):
			ps.LastError = fmt.Sprintf("profile %s is not in %s", n, strings.Join(d.files.All(), " or "))
		case st.Locked:
			ps.LastError = "locked"
		}
		st.Profiles = append(st.Profiles, ps)
	}
	d.mu.Lock()
	st.LastReload = d.lastLoad.At
	if d.lastLoad.Err != nil {
		st.ReloadError = d.lastLoad.Err.Error()
	}
	for _, l := range d.listeners {
		ls := control.ListenerStatus{Face: l.face, Addr: l.ln.Addr().String(), Allow: []string{"loopback"}}
		pol := d.policies[0]
		if l.face == "ecs" {
			pol = d.policies[1]
		}
		for _, a := range pol.Allow {
			ls.Allow = append(ls.Allow, a.String())
		}
		ls.Hosts = pol.Hosts
		st.Listeners = append(st.Listeners, ls)
	}
	d.mu.Unlock()
	sort.Slice(st.Listeners, func(i, j int) bool {
		return st.Listeners[i].Face+st.Listeners[i].Addr < st.Listeners[j].Face+st.Listeners[j].Addr
	})
	return st
}

// mfaBound keeps `imdsd mfa` well inside a TOTP code's 30 s life: past
// it the user is told what happened, and can type the next code.
const mfaBound = 20 * time.Second

// MFA starts an MFA session for a profile with a code, then has its broker
// fetch with it and waits for the result, all within mfaBound.
func (d *Daemon) MFA(ctx context.Context, profile, code string) (control.MFAResult, error) {
	g := d.gen.Load()
	if profile == "" {
		profile = g.cfg.Profile
	}
	if d.locked.Load() {
		return control.MFAResult{}, errors.New("imdsd is locked; run `imdsd unlock` first")
	}
	b := g.brokers[profile]
	if b == nil {
		return control.MFAResult{}, fmt.Errorf("profile %s is not served", profile)
	}
	bound := cmp.Or(d.opt.mfaBound, mfaBound)
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	exp, err := b.LoginMFA(ctx, code)
	if err != nil {
		if ctx.Err() != nil {
			return control.MFAResult{}, fmt.Errorf("STS did not answer GetSessionToken within %s, so no MFA session was started; check the network, then run `imdsd mfa` again with a new code (%v)", bound, err)
		}
		return control.MFAResult{}, err
	}
	res := control.MFAResult{Profile: profile, MFAExpires: exp}
	// Wait for the broker to use the session, so the user learns at once
	// whether the role can be assumed with it.
	st, err := b.Refresh(ctx)
	if err != nil {
		return res, fmt.Errorf("MFA session started (until %s), but fetching credentials with it failed: %w", exp.Local().Format(time.Kitchen), err)
	}
	res.AccessKeyID, res.Expires = st.AccessKeyID, st.Expires
	return res, nil
}

// Creds serves `imdsd creds`: a profile's credentials ("" = the IMDS
// profile), audited like any vend.
func (d *Daemon) Creds(r *http.Request, profile string) (imds.Credentials, error) {
	if profile == "" {
		profile = d.gen.Load().cfg.Profile
	}
	now := time.Now()
	c, err := d.Credentials(r.Context(), profile, now)
	if err == nil {
		d.audit.Vend("control")(r, profile, c, now)
	}
	return c, err
}

// Sessions lists who took which credentials recently.
func (d *Daemon) Sessions() []audit.Consumer { return d.audit.Sessions() }

func servedAt(g *generation, name string) []string {
	cfg := g.cfg
	var out []string
	if slices.Contains(g.leased, name) {
		return []string{"ecs /role/" + name + " (imdsd exec)"}
	}
	if name == cfg.Profile {
		out = append(out, "imds", "ecs /creds")
	}
	if name == cfg.Profile || slices.Contains(cfg.ECS.Profiles, name) {
		out = append(out, "ecs /role/"+name)
	}
	return out
}
