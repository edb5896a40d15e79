// Package daemon runs imdsd: it loads the config, keeps one credential
// broker per served profile, binds the IMDS and ECS listeners, and reloads
// all of it when files change.
package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/imdsd/imdsd/config"
	"github.com/imdsd/imdsd/imds"
)

// vanishRecheck is how long a profile that disappeared from the AWS files
// keeps being served before a second look removes it.
const vanishRecheck = 300 * time.Millisecond

// Options configure a Daemon.
type Options struct {
	// ConfigPath is imdsd's config file; "" = config.DefaultPath(), where a
	// missing file means defaults. An explicit path must exist.
	ConfigPath string
	// Demo serves generated dummy credentials and needs no AWS account.
	Demo bool
	// Logger; nil = slog.Default().
	Logger *slog.Logger
	// LogLevel, when set, is adjusted to the config's log_level on every
	// load, unless LogLevelFlag (the command line) overrides it.
	LogLevel     *slog.LevelVar
	LogLevelFlag string
	// AWSFiles overrides the AWS config/credentials files (tests); nil =
	// config.DefaultAWSFiles().
	AWSFiles *config.AWSFiles
	// NoWatch disables file watching (SIGHUP and Reload still work).
	NoWatch bool
	// Debounce for file events; 0 = 100ms.
	Debounce time.Duration
	// HTTPClient for STS; nil = a client with timeouts.
	HTTPClient aws.HTTPClient

	// tuning for tests in this package.
	broker brokerOptions
	// switchGrace keeps a replaced IMDS role answering this long, so a
	// client between its listing and its GET does not fail. 0 = 10s.
	switchGrace time.Duration
}

// Daemon is a running imdsd. Create with New, then Run.
type Daemon struct {
	opt   Options
	log   *slog.Logger
	files config.AWSFiles

	ec2      *imds.EC2
	ecs      *imds.ECS
	ec2Guard *imds.Guard
	ecsGuard *imds.Guard

	brokers atomic.Pointer[map[string]*broker]

	mu        sync.Mutex // serialises Reload
	cfg       *config.Config
	profiles  map[string]*config.Profile
	listeners map[string]*listener
	retiring  map[string]*time.Timer
	runCtx    context.Context
	lastLoad  reloadResult
	// what the handlers were last given, so a retiring role can be
	// dropped from Also without re-deriving the rest.
	ec2Settings imds.EC2Settings
	ecsToken    string
	// vanished: served profiles missing from the AWS files at the last
	// load, kept until a recheck confirms they are gone.
	vanished map[string]bool
	// missing: configured profiles not in the AWS files (status shows them).
	missing []string

	mfa         *mfaStore
	audit       *auditor
	sessionName string
	instanceID  string
	started     time.Time
	// locked: every credential dropped, nothing served until unlock.
	locked atomic.Bool
	// bridges are the docker networks seen; the policies in force.
	bridges              []netip.Prefix
	bridgeScans          atomic.Int64 // for tests: an idle daemon scans nothing
	ec2Policy, ecsPolicy imds.Policy

	ready chan struct{}
	// trimmed is closed once the start's memory was given back.
	trimmed chan struct{}
}

type reloadResult struct {
	At  time.Time
	Err error
}

// New loads and validates the config. It binds nothing and calls nothing.
func New(opt Options) (*Daemon, error) {
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.HTTPClient == nil {
		opt.HTTPClient = newHTTPClient()
	}
	if opt.Debounce == 0 {
		opt.Debounce = 100 * time.Millisecond
	}
	if opt.switchGrace == 0 {
		opt.switchGrace = 10 * time.Second
	}
	d := &Daemon{opt: opt, log: opt.Logger, ready: make(chan struct{}), trimmed: make(chan struct{}), listeners: map[string]*listener{}, retiring: map[string]*time.Timer{},
		mfa: newMFAStore(), sessionName: defaultSessionName(), instanceID: instanceID(), started: time.Now()}
	if opt.AWSFiles != nil {
		d.files = *opt.AWSFiles
	} else {
		d.files = config.DefaultAWSFiles()
	}
	if opt.LogLevelFlag != "" {
		var l slog.Level
		if err := l.UnmarshalText([]byte(opt.LogLevelFlag)); err != nil {
			return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", opt.LogLevelFlag)
		}
	}
	cfg, err := config.Load(opt.ConfigPath)
	if err != nil {
		return nil, err
	}
	d.cfg = cfg
	d.bridges = dockerBridges()
	d.setLogLevel(cfg)
	empty := map[string]*broker{}
	d.brokers.Store(&empty)
	d.audit = newAuditor(d.log)
	d.ec2 = imds.NewEC2(d, imds.EC2Settings{}, imds.Options{Logger: d.log, OnVend: d.audit.vend("imds")})
	d.ecs = imds.NewECS(d, imds.ECSSettings{}, imds.Options{Logger: d.log, OnVend: d.audit.vend("ecs")})
	d.ec2Guard = imds.NewGuard(imds.Policy{}, d.ec2)
	d.ecsGuard = imds.NewGuard(imds.Policy{}, d.ecs)
	return d, nil
}

// Credentials implements imds.Source from the brokers' memory.
func (d *Daemon) Credentials(ctx context.Context, profile string, now time.Time) (imds.Credentials, error) {
	if d.locked.Load() {
		return imds.Credentials{}, &imds.UnavailableError{Profile: profile, Message: "imdsd is locked: every credential was dropped from memory; run `imdsd unlock` to serve again"}
	}
	b := (*d.brokers.Load())[profile]
	if b == nil {
		return imds.Credentials{}, imds.ErrUnknownProfile
	}
	return b.Credentials(ctx, now)
}

// Ready is closed once the listeners are bound.
func (d *Daemon) Ready() <-chan struct{} { return d.ready }

// Addrs returns the bound addresses per face ("imds", "ecs"), for tests and
// status (a configured port 0 shows the port chosen).
func (d *Daemon) Addrs() map[string][]string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string][]string{}
	for _, l := range d.listeners {
		out[l.face] = append(out[l.face], l.ln.Addr().String())
	}
	return out
}

// ECSToken returns the token ECS clients must send (for `imdsd env`).
func (d *Daemon) ECSToken() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ecsToken
}

// Run binds the listeners, starts the brokers and the watcher, and serves
// until ctx is done; then in-flight requests finish and credentials are
// dropped from memory.
func (d *Daemon) Run(ctx context.Context) error {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	d.mu.Lock()
	d.runCtx = runCtx
	if d.opt.Demo {
		d.log.Warn("DEMO MODE: serving generated dummy credentials; they work with no AWS service, only with local emulators")
	}
	err := d.apply(d.cfg, true)
	d.mu.Unlock()
	if err != nil {
		d.shutdown()
		return err
	}
	go d.audit.run(runCtx.Done())
	go d.watchBridges(runCtx, 2*time.Second)
	ctl, err := d.startControl()
	if err != nil {
		d.shutdown()
		return err
	}
	defer ctl.close()
	close(d.ready)
	go d.releaseWhenSettled(runCtx)

	stopSignals := d.watchSignals(runCtx)
	defer stopSignals()
	if !d.opt.NoWatch {
		w, err := d.startWatcher(runCtx)
		if err != nil {
			d.log.Warn("file watching is off; send SIGHUP to reload", "err", err)
		} else {
			defer w.Close()
		}
	}
	<-runCtx.Done()
	d.log.Info("shutting down")
	d.shutdown()
	return nil
}

func (d *Daemon) shutdown() {
	d.mu.Lock()
	defer d.mu.Unlock()
	var wg sync.WaitGroup
	for k, l := range d.listeners {
		wg.Add(1)
		go func() { defer wg.Done(); l.close(5 * time.Second) }()
		delete(d.listeners, k)
	}
	wg.Wait()
	for _, t := range d.retiring {
		t.Stop()
	}
	for _, b := range *d.brokers.Load() {
		b.stop()
	}
	empty := map[string]*broker{}
	d.brokers.Store(&empty)
}

// Reload re-reads imdsd's config and the AWS files, validates them whole
// and swaps them in. On error the running config keeps serving.
func (d *Daemon) Reload() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.runCtx == nil || d.runCtx.Err() != nil {
		return errors.New("daemon is not running")
	}
	cfg, err := config.Load(d.opt.ConfigPath)
	for try := 0; err == nil; try++ {
		err = d.apply(cfg, false)
		if !errors.Is(err, errFilesChanged) || try == 5 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	d.lastLoad = reloadResult{At: time.Now(), Err: err}
	if err != nil {
		d.log.Error("reload failed; the last good config keeps serving", "err", err)
	}
	return err
}

// apply validates cfg with the AWS files, then swaps it in. Called with
// d.mu held. Nothing changes unless everything validates.
func (d *Daemon) apply(cfg *config.Config, initial bool) error {
	names := servedProfiles(cfg)

	// 1. Resolve profiles (files only, no network). The files are hashed
	// around resolution and provider building: an edit landing in between
	// would mean the providers were built from unvalidated text.
	stamp := filesStamp(d.files)
	resolved := map[string]*config.Profile{}
	vanished := map[string]bool{}
	var missing []string
	if !d.opt.Demo {
		for _, n := range names {
			p, err := config.ResolveProfile(d.runCtx, d.files, n)
			var nf *config.ProfileNotFoundError
			switch {
			case errors.As(err, &nf) && !initial && d.profiles[n] != nil && !d.vanished[n]:
				// A served profile vanished: perhaps an editor is halfway
				// through rewriting the file in place. Keep serving it and
				// look again shortly; only a second miss removes it.
				resolved[n] = d.profiles[n]
				vanished[n] = true
				d.log.Info("profile missing from the AWS files; checking again before dropping it", "profile", n)
				continue
			case errors.As(err, &nf):
				missing = append(missing, n)
				d.log.Warn("profile not found; requests for it get 404 until it is added", "profile", n, "err", err)
				continue
			case err != nil:
				return err
			}
			resolved[n] = p
		}
	}

	// 2. Brokers: keep unchanged profiles (and their cached credentials);
	// build changed and new ones, started only once all else validated.
	old := *d.brokers.Load()
	next := map[string]*broker{}
	var addedP, changedP, removedP []string
	var fresh []*broker
	for _, n := range names {
		if slices.Contains(missing, n) || d.locked.Load() {
			continue
		}
		p := resolved[n]
		if ob, ok := old[n]; ok && d.sameProfile(n, p, cfg) {
			next[n] = ob
			continue
		}
		if _, ok := old[n]; ok {
			changedP = append(changedP, n)
		} else {
			addedP = append(addedP, n)
		}
		b, err := d.newBroker(n, p, cfg, stamp)
		if err != nil {
			return err
		}
		next[n], fresh = b, append(fresh, b)
	}
	for n := range old {
		if _, ok := next[n]; !ok {
			removedP = append(removedP, n)
		}
	}

	if !d.opt.Demo && filesStamp(d.files) != stamp {
		return errFilesChanged
	}

	// 3. The ECS token.
	token, created, err := config.EnsureTokenFile(cfg.ECS.TokenFile)
	if err != nil {
		return fmt.Errorf("ecs.token_file: %w", err)
	}
	if created {
		d.log.Info("created ECS token file", "path", cfg.ECS.TokenFile)
	}

	// 4. Listeners: bind the new ones before touching anything, so a bind
	// failure leaves the running set as it was.
	want := map[string]string{}
	for _, a := range cfg.IMDS.Listen {
		want["imds|"+a] = a
	}
	for _, a := range cfg.ECS.Listen {
		want["ecs|"+a] = a
	}
	added := map[string]*listener{}
	for k, a := range want {
		if _, ok := d.listeners[k]; ok {
			continue
		}
		face := k[:len(k)-len(a)-1]
		h := d.ec2Guard
		if face == "ecs" {
			h = d.ecsGuard
		}
		l, err := listen(face, a, h, d.log)
		if err != nil {
			for _, l := range added {
				l.close(time.Second)
			}
			return err
		}
		added[k] = l
	}

	// A replaced IMDS role keeps answering for a grace period: a client
	// that listed the old name just before the switch still gets its GET.
	if prev := d.cfg.Profile; !initial && prev != cfg.Profile && old[prev] != nil && !slices.Contains(missing, prev) {
		d.retire(prev)
	}
	var also []string
	for n, t := range d.retiring {
		if n == cfg.Profile || slices.Contains(missing, n) || (old[n] == nil && next[n] == nil) {
			t.Stop()
			delete(d.retiring, n)
			continue
		}
		if next[n] == nil {
			next[n] = old[n]
			removedP = slices.DeleteFunc(removedP, func(r string) bool { return r == n })
		}
		also = append(also, n)
	}
	// Nothing below can fail: from here the new config is in force.
	for _, b := range old {
		b.setRefreshBefore(cfg.RefreshBefore)
	}
	for _, b := range fresh {
		b.start(d.runCtx)
	}
	d.brokers.Store(&next)

	region := cfg.Region
	if region == "" {
		if p := resolved[cfg.Profile]; p != nil {
			region = p.Region
		}
	}
	if region == "" {
		region = "us-east-1"
	}
	d.ec2Settings = imds.EC2Settings{Profile: cfg.Profile, Region: region, TokensRequired: cfg.IMDS.TokensRequired, InstanceID: d.instanceID, Also: also}
	d.ec2.Update(d.ec2Settings)
	d.ecsToken = token
	d.ecs.Update(imds.ECSSettings{DefaultProfile: cfg.Profile, Profiles: cfg.ECS.Profiles, Token: token})

	// 5. Retire what is gone: replaced brokers drop their credentials;
	// removed listeners finish their requests in the background.
	for n, ob := range old {
		if next[n] != ob {
			go ob.stop()
		}
	}
	var boundL, closedL []string
	for k, l := range added {
		d.listeners[k] = l
		boundL = append(boundL, l.face+" "+l.ln.Addr().String())
	}
	for k, l := range d.listeners {
		if _, ok := want[k]; !ok {
			closedL = append(closedL, l.face+" "+l.ln.Addr().String())
			delete(d.listeners, k)
			go l.close(5 * time.Second)
		}
	}
	d.cfg = cfg
	d.updatePolicies()
	d.profiles = resolved
	d.missing = missing
	d.vanished = vanished
	if len(vanished) > 0 {
		time.AfterFunc(vanishRecheck, func() { _ = d.Reload() })
	}
	d.setLogLevel(cfg)

	if initial {
		d.log.Info("serving", "config", configName(cfg), "imds_profile", cfg.Profile, "ecs_profiles", cfg.ECS.Profiles, "listeners", boundL, "region", region, "demo", d.opt.Demo)
	} else {
		d.log.Info("reloaded", "profiles_added", addedP, "profiles_changed", changedP, "profiles_removed", removedP, "listeners_bound", boundL, "listeners_closed", closedL, "imds_profile", cfg.Profile)
	}
	return nil
}

func (d *Daemon) setLogLevel(cfg *config.Config) {
	if d.opt.LogLevel == nil {
		return
	}
	name := cfg.LogLevel
	if d.opt.LogLevelFlag != "" {
		name = d.opt.LogLevelFlag
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(name)); err == nil {
		d.opt.LogLevel.Set(l)
	}
}

// Lock drops every cached credential and MFA session from memory at once
// and refuses to serve (clients get a 503 saying so) until Unlock.
func (d *Daemon) Lock() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.locked.Store(true)
	old := *d.brokers.Load()
	empty := map[string]*broker{}
	d.brokers.Store(&empty)
	for _, b := range old {
		b.stop() // the broker's provider chain, with any cached source session, goes with it
	}
	d.mfa.clear()
	for n, t := range d.retiring {
		t.Stop()
		delete(d.retiring, n)
	}
	d.ec2Settings.Also = nil
	d.ec2.Update(d.ec2Settings)
	d.log.Warn("locked: every credential dropped from memory; nothing is served until `imdsd unlock`", "profiles", len(old))
}

// Unlock serves again: every profile fetches anew (MFA profiles need a new
// code).
func (d *Daemon) Unlock() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.locked.Load() {
		return nil
	}
	d.locked.Store(false)
	if err := d.apply(d.cfg, false); err != nil {
		d.locked.Store(true)
		return err
	}
	d.log.Info("unlocked")
	return nil
}

// refreshAll asks every broker to fetch now (source keys rotated, `imdsd
// refresh`); requests keep being served from the cache meanwhile.
func (d *Daemon) refreshAll() {
	for _, b := range *d.brokers.Load() {
		b.refreshNow()
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
			return // superseded by a later reload
		}
		delete(d.retiring, name)
		d.ec2Settings.Also = slices.DeleteFunc(slices.Clone(d.ec2Settings.Also), func(n string) bool { return n == name })
		d.ec2.Update(d.ec2Settings)
		if slices.Contains(servedProfiles(d.cfg), name) {
			return
		}
		cur := *d.brokers.Load()
		b := cur[name]
		if b == nil {
			return
		}
		next := make(map[string]*broker, len(cur))
		for k, v := range cur {
			if k != name {
				next[k] = v
			}
		}
		d.brokers.Store(&next)
		b.stop()
	})
	d.retiring[name] = t
}

// sameProfile: unchanged AWS settings and imdsd settings for the profile,
// so its cached credentials stay valid.
func (d *Daemon) sameProfile(name string, p *config.Profile, cfg *config.Config) bool {
	if !reflect.DeepEqual(d.cfg.ProfileOptions(name), cfg.ProfileOptions(name)) {
		return false
	}
	if d.opt.Demo {
		return true
	}
	op := d.profiles[name]
	return op != nil && p != nil && op.Fingerprint == p.Fingerprint
}

func (d *Daemon) newBroker(name string, p *config.Profile, cfg *config.Config, stamp [32]byte) (*broker, error) {
	bo := d.opt.broker
	bo.RefreshBefore = cfg.RefreshBefore
	if d.opt.Demo {
		return newBroker(name, demoFetch(name), bo, d.log), nil
	}
	u, err := newUpstream(d.runCtx, p, upstreamOptions{Files: d.files, SessionName: d.sessionName, HTTPClient: d.opt.HTTPClient, Opts: cfg.ProfileOptions(name), MFA: d.mfa, Stamp: stamp})
	if err != nil {
		return nil, err
	}
	b := newBroker(name, u.fetch, bo, d.log)
	b.up = u
	return b, nil
}

var errFilesChanged = errors.New("the AWS files changed while being loaded")

// filesStamp hashes the AWS files' contents (missing files hash as empty).
func filesStamp(f config.AWSFiles) [32]byte {
	h := sha256.New()
	for _, p := range f.All() {
		b, _ := os.ReadFile(p)
		fmt.Fprintf(h, "%s\x00%d\x00", p, len(b))
		h.Write(b)
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
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

func configName(cfg *config.Config) string {
	if cfg.Path == "" {
		return "(defaults; no config file)"
	}
	return cfg.Path
}

// instanceID is stable per machine, so tools that key on it see one host.
func instanceID() string {
	seed, err := os.ReadFile("/etc/machine-id")
	if err != nil {
		h, _ := os.Hostname()
		seed = []byte(h)
	}
	sum := sha256.Sum256(append([]byte("imdsd-instance-id:"), seed...))
	return "i-" + hex.EncodeToString(sum[:])[:17]
}
