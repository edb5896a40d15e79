package daemon

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/imdsd/imdsd/config"
	"github.com/imdsd/imdsd/imds"
	"github.com/imdsd/imdsd/internal/broker"
	"github.com/imdsd/imdsd/internal/keystore"
	"github.com/imdsd/imdsd/internal/ssosession"
)

// A generation is one config in force: never changed once stored in
// d.gen; a change makes a new one (with).
type generation struct {
	cfg *config.Config
	// profiles are the served profiles as resolved from the AWS files.
	profiles map[string]*config.Profile
	// brokers serve credentials per profile (empty while locked).
	brokers map[string]*broker.Broker
	// missing: configured profiles not in the AWS files (404 until added).
	missing []string
	// vanished: served profiles missing from the AWS files at this load,
	// kept until a second look confirms they are gone.
	vanished map[string]bool
	ecsToken string
	region   string
	// also: replaced IMDS roles still answering for the switch grace.
	also []string
	// warnings about the AWS files, for the log and status.
	warnings []string
	// leased: profiles served at ECS /role/<name> for `imdsd exec`
	// commands while they run, besides what the config serves.
	leased []string
	// files are the AWS files the profiles were resolved from: the
	// user's, plus the keyring overlay when the keyring holds profiles.
	files config.AWSFiles
	// keyring: per served profile whose chain starts in the keyring, its
	// key's id and age, or why it is not served.
	keyring map[string]keyringProfile
	// keyringKeys are the keyring keys the brokers were built with, per
	// keyring profile (revoke needs them too); dropped by lock.
	keyringKeys map[string]*aws.Credentials
	// keyringFile: the keyring is the file backend and holds profiles, so
	// they are served only while the daemon holds its passphrase.
	keyringFile bool
	// sso keeps the IAM Identity Center sign-ins the brokers use alive:
	// one manager per token cache file (sso-session or legacy start URL).
	sso map[string]*ssosession.Manager
}

// keyringProfile is what status shows of a keyring profile.
type keyringProfile struct {
	root    string // the keyring profile
	keyID   string
	created time.Time
	err     string // why it is not served; "" when it is
}

// with returns a copy of g changed by f (maps are shared unless f
// replaces them).
func (g *generation) with(f func(*generation)) *generation {
	n := *g
	f(&n)
	return &n
}

// plan is a validated generation with everything it needs made ready:
// brokers built (not started) and new listeners bound (not yet counted).
// Committing it cannot fail; dropping it costs discard().
type plan struct {
	gen     *generation
	initial bool
	fresh   []*broker.Broker        // built for this plan, started at commit
	started map[*broker.Broker]bool // fresh ones a probe started already
	added   map[string]*listener    // bound for this plan
	// freshSSO: session managers built for this plan, started at commit.
	freshSSO []*ssosession.Manager
	want     map[string]bool // every listener key the config asks for
	// for the log line
	addedP, changedP, removedP []string
}

func (p *plan) discard() {
	for _, l := range p.added {
		l.close(time.Second)
	}
	for b := range p.started {
		b.Stop()
	}
}

// probe starts the plan's broker for name (if it is new) and waits for its
// first fetch: an error says why the profile cannot be served.
func (p *plan) probe(ctx context.Context, name string) error {
	if slices.Contains(p.gen.missing, name) {
		return fmt.Errorf("profile %s is not in the AWS files; add a [profile %s] section", name, name)
	}
	b := p.gen.brokers[name]
	if b == nil {
		return fmt.Errorf("profile %s would not be served", name)
	}
	if slices.Contains(p.fresh, b) {
		if p.started == nil {
			p.started = map[*broker.Broker]bool{}
		}
		b.Start(context.Background())
		p.started[b] = true
		select {
		case <-b.Started():
		case <-ctx.Done():
			return fmt.Errorf("profile %s: no credentials from STS in time; still serving the previous profile", name)
		}
	}
	if st := b.State(); st.AccessKeyID == "" {
		msg := st.LastError
		if msg == "" {
			msg = "no credentials"
		}
		return fmt.Errorf("not switching to %s: %s; still serving the previous profile", name, msg)
	}
	return nil
}

var errFilesChanged = errors.New("the AWS files changed while being loaded")

// makePlan reads and validates everything for cfg against the generation
// in force (prev) and the listeners bound now. It holds no lock: status,
// lock and requests go on meanwhile. Only one plan is made at a time.
func (d *Daemon) makePlan(ctx context.Context, cfg *config.Config, prev *generation, bound map[string]bool, leased []string, initial, unlock bool) (*plan, error) {
	if d.opt.planHook != nil {
		d.opt.planHook(ctx)
	}
	p := &plan{initial: initial, gen: &generation{cfg: cfg, profiles: map[string]*config.Profile{}, vanished: map[string]bool{},
		files: d.files, keyring: map[string]keyringProfile{}, keyringKeys: map[string]*aws.Credentials{}}}
	for _, n := range leased {
		if !slices.Contains(servedProfiles(cfg), n) {
			p.gen.leased = append(p.gen.leased, n)
		}
	}
	names := p.gen.served()
	next := p.gen

	// 0. The keyring: which profiles it holds (no secret read yet), and
	// the overlay that lets the SDK's loader resolve chains rooted there.
	var kp *keyringPlan
	if !d.opt.Demo {
		kp = d.planKeyring(cfg)
		next.files = kp.files
		next.keyringFile = kp.file
	}

	// 1. Resolve profiles (files only, no network). The files are hashed
	// around resolution and provider building: an edit landing in between
	// would mean the providers were built from unvalidated text.
	stamp, err := config.StampFiles(next.files)
	if err != nil {
		return nil, err
	}
	if !d.opt.Demo {
		for _, n := range names {
			rp, err := config.ResolveProfile(ctx, next.files, n)
			var nf *config.ProfileNotFoundError
			switch {
			case errors.As(err, &nf) && !initial && prev.profiles[n] != nil && !prev.vanished[n]:
				// A served profile vanished: perhaps an editor is halfway
				// through rewriting the file in place. Keep serving it and
				// look again shortly; only a second miss removes it.
				next.profiles[n] = prev.profiles[n]
				next.vanished[n] = true
				d.log.Info("profile missing from the AWS files; checking again before dropping it", "profile", n)
				continue
			case errors.As(err, &nf):
				next.missing = append(next.missing, n)
				d.log.Warn("profile not found; requests for it get 404 until it is added", "profile", n, "err", err)
				continue
			case err != nil:
				return nil, err
			}
			next.profiles[n] = rp
		}
	}

	// 2. SSO session managers, which the brokers of SSO profiles consult.
	if !d.locked.Load() || unlock {
		d.planSSO(ctx, p, prev)
	}

	// 3. Brokers: keep unchanged profiles (and their cached credentials);
	// build changed and new ones, started only at commit.
	old := prev.brokers
	next.brokers = map[string]*broker.Broker{}
	for _, n := range names {
		if slices.Contains(next.missing, n) || (d.locked.Load() && !unlock) {
			continue
		}
		var keys *aws.Credentials
		if rp := next.profiles[n]; rp != nil && rp.Keyring != "" {
			if next.vanished[n] {
				// Kept from the previous generation, key and all.
				keys = prev.keyringKeys[rp.Keyring]
				next.keyring[n] = prev.keyring[n]
			} else {
				// Keys are read only to build brokers: never while locked.
				k, err := kp.keysFor(rp.Keyring)
				kr := keyringProfile{root: rp.Keyring, keyID: k.AccessKeyID, created: k.Created}
				if err != nil {
					kr.err = err.Error()
					if errors.Is(err, keystore.ErrNoPassphrase) {
						kr.err = keyringLockedMessage
					}
					next.keyring[n] = kr
					continue
				}
				next.keyring[n] = kr
				keys = withKeyringKeys(rp, k)
			}
			next.keyringKeys[rp.Keyring] = keys
		}
		if ob, ok := old[n]; ok && d.sameProfile(prev, next, n) && !p.ssoRenewed(next.profiles[n]) {
			next.brokers[n] = ob
			continue
		}
		if _, ok := old[n]; ok {
			p.changedP = append(p.changedP, n)
		} else {
			p.addedP = append(p.addedP, n)
		}
		b, err := d.newBroker(ctx, n, next.profiles[n], cfg, next.files, keys, stamp, next.ssoGate(next.profiles[n]))
		if err != nil {
			return nil, err
		}
		next.brokers[n] = b
		p.fresh = append(p.fresh, b)
	}
	for n := range old {
		if _, ok := next.brokers[n]; !ok {
			p.removedP = append(p.removedP, n)
		}
	}
	if !d.opt.Demo {
		if now, err := config.StampFiles(next.files); err != nil {
			return nil, err
		} else if now != stamp {
			return nil, errFilesChanged
		}
		p.gen.warnings = config.AWSFileWarnings(d.files, names...)
		p.gen.warnings = append(p.gen.warnings, keyringWarnings(kp, next)...)
	}

	// 4. The ECS token.
	token, created, err := config.EnsureTokenFile(cfg.ECS.TokenFile)
	if err != nil {
		return nil, fmt.Errorf("ecs.token_file: %w", err)
	}
	if created {
		d.log.Info("created ECS token file", "path", cfg.ECS.TokenFile)
	}
	next.ecsToken = token

	next.region = cfg.Region
	if next.region == "" {
		if rp := next.profiles[cfg.Profile]; rp != nil {
			next.region = rp.Region
		}
	}
	if next.region == "" {
		next.region = "us-east-1"
	}

	// 5. Listeners: bind the new ones now, so a bind failure leaves the
	// running set as it was.
	p.want = map[string]bool{}
	p.added = map[string]*listener{}
	for _, f := range []struct {
		face string
		list []string
		h    *imds.Guard
	}{{"imds", cfg.IMDS.Listen, d.ec2Guard}, {"ecs", cfg.ECS.Listen, d.ecsGuard}} {
		for _, a := range f.list {
			k := f.face + "|" + a
			p.want[k] = true
			if bound[k] || p.added[k] != nil {
				continue
			}
			l, err := listen(f.face, a, f.h, d.log)
			if err != nil {
				p.discard()
				return nil, err
			}
			l.srv.SetMaxConns(maxConns(cfg, f.face))
			p.added[k] = l
		}
	}
	return p, nil
}

// commit puts a plan in force. Called with d.mu held; it does no I/O and
// cannot fail. What the old generation no longer needs (replaced brokers,
// removed listeners) is let go of on tracked goroutines.
func (d *Daemon) commit(p *plan) {
	prev := d.gen.Load()
	next := p.gen
	cfg := next.cfg

	// A replaced IMDS role keeps answering for a grace period: a client
	// that listed the old name just before the switch still gets its GET.
	if was := prev.cfg.Profile; !p.initial && was != cfg.Profile && prev.brokers[was] != nil && !slices.Contains(next.missing, was) {
		d.retire(was)
	}
	for n, t := range d.retiring {
		if n == cfg.Profile || slices.Contains(next.missing, n) || (prev.brokers[n] == nil && next.brokers[n] == nil) {
			t.Stop()
			delete(d.retiring, n)
			continue
		}
		if next.brokers[n] == nil {
			next.brokers[n] = prev.brokers[n]
			p.removedP = slices.DeleteFunc(p.removedP, func(r string) bool { return r == n })
		}
		next.also = append(next.also, n)
	}
	if d.locked.Load() {
		// Locked (and not by a lock older than an unlock's plan): serve
		// nothing it built, and hold none of the keyring's keys.
		for _, b := range p.fresh {
			b.Stop()
		}
		p.fresh, p.started = nil, nil
		next.brokers, next.keyringKeys = map[string]*broker.Broker{}, nil
		p.freshSSO, next.sso = nil, nil
	}
	for _, b := range prev.brokers {
		b.SetRefreshBefore(cfg.RefreshBefore)
	}
	for _, b := range p.fresh {
		if !p.started[b] {
			b.Start(context.Background()) // stopped by Stop, when replaced or at shutdown
		}
	}
	for _, m := range p.freshSSO {
		m.Start() // stopped when a generation no longer has it, or at shutdown
	}
	d.gen.Store(next)
	d.pushSettings(next)

	for n, ob := range prev.brokers {
		if next.brokers[n] != ob {
			d.spawnLocked(ob.Stop)
		}
	}
	for f, om := range prev.sso {
		if next.sso[f] != om {
			d.spawnLocked(om.Stop)
		}
	}
	var boundL, closedL []string
	for k, l := range p.added {
		d.listeners[k] = l
		boundL = append(boundL, l.face+" "+l.ln.Addr().String())
	}
	for k, l := range d.listeners {
		if !p.want[k] {
			closedL = append(closedL, l.face+" "+l.ln.Addr().String())
			delete(d.listeners, k)
			d.spawnLocked(func() { l.close(5 * time.Second) })
		}
	}
	for _, l := range d.listeners {
		l.srv.SetMaxConns(maxConns(cfg, l.face))
	}
	d.updatePolicies()
	if len(next.vanished) > 0 {
		if d.recheck != nil {
			d.recheck.Stop()
		}
		d.recheck = time.AfterFunc(vanishRecheck, func() {
			d.spawn(func() { _ = d.Reload(context.Background()) })
		})
	}
	d.setLogLevel(cfg)
	for _, w := range next.warnings { // once per committed reload
		d.log.Warn("AWS files: " + w)
	}

	if p.initial {
		d.log.Info("serving", "config", cfg.DisplayPath(), "imds_profile", cfg.Profile, "ecs_profiles", cfg.ECS.Profiles, "listeners", boundL, "region", next.region, "demo", d.opt.Demo)
	} else {
		d.log.Info("reloaded", "profiles_added", p.addedP, "profiles_changed", p.changedP, "profiles_removed", p.removedP, "listeners_bound", boundL, "listeners_closed", closedL, "imds_profile", cfg.Profile)
	}
}

// vanishRecheck is how long a profile that disappeared from the AWS files
// keeps being served before a second look removes it.
const vanishRecheck = 300 * time.Millisecond

// pushSettings gives the HTTP faces what g serves. Called with d.mu held.
func (d *Daemon) pushSettings(g *generation) {
	d.ec2.Update(imds.EC2Settings{Profile: g.cfg.Profile, Region: g.region, TokensRequired: g.cfg.IMDS.TokensRequired, InstanceID: d.instanceID, Also: g.also})
	d.ecs.Update(imds.ECSSettings{DefaultProfile: g.cfg.Profile, Profiles: g.ecsProfiles(), Token: g.ecsToken})
}

// spawnLocked is spawn for callers holding d.mu.
func (d *Daemon) spawnLocked(f func()) {
	if !d.running {
		f()
		return
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		f()
	}()
}

// sameProfile: unchanged AWS settings and imdsd settings for the profile,
// so its cached credentials stay valid.
func (d *Daemon) sameProfile(prev, next *generation, name string) bool {
	if !reflect.DeepEqual(prev.cfg.ProfileOptions(name), next.cfg.ProfileOptions(name)) {
		return false
	}
	if d.opt.Demo {
		return true
	}
	op, np := prev.profiles[name], next.profiles[name]
	return op != nil && np != nil && op.Fingerprint == np.Fingerprint
}

func (d *Daemon) newBroker(ctx context.Context, name string, p *config.Profile, cfg *config.Config, files config.AWSFiles, keys *aws.Credentials, stamp [32]byte, gate func(context.Context) error) (*broker.Broker, error) {
	bo := d.opt.broker
	bo.RefreshBefore = cfg.RefreshBefore
	if d.opt.Demo {
		return broker.NewDemo(name, bo, d.log), nil
	}
	return broker.NewSTS(ctx, p, broker.STSOptions{Files: files, SessionName: d.sessionName, HTTPClient: d.opt.HTTPClient, Opts: cfg.ProfileOptions(name), MFA: d.mfa, Stamp: stamp, Keys: keys, SSOGate: gate}, bo, d.log)
}

// served lists what g serves: the config's profiles, then those leased
// to `imdsd exec` commands.
func (g *generation) served() []string {
	return append(servedProfiles(g.cfg), g.leased...)
}

// ecsProfiles are the profiles ECS serves at /role/<name>.
func (g *generation) ecsProfiles() []string {
	return append(slices.Clone(g.cfg.ECS.Profiles), g.leased...)
}

// servedProfiles: the IMDS/`/creds` profile first, then the ECS extras.
func servedProfiles(cfg *config.Config) []string {
	out := []string{cfg.Profile}
	for _, p := range cfg.ECS.Profiles {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// maxConns is the connection cap of face's listeners.
func maxConns(cfg *config.Config, face string) int {
	if face == "ecs" {
		return cfg.ECS.MaxConnections
	}
	return cfg.IMDS.MaxConnections
}
