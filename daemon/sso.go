package daemon

import (
	"context"
	"slices"

	"github.com/imdsd/imdsd/config"
	"github.com/imdsd/imdsd/internal/control"
	"github.com/imdsd/imdsd/internal/ssosession"
)

// planSSO gives the plan one session manager per SSO token cache file its
// profiles read: the running one when the sign-in is set up the same way
// (it keeps its state: a session that died stays dead until a sign-in),
// else a new one, started at commit. A manager that cannot be built is
// logged and left out: the SDK then renews the token itself, as without
// imdsd.
func (d *Daemon) planSSO(ctx context.Context, p *plan, prev *generation) {
	next := p.gen
	next.sso = map[string]*ssosession.Manager{}
	for file, names := range next.ssoCaches() {
		slices.Sort(names)
		m, err := ssosession.ForProfile(ctx, ssosession.ProfileOptions{
			Profile: next.profiles[names[0]].SSOProfile, CacheFile: file,
			Files: d.files, HTTPClient: d.opt.HTTPClient, Log: d.log, Notify: d.opt.Notify,
		})
		if err != nil {
			d.log.Warn("the SSO sign-in cannot be kept alive; the SDK renews it itself", "profiles", names, "err", err)
			continue
		}
		if old := prev.sso[file]; old != nil && old.Same(m) {
			next.sso[file] = old
			continue
		}
		next.sso[file] = m
		p.freshSSO = append(p.freshSSO, m)
	}
}

// ssoRenewed: the profile's sign-in got a new manager in this plan, so a
// kept broker would still ask the old one.
func (p *plan) ssoRenewed(rp *config.Profile) bool {
	if rp == nil || rp.SSOCacheFile == "" {
		return false
	}
	m := p.gen.sso[rp.SSOCacheFile]
	return m != nil && slices.Contains(p.freshSSO, m)
}

// ssoGate is the check a profile's broker makes before each fetch, nil
// for a profile without a managed sign-in.
func (g *generation) ssoGate(rp *config.Profile) func(context.Context) error {
	if rp == nil || g.sso[rp.SSOCacheFile] == nil {
		return nil
	}
	return g.sso[rp.SSOCacheFile].Check
}

// ssoStatus lists each sign-in once, with the profiles that use it.
func (g *generation) ssoStatus() []control.SSOSessionStatus {
	caches := g.ssoCaches()
	var out []control.SSOSessionStatus
	for file, m := range g.sso {
		st := m.Status()
		names := slices.Sorted(slices.Values(caches[file]))
		out = append(out, control.SSOSessionStatus{
			Name: st.Name, Login: st.Login, StartURL: st.StartURL, Region: st.Region, Profiles: names,
			SignedIn: st.SignedIn, Expires: st.Expires, Renews: st.Renews, RegistrationExpires: st.RegistrationExpires,
			SignInBy: st.SignInBy, Ended: st.Dead, LastError: st.LastError, Renewals: st.Refreshes, LastRenewal: st.LastRefresh,
		})
	}
	slices.SortFunc(out, func(a, b control.SSOSessionStatus) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return out
}
