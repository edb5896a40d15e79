// Package daemon runs imdsd: its lifecycle and the orchestration of
// reloads. A reload plans a whole new generation (config, resolved
// profiles, brokers, listeners) with no lock held, then commits it by
// swapping a pointer under a lock held for microseconds (generation.go).
// The credential work itself lives in internal/broker, the HTTP faces in
// imds, the control API in internal/control.
package daemon

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/imdsd/imdsd/config"
	"github.com/imdsd/imdsd/imds"
	"github.com/imdsd/imdsd/internal/audit"
	"github.com/imdsd/imdsd/internal/broker"
	"github.com/imdsd/imdsd/internal/control"
	"github.com/imdsd/imdsd/internal/ssosession"
)

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
	// ReloadTimeout bounds a reload's reading and validation (a file on a
	// dead network filesystem); 0 = 15s. The last good generation keeps
	// serving when it runs out.
	ReloadTimeout time.Duration
	// StateDir holds files the daemon makes for itself (the keyring
	// overlay); "" = config.DefaultStateDir().
	StateDir string
	// KeyringPassphrase opens the file keyring; "" =
	// $IMDSD_KEYRING_PASSPHRASE, else none until `imdsd unlock`.
	KeyringPassphrase string

	// Notify tells the user when an SSO sign-in is needed (a desktop
	// notification); nil: the log line only.
	Notify ssosession.Notifier

	// tuning for tests in this package.
	broker broker.Options
	// mfaBound overrides how long `imdsd mfa` may take (0 = 20s).
	mfaBound time.Duration
	// planHook runs as a plan begins (tests: a reload that hangs).
	planHook func(ctx context.Context)
	// auditNow is the audit's clock for which vended credentials expired.
	auditNow func() time.Time
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

	mfa         *broker.MFAStore
	keyring     keyringHold
	stateDir    string
	audit       *audit.Auditor
	sessionName string
	instanceID  string
	started     time.Time

	// gen is what serves now; requests and status read it without a lock.
	gen atomic.Pointer[generation]
	// locked: every credential dropped, nothing served until unlock.
	locked atomic.Bool
	// lockEpoch counts locks (guarded by mu): an unlock whose plan began
	// before a later lock must not undo it.
	lockEpoch int

	// reloading admits one reload at a time (a one-slot semaphore, so a
	// waiting reload can give up); it is never held by status or lock.
	reloading chan struct{}

	// mu guards what commits change besides gen; it is held for
	// microseconds, never across file or network I/O.
	mu        sync.Mutex
	listeners map[string]*listener
	retiring  map[string]*time.Timer
	recheck   *time.Timer // a vanished profile's second look
	lastLoad  reloadResult
	watcher   *config.Watcher // nil when files are not watched
	// leases count the `imdsd exec` commands running per profile.
	leases   map[string]int
	bridges  []netip.Prefix
	policies [2]imds.Policy // ec2, ecs: the policies in force
	running  bool           // between Run's start and its shutdown
	// wg counts every goroutine the daemon starts; Run waits for it.
	wg sync.WaitGroup

	// keyAges fires auto_rotate's look at key ages (rotate.go); nil
	// before Run. rotating admits one rotation round at a time.
	keyAges  *time.Timer
	rotating atomic.Bool

	bridgeScans atomic.Int64 // for tests: an idle daemon scans nothing
	ready       chan struct{}
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
		opt.HTTPClient = broker.NewHTTPClient()
	}
	if opt.Debounce == 0 {
		opt.Debounce = 100 * time.Millisecond
	}
	if opt.ReloadTimeout == 0 {
		opt.ReloadTimeout = 15 * time.Second
	}
	if opt.switchGrace == 0 {
		opt.switchGrace = 10 * time.Second
	}
	if opt.LogLevelFlag != "" {
		var l slog.Level
		if err := l.UnmarshalText([]byte(opt.LogLevelFlag)); err != nil {
			return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", opt.LogLevelFlag)
		}
	}
	d := &Daemon{
		opt: opt, log: opt.Logger, ready: make(chan struct{}), reloading: make(chan struct{}, 1),
		listeners: map[string]*listener{}, retiring: map[string]*time.Timer{}, leases: map[string]int{},
		mfa: broker.NewMFAStore(), sessionName: broker.DefaultSessionName(), instanceID: instanceID(), started: time.Now(),
	}
	d.stateDir = cmp.Or(opt.StateDir, config.DefaultStateDir())
	d.keyring.set(cmp.Or(opt.KeyringPassphrase, takePassphraseEnv()))
	if opt.AWSFiles != nil {
		d.files = *opt.AWSFiles
	} else {
		d.files = config.DefaultAWSFiles()
	}
	cfg, err := config.Load(opt.ConfigPath)
	if err != nil {
		return nil, err
	}
	d.gen.Store(&generation{cfg: cfg, brokers: map[string]*broker.Broker{}, files: d.files})
	d.setLogLevel(cfg)
	d.audit = audit.New(d.log)
	d.audit.SetClock(opt.auditNow)
	d.ec2 = imds.NewEC2(d, imds.EC2Settings{}, imds.Options{Logger: d.log, OnVend: d.audit.Vend("imds")})
	d.ecs = imds.NewECS(d, imds.ECSSettings{}, imds.Options{Logger: d.log, OnVend: d.audit.Vend("ecs")})
	d.ec2Guard = imds.NewGuard(imds.Policy{}, d.ec2)
	d.ecsGuard = imds.NewGuard(imds.Policy{}, d.ecs)
	// The docker networks at start, logged with the rule that admits each.
	d.rescanBridges()
	return d, nil
}

// Credentials implements imds.Source from the brokers' memory.
func (d *Daemon) Credentials(ctx context.Context, profile string, now time.Time) (imds.Credentials, error) {
	if d.locked.Load() {
		return imds.Credentials{}, &imds.UnavailableError{Profile: profile, Message: "imdsd is locked: every credential was dropped from memory; run `imdsd unlock` to serve again"}
	}
	g := d.gen.Load()
	b := g.brokers[profile]
	if b == nil {
		if kr, ok := g.keyring[profile]; ok && kr.err != "" {
			return imds.Credentials{}, &imds.UnavailableError{Profile: profile, Message: "profile " + profile + ": " + kr.err}
		}
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
func (d *Daemon) ECSToken() string { return d.gen.Load().ecsToken }

// Run binds the listeners, starts the brokers and the watchers, and serves
// until ctx is done; then in-flight requests finish, credentials are
// dropped from memory, and Run returns once every goroutine it started
// has ended.
func (d *Daemon) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d.mu.Lock()
	d.running = true
	d.mu.Unlock()
	if d.opt.Demo {
		d.log.Warn("DEMO MODE: serving generated dummy credentials; they work with no AWS service, only with local emulators")
	}
	// The control socket first: a second `imdsd serve` learns that one
	// runs already before it touches a listener or logs "serving".
	var ctl *control.Server
	if path := d.gen.Load().cfg.ControlSocket; path == "" {
		d.log.Warn("no control socket: the home directory is unknown; set control_socket in the config")
	} else {
		var err error
		if ctl, err = control.Listen(path, d, d.log); err != nil {
			d.shutdown()
			return err
		}
	}
	if !d.opt.NoWatch {
		// Before the first load, so that an edit made while it reads the
		// files is an event to reload on, not the watcher's starting state.
		if err := d.startWatcher(ctx); err != nil {
			d.log.Warn("file watching is off; send SIGHUP to reload", "err", err)
		}
	}
	if err := d.load(ctx, d.gen.Load().cfg, true); err != nil {
		cancel() // ends the watcher, which shutdown waits for
		if ctl != nil {
			ctl.Close()
		}
		d.shutdown()
		return err
	}
	d.mu.Lock()
	w := d.watcher
	d.mu.Unlock()
	if w != nil {
		// The loaded config may name more: token files, SSO caches.
		if err := w.SetPaths(d.watchedPaths()); err != nil {
			d.log.Warn("updating watched files", "err", err)
		}
	}
	d.spawn(func() { d.audit.Run(ctx.Done()) })
	d.spawn(func() { d.watchBridges(ctx, 2*time.Second) })
	close(d.ready)
	d.spawn(func() { releaseIdleGarbage(ctx) })
	d.watchKeyAges(ctx)
	d.watchSignals(ctx)
	<-ctx.Done()
	d.log.Info("shutting down")
	if ctl != nil {
		ctl.Close()
	}
	d.shutdown()
	return nil
}

// spawn runs f on a goroutine Run waits for; after shutdown began it does
// not run f at all.
func (d *Daemon) spawn(f func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.running {
		return
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		f()
	}()
}

// shutdown closes the listeners (requests in flight finish), stops every
// broker (their credentials go with them) and waits for every goroutine
// the daemon started.
func (d *Daemon) shutdown() {
	d.mu.Lock()
	d.running = false
	ls := d.listeners
	d.listeners = map[string]*listener{}
	for n, t := range d.retiring {
		t.Stop()
		delete(d.retiring, n)
	}
	if d.recheck != nil {
		d.recheck.Stop()
	}
	g := d.gen.Load()
	d.gen.Store(g.with(func(n *generation) { n.brokers = map[string]*broker.Broker{} }))
	d.mu.Unlock()

	var wg sync.WaitGroup
	for _, l := range ls {
		wg.Go(func() { l.close(5 * time.Second) })
	}
	for _, b := range g.brokers {
		wg.Go(b.Stop)
	}
	for _, m := range g.sso {
		wg.Go(m.Stop)
	}
	wg.Wait()
	d.wg.Wait()
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
