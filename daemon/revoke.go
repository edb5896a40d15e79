package daemon

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/imdsd/imdsd/config"
	"github.com/imdsd/imdsd/internal/broker"
	"github.com/imdsd/imdsd/internal/control"
	"github.com/imdsd/imdsd/internal/iamops"
)

// revokeBound keeps revoke inside the CLI's 30 s request timeout: one IAM
// call, then one fetch.
const revokeBound = 25 * time.Second

// Revoke invalidates at AWS every session of a served profile's role
// issued until now, as the IAM console's "Revoke active sessions" does,
// then drops the profile's cached credentials and fetches new ones, which
// work because they are issued after the cut-off. IAM is called with the
// profile's source credentials (the identity that assumes the role), so
// that identity needs iam:PutRolePolicy on the role. When IAM refuses,
// nothing is dropped: the served credentials still work.
func (d *Daemon) Revoke(ctx context.Context, profile string) (control.RevokeResult, error) {
	ctx, cancel := context.WithTimeout(ctx, revokeBound)
	defer cancel()
	g := d.gen.Load()
	if profile == "" {
		profile = g.cfg.Profile
	}
	res := control.RevokeResult{Profile: profile}
	p, err := d.revokable(g, profile)
	if err != nil {
		return res, err
	}
	res.RoleARN = p.RoleARN
	if res.Cutoff, err = d.revokeAtAWS(ctx, p); err != nil {
		return res, err
	}
	// Locked: nothing is cached, and nothing is fetched until unlock.
	b := g.brokers[profile]
	if b == nil || d.locked.Load() {
		return res, nil
	}
	st, err := b.Renew(ctx, res.Cutoff)
	// A reload meanwhile may have replaced the broker, whose first fetch
	// may predate the cut-off: renew that one too.
	if nb := d.gen.Load().brokers[profile]; err == nil && nb != nil && nb != b {
		st, err = nb.Renew(ctx, res.Cutoff)
	}
	if err != nil {
		return res, fmt.Errorf("profile %s: sessions of %s issued before %s are revoked at AWS and the old credentials were dropped, but fetching new ones failed: %w; `imdsd refresh` tries again",
			profile, p.RoleARN, res.Cutoff.Format(time.RFC3339), err)
	}
	res.AccessKeyID, res.Expires = st.AccessKeyID, st.Expires
	return res, nil
}

// LockRevoke locks first, so nothing more is served while IAM is asked,
// then revokes the sessions of every role the daemon served (once per
// role). Profiles that are not roles are reported with a note: their
// temporary credentials cannot be revoked this way.
func (d *Daemon) LockRevoke(ctx context.Context) []control.RevokeResult {
	ctx, cancel := context.WithTimeout(ctx, revokeBound)
	defer cancel()
	g := d.gen.Load()
	d.Lock()
	var out []control.RevokeResult
	var todo []int // indexes in out of the roles to revoke
	roles := map[string]bool{}
	for _, name := range g.served() {
		p := g.profiles[name]
		res := control.RevokeResult{Profile: name}
		switch {
		case d.opt.Demo:
			res.Note = "demo mode: dummy credentials, nothing to revoke at AWS"
		case p == nil:
			continue // not in the AWS files: nothing was served
		case p.Kind != config.KindAssumeRole:
			res.Note = fmt.Sprintf("not a role (%s): dropped from memory, but its temporary credentials stay valid at AWS until they expire", p.Kind)
		case roles[p.RoleARN]:
			res.RoleARN, res.Note = p.RoleARN, "same role as another profile: revoked once"
		default:
			roles[p.RoleARN] = true
			res.RoleARN = p.RoleARN
			todo = append(todo, len(out))
		}
		out = append(out, res)
	}
	var wg sync.WaitGroup
	for _, i := range todo {
		r := &out[i]
		wg.Go(func() {
			cutoff, err := d.revokeAtAWS(ctx, g.profiles[r.Profile])
			r.Cutoff = cutoff
			if err != nil {
				r.Error = err.Error()
			}
		})
	}
	wg.Wait()
	slices.SortFunc(out, func(a, b control.RevokeResult) int { return strings.Compare(a.Profile, b.Profile) })
	return out
}

// revokable finds a served role profile, or says why it cannot be revoked.
func (d *Daemon) revokable(g *generation, profile string) (*config.Profile, error) {
	if d.opt.Demo {
		return nil, errors.New("demo mode serves dummy credentials: there is nothing to revoke at AWS")
	}
	p := g.profiles[profile]
	if p == nil {
		return nil, fmt.Errorf("profile %s is not served; imdsd revokes the role of a profile it serves (see `imdsd status`), or use the IAM console's Revoke active sessions", profile)
	}
	if p.Kind != config.KindAssumeRole {
		return nil, fmt.Errorf("profile %s is not a role profile (it is %s): only a role's sessions can be revoked; for long-term keys, rotate them", profile, p.Kind)
	}
	return p, nil
}

// revokeAtAWS puts the revocation policy on p's role with the profile's
// source credentials and returns the cut-off, once it has passed. The cut-off is the next
// whole second: the policy has second precision, and rounding up covers
// credentials issued earlier in this very second.
func (d *Daemon) revokeAtAWS(ctx context.Context, p *config.Profile) (time.Time, error) {
	cutoff := time.Now().Truncate(time.Second).Add(time.Second)
	g := d.gen.Load()
	so := broker.STSOptions{Files: g.files, SessionName: d.sessionName, HTTPClient: d.opt.HTTPClient, Opts: g.cfg.ProfileOptions(p.Name), Keys: g.keyringKeys[p.Keyring]}
	cfg, err := broker.SourceConfig(ctx, p, so)
	if err != nil {
		return time.Time{}, err
	}
	if err := iamops.RevokeOlderSessions(ctx, cfg, p.RoleARN, cutoff); err != nil {
		var ie *iamops.Error
		if errors.As(err, &ie) {
			ie.Caller = "the source credentials (profile " + p.SourceChain[1] + ")"
		}
		return time.Time{}, fmt.Errorf("profile %s: %w", p.Name, err)
	}
	d.audit.Revoked(p.RoleARN, cutoff)
	d.log.Warn("revoked at AWS every session of the role issued before the cut-off", "profile", p.Name, "role", p.RoleARN, "cutoff", cutoff.UTC().Format(time.RFC3339))
	// Return once the cut-off has passed (under a second), so whatever is
	// fetched next, by a renew or an unlock, is issued after it.
	if wait := time.Until(cutoff); wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
	return cutoff, nil
}
