// Package service installs and controls imdsd as a system service.
//
// Installing and controlling imdsd as a system service: systemd (system
// and --user units), launchd (LaunchDaemon and LaunchAgent) and the
// Windows service manager, through kardianos/service. The system service
// runs `imdsd serve --config PATH` as the AWS user, so that user's ~/.aws
// is what it serves.
package service

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kardianos/service"

	"github.com/imdsd/imdsd/config"
	"github.com/imdsd/imdsd/internal/hostnet"
)

// Options select the service and describe it for install.
type Options struct {
	// User selects the per-user service (systemd --user unit, launchd
	// LaunchAgent) instead of the system one.
	User bool
	// ConfigPath is the config the service runs with. Install: "" means
	// SystemConfigPath for the system service (written with SystemConfig
	// if missing) and the user's default config for a user service.
	// Status: "" means the one in the installed unit.
	ConfigPath string
	// AWSUser is the user the system service runs as and whose ~/.aws it
	// serves; "" means $SUDO_USER.
	AWSUser string
	// Executable is the binary the service runs; "" means this one.
	Executable string
	// Out receives what was done, one line per step; nil discards.
	Out io.Writer
}

// State is what the service manager reports.
type State string

// Service states.
const (
	Running      State = "running"
	Stopped      State = "stopped"
	Failed       State = "failed"
	NotInstalled State = "not installed"
	// Unconfigured: the package's unit is there, but no AWS user
	// was named yet.
	Unconfigured State = "not configured"
)

// Status describes the installed service.
type Status struct {
	Platform string // e.g. linux-systemd
	Scope    string // "system" or "user"
	State    State
	Files    []string // unit, drop-in or plist files
	AWSUser  string   // "" when unknown or a user service
	// ConfigPath is the config the service runs with ("" = the default
	// path of a user service); ConfigErr when it cannot be read.
	ConfigPath string
	ConfigErr  error
	Listeners  []Listener
}

// Listener is one configured listener; Answering is probed only
// while the service runs.
type Listener struct {
	Face      string // "imds" or "ecs"
	Addr      string
	URL       string
	Answering bool
}

// serviceSystem is the service manager kardianos/service detected.
func serviceSystem() string { return service.Platform() }

func (o *Options) out() io.Writer {
	if o.Out == nil {
		return io.Discard
	}
	return o.Out
}

func (o *Options) scope() string {
	if o.User {
		return "user"
	}
	return "system"
}

// noProgram satisfies kardianos/service for control commands; the daemon
// itself runs as `imdsd serve`.
type noProgram struct{}

func (noProgram) Start(service.Service) error { return nil }
func (noProgram) Stop(service.Service) error  { return nil }

// serviceLabel is the service's name for the platform's manager: launchd
// labels are reverse-DNS by convention.
func serviceLabel() string {
	if runtime.GOOS == "darwin" {
		return "io.github.imdsd"
	}
	return ServiceName
}

func newKardianos(o *Options, cfg *service.Config) (service.Service, error) {
	cfg.Name = serviceLabel()
	cfg.DisplayName = ServiceName
	cfg.Description = serviceDescription
	if cfg.Option == nil {
		cfg.Option = service.KeyValue{}
	}
	cfg.Option["UserService"] = o.User
	s, err := service.New(noProgram{}, cfg)
	if err != nil {
		return nil, fmt.Errorf("service manager: %w", err)
	}
	return s, nil
}

// checkPlatform refuses service managers imdsd has no unit for.
func checkPlatform(o *Options) error {
	switch p := serviceSystem(); {
	case p == "linux-systemd", runtime.GOOS == "darwin":
	case runtime.GOOS == "windows":
		if o.User {
			return errors.New("--user: Windows has no per-user services; leave out --user (the service runs as LocalSystem with your profile as home), or start `imdsd serve` at logon")
		}
	default:
		return fmt.Errorf("imdsd installs itself only under systemd, launchd or the Windows service manager, and this system uses %s; run `imdsd serve --config FILE` from your init system instead", p)
	}
	return nil
}

// awsAccount is the user the system service runs as.
type awsAccount struct {
	name, group string
	uid, gid    int
	home        string
}

func lookupAWSUser(name string) (*awsAccount, error) {
	if name == "" {
		name = os.Getenv("SUDO_USER")
	}
	if name == "" && runtime.GOOS == "windows" {
		if u, err := user.Current(); err == nil {
			name = u.Username
		}
	}
	if name == "" {
		return nil, errors.New("name the user whose ~/.aws the service serves: --aws-user USER (the service runs as that user, not as root)")
	}
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("--aws-user %s: no such user: %w", name, err)
	}
	if u.HomeDir == "" {
		return nil, fmt.Errorf("--aws-user %s: the user has no home directory, so there is no ~/.aws to serve", name)
	}
	a := &awsAccount{name: u.Username, home: u.HomeDir, group: u.Gid}
	if runtime.GOOS != "windows" {
		a.uid, _ = strconv.Atoi(u.Uid)
		a.gid, _ = strconv.Atoi(u.Gid)
		if g, err := user.LookupGroupId(u.Gid); err == nil {
			a.group = g.Name
		}
	}
	return a, nil
}

func requireRoot(what string) error {
	if runtime.GOOS == "windows" || os.Geteuid() == 0 {
		return nil
	}
	return fmt.Errorf("%s the system service needs root: run it with sudo (or add --user for a per-user service)", what)
}

func executable(o *Options) (string, error) {
	exe := o.Executable
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return "", fmt.Errorf("cannot find this program's path: %w; give it with --executable", err)
		}
	}
	if r, err := filepath.EvalSymlinks(exe); err == nil {
		exe = r
	}
	exe, err := filepath.Abs(exe)
	if err != nil {
		return "", err
	}
	if strings.Contains(exe, "{{") {
		return "", fmt.Errorf("%s: the path contains \"{{\", which service files cannot hold; move the binary", exe)
	}
	return exe, nil
}

// systemConfigPath is the default config of the system service.
func systemConfigPath() string {
	if runtime.GOOS == "windows" {
		base := os.Getenv("ProgramData")
		if base == "" {
			base = `C:\ProgramData`
		}
		return filepath.Join(base, "imdsd", "config.toml")
	}
	return SystemConfigPath
}

// prepareSystemConfig makes sure the system service's config exists and is
// valid, writing the defaults if there is none. It returns the file's
// absolute path and contents.
func prepareSystemConfig(o *Options) (string, []byte, error) {
	path := o.ConfigPath
	if path == "" {
		path = systemConfigPath()
	}
	path, err := filepath.Abs(config.ExpandHome(path))
	if err != nil {
		return "", nil, err
	}
	data, err := config.ReadConfigFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		data = []byte(SystemConfig)
		if runtime.GOOS == "windows" {
			data = []byte(loopbackSystemConfig)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return "", nil, fmt.Errorf("cannot create the config directory: %w", err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return "", nil, fmt.Errorf("cannot write the default config: %w", err)
		}
		fmt.Fprintf(o.out(), "wrote the default system config: %s\n", path)
	case err != nil:
		return "", nil, fmt.Errorf("%s: cannot read the config: %w", path, err)
	}
	if _, err := config.LoadExplicit(path, true); err != nil {
		return "", nil, fmt.Errorf("the service config is invalid; fix it and install again: %w", err)
	}
	return path, data, nil
}

// prepareTokenDir creates the ECS token's directory (and the token) owned
// by the AWS user, so the service, which may write only there, can keep it
// and the user can read it.
func prepareTokenDir(o *Options, acct *awsAccount, tokenFile string) error {
	dir := filepath.Dir(tokenFile)
	if err := mkdirOwned(dir, acct); err != nil {
		return fmt.Errorf("ECS token directory %s: %w", dir, err)
	}
	_, created, err := config.EnsureTokenFile(tokenFile)
	if err != nil {
		return fmt.Errorf("ecs.token_file: %w", err)
	}
	if created && runtime.GOOS != "windows" {
		if err := os.Chown(tokenFile, acct.uid, acct.gid); err != nil {
			return fmt.Errorf("ECS token %s: %w", tokenFile, err)
		}
	}
	if created {
		fmt.Fprintf(o.out(), "created the ECS token (mode 0600, owner %s): %s\n", acct.name, tokenFile)
	}
	return nil
}

// mkdirOwned creates dir and its missing parents, mode 0700, owned by acct.
// Directories that exist are left as they are.
func mkdirOwned(dir string, acct *awsAccount) error {
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return errors.New("exists and is not a directory")
		}
		return nil
	}
	if err := mkdirOwned(filepath.Dir(dir), acct); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	if runtime.GOOS == "windows" {
		return nil
	}
	return os.Chown(dir, acct.uid, acct.gid)
}

// Install installs (and enables at boot) the service; it does not
// start it. Installing over an installed service is an error: uninstall
// first.
func Install(o Options) error {
	if err := checkPlatform(&o); err != nil {
		return err
	}
	exe, err := executable(&o)
	if err != nil {
		return err
	}
	if o.User {
		if o.AWSUser != "" {
			return errors.New("--aws-user is for the system service; a --user service runs as you and serves your ~/.aws")
		}
		return installUserService(&o, exe)
	}
	if err := requireRoot("installing"); err != nil {
		return err
	}
	acct, err := lookupAWSUser(o.AWSUser)
	if err != nil {
		return err
	}
	cfgPath, data, err := prepareSystemConfig(&o)
	if err != nil {
		return err
	}
	tokenFile := tokenFileFor(data, acct.home)
	if err := prepareTokenDir(&o, acct, tokenFile); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(acct.home, ".aws", "config")); err != nil {
		fmt.Fprintf(o.out(), "note: %s has no ~/.aws/config yet; imdsd answers 404 for its profiles until it does\n", acct.name)
	}
	switch {
	case runtime.GOOS == "darwin":
		err = installLaunchDaemon(&o, exe, cfgPath, data, acct)
	case runtime.GOOS == "windows":
		err = installWindows(&o, exe, cfgPath, acct)
	default:
		err = installSystemd(&o, exe, cfgPath, acct, filepath.Dir(tokenFile))
	}
	if err != nil {
		return err
	}
	start := "sudo imdsd service start"
	if runtime.GOOS == "windows" {
		start = "imdsd service start (from an elevated prompt)"
	}
	fmt.Fprintf(o.out(), "installed the imdsd service (%s): runs as %s, config %s\nstart it with: %s (it also starts at boot)\n", serviceSystem(), acct.name, cfgPath, start)
	return nil
}

// userUnitPath is the unit of a systemd user service ("" if the home
// directory is unknown); kardianos/service writes it there.
func userUnitPath() string {
	switch runtime.GOOS {
	case "linux":
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, ".config", "systemd", "user", ServiceName+".service")
		}
	case "darwin":
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, "Library", "LaunchAgents", serviceLabel()+".plist")
		}
	}
	return ""
}

// userServeArgs are the serve arguments of a user service, and its
// config path ("" for the default).
func userServeArgs(o *Options) ([]string, string, error) {
	if o.ConfigPath == "" {
		return []string{"serve"}, "", nil
	}
	p, err := filepath.Abs(config.ExpandHome(o.ConfigPath))
	if err != nil {
		return nil, "", err
	}
	if _, err := config.LoadExplicit(p, true); err != nil {
		return nil, "", fmt.Errorf("the service config is invalid; fix it and install again: %w", err)
	}
	return []string{"serve", "--config", p}, p, nil
}

func installUserService(o *Options, exe string) error {
	args, cfgPath, err := userServeArgs(o)
	if err != nil {
		return err
	}
	cfg := &service.Config{Executable: exe, Arguments: args, Option: service.KeyValue{}}
	switch runtime.GOOS {
	case "darwin":
		cfg.Option["KeepAlive"] = true
		cfg.Option["RunAtLoad"] = true
	default:
		cfg.Option["SystemdScript"] = systemdUserUnit(exe, args)
		if err := systemctl(true, "show-environment"); err != nil {
			return fmt.Errorf("no systemd user manager answers for you (%w): log in to a session, or run: loginctl enable-linger $USER, and set XDG_RUNTIME_DIR=/run/user/$(id -u)", err)
		}
	}
	s, err := newKardianos(o, cfg)
	if err != nil {
		return err
	}
	unitFile := userUnitPath()
	_, statErr := os.Stat(unitFile)
	if err := s.Install(); err != nil {
		if strings.Contains(err.Error(), "already exists") {
			return fmt.Errorf("the imdsd user service is already installed (%w); to change it, run: imdsd service uninstall --user, then install again", err)
		}
		if statErr != nil && unitFile != "" {
			os.Remove(unitFile) // written before enabling failed
		}
		return fmt.Errorf("installing the user service: %w", err)
	}
	if cfgPath == "" {
		cfgPath = config.DefaultPath() + " (defaults if missing)"
	}
	fmt.Fprintf(o.out(), "installed the imdsd user service (%s), config %s\nstart it with: imdsd service start --user\n", serviceSystem(), cfgPath)
	if runtime.GOOS == "linux" {
		fmt.Fprintln(o.out(), "to keep it running while you are logged out: loginctl enable-linger")
	}
	return nil
}

// configLinkLocal lists the link-local hosts the config listens on.
func configLinkLocal(cfg *config.Config) []string {
	var out []string
	for _, a := range append(append([]string(nil), cfg.IMDS.Listen...), cfg.ECS.Listen...) {
		if h, ok := hostnet.LinkLocalHost(a); ok && !slices.Contains(out, h.String()) {
			out = append(out, h.String())
		}
	}
	return out
}

func installWindows(o *Options, exe, cfgPath string, acct *awsAccount) error {
	s, err := newKardianos(o, &service.Config{
		Executable: exe,
		// The Windows service manager needs the service handshake, which
		// `imdsd service run` does around the same daemon as serve.
		Arguments: []string{"service", "run", "--config", cfgPath},
		EnvVars:   map[string]string{"HOME": acct.home, "USERPROFILE": acct.home},
		Option: service.KeyValue{
			"StartType": "automatic", "OnFailure": "restart", "OnFailureDelayDuration": "2s",
		},
	})
	if err != nil {
		return err
	}
	if err := s.Install(); err != nil {
		return fmt.Errorf("installing the Windows service (run from an elevated prompt): %w", err)
	}
	return nil
}

// Uninstall stops and removes the service, and removes the
// link-local addresses it may have left. Nothing installed is not an
// error. The config and the ECS token are kept.
func Uninstall(o Options) error {
	if err := checkPlatform(&o); err != nil {
		return err
	}
	if !o.User {
		if err := requireRoot("uninstalling"); err != nil {
			return err
		}
	}
	var removed bool
	var err error
	switch {
	case !o.User && runtime.GOOS == "linux":
		removed, err = uninstallSystemd(&o)
	default:
		removed, err = uninstallKardianos(&o)
	}
	if err != nil {
		return err
	}
	if !o.User {
		gone, err := hostnet.SweepLinkLocal()
		for _, a := range gone {
			fmt.Fprintf(o.out(), "removed %s/32 from the loopback interface\n", a)
		}
		if err != nil {
			return fmt.Errorf("removing the link-local addresses imdsd added: %w", err)
		}
		if removed {
			fmt.Fprintf(o.out(), "kept the config (%s) and the ECS token; delete them if you no longer need them\n", systemConfigPath())
		}
	}
	return nil
}

func uninstallKardianos(o *Options) (removed bool, err error) {
	s, err := newKardianos(o, &service.Config{})
	if err != nil {
		return false, err
	}
	if _, err := s.Status(); errors.Is(err, service.ErrNotInstalled) {
		// A unit file whose enabling failed is not installed either; it
		// goes all the same.
		if p := userUnitPath(); o.User && p != "" && os.Remove(p) == nil {
			fmt.Fprintf(o.out(), "removed %s\n", p)
			return true, nil
		}
		fmt.Fprintf(o.out(), "the imdsd %s service is not installed\n", o.scope())
		return false, nil
	}
	_ = s.Stop()
	if err := s.Uninstall(); err != nil {
		return false, fmt.Errorf("uninstalling: %w", err)
	}
	if runtime.GOOS == "darwin" && !o.User {
		uninstallLaunchdLinkLocal()
	}
	fmt.Fprintf(o.out(), "uninstalled the imdsd %s service\n", o.scope())
	return true, nil
}

// Control starts, stops or restarts the installed service. After a
// start or restart it waits (a few seconds at most) until the configured
// listeners answer, so a failure shows here rather than in the log only.
func Control(o Options, action string) error {
	if err := checkPlatform(&o); err != nil {
		return err
	}
	st, err := GetStatus(o)
	if err != nil {
		return err
	}
	switch st.State {
	case NotInstalled:
		return fmt.Errorf("the imdsd %s service is not installed; install it first: %s", o.scope(), installHint(&o))
	case Unconfigured:
		return errors.New("the packaged imdsd service has no AWS user yet; run: sudo imdsd service install --aws-user USER")
	}
	if !o.User && action != "status" {
		if err := requireRoot(action + "ing"); err != nil {
			return err
		}
	}
	s, err := newKardianos(&o, &service.Config{})
	if err != nil {
		return err
	}
	switch action {
	case "start":
		err = s.Start()
	case "stop":
		err = s.Stop()
	case "restart":
		err = s.Restart()
	default:
		return fmt.Errorf("unknown service action %q", action)
	}
	if err != nil {
		return fmt.Errorf("%s: %w%s", action, err, logHint(&o))
	}
	if action == "stop" {
		fmt.Fprintln(o.out(), "stopped the imdsd service")
		return nil
	}
	return waitAnswering(o, 10*time.Second)
}

// waitAnswering polls until every configured listener accepts a
// connection, the service failed, or the time is up.
func waitAnswering(o Options, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		st, err := GetStatus(o)
		if err != nil {
			return err
		}
		all := st.State == Running && len(st.Listeners) > 0
		for _, l := range st.Listeners {
			all = all && l.Answering
		}
		switch {
		case all:
			fmt.Fprintln(o.out(), "the imdsd service is running")
			return nil
		case st.State == Failed:
			return fmt.Errorf("the imdsd service failed to start%s", logHint(&o))
		case time.Now().After(deadline):
			if st.State == Running && st.ConfigErr != nil {
				fmt.Fprintln(o.out(), "the imdsd service is running (its listeners are unknown:", st.ConfigErr, ")")
				return nil
			}
			return fmt.Errorf("the imdsd service is %s but not answering on every listener after %s%s", st.State, limit, logHint(&o))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func installHint(o *Options) string {
	if o.User {
		return "imdsd service install --user"
	}
	return "sudo imdsd service install --aws-user USER"
}

// logHint says where the service's log is.
func logHint(o *Options) string {
	switch {
	case runtime.GOOS == "linux" && o.User:
		return "; see its log: journalctl --user -u imdsd -e"
	case runtime.GOOS == "linux":
		return "; see its log: journalctl -u imdsd -e"
	case runtime.GOOS == "darwin" && o.User:
		return "; see its log: ~/" + serviceLabel() + ".err.log"
	case runtime.GOOS == "darwin":
		return "; see its log: /var/log/" + serviceLabel() + ".err.log"
	}
	return "; see the Application event log"
}

// GetStatus reports the service's state, and its configured
// listeners with whether each answers.
func GetStatus(o Options) (*Status, error) {
	if err := checkPlatform(&o); err != nil {
		return nil, err
	}
	st := &Status{Platform: serviceSystem(), Scope: o.scope()}
	s, err := newKardianos(&o, &service.Config{})
	if err != nil {
		return nil, err
	}
	ks, err := s.Status()
	switch {
	case errors.Is(err, service.ErrNotInstalled):
		st.State = NotInstalled
	case err != nil && strings.Contains(err.Error(), "failed state"):
		st.State = Failed
	case err != nil:
		return nil, fmt.Errorf("asking the service manager: %w", err)
	case ks == service.StatusRunning:
		st.State = Running
	default:
		st.State = Stopped
	}
	var cmdline []string
	switch {
	case runtime.GOOS == "linux" && !o.User:
		var configured bool
		cmdline, configured = systemdSystemFiles(st)
		switch {
		case len(st.Files) == 0:
			st.State = NotInstalled
		case !configured:
			st.State = Unconfigured
		}
	case runtime.GOOS == "linux":
		if data, err := os.ReadFile(userUnitPath()); err == nil {
			st.Files = append(st.Files, userUnitPath())
			cmdline = lastExecStart(string(data), cmdline)
		}
	case runtime.GOOS == "darwin":
		cmdline = launchdFiles(&o, st)
	}
	st.ConfigPath = o.ConfigPath
	if st.ConfigPath == "" {
		st.ConfigPath = flagValue(cmdline, "--config")
		if st.ConfigPath == "" && !o.User && runtime.GOOS == "windows" {
			st.ConfigPath = systemConfigPath()
		}
	}
	if st.State == NotInstalled || st.State == Unconfigured {
		return st, nil
	}
	var cfg *config.Config
	if st.ConfigPath == "" && !o.User {
		st.ConfigErr = errors.New("cannot tell which config the service uses; give it with --config")
	} else if cfg, err = config.Load(st.ConfigPath); err != nil {
		st.ConfigErr = err
	}
	if cfg != nil {
		for _, a := range cfg.IMDS.Listen {
			st.Listeners = append(st.Listeners, Listener{Face: "imds", Addr: a, URL: "http://" + a + "/"})
		}
		for _, a := range cfg.ECS.Listen {
			st.Listeners = append(st.Listeners, Listener{Face: "ecs", Addr: a, URL: "http://" + a + "/creds"})
		}
	}
	if st.State == Running {
		for i := range st.Listeners {
			st.Listeners[i].Answering = answers(st.Listeners[i].Addr)
		}
	}
	return st, nil
}

func flagValue(args []string, name string) string {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return ""
}

// answers reports whether something accepts TCP connections at addr.
func answers(addr string) bool {
	if h, p, err := net.SplitHostPort(addr); err == nil && (h == "0.0.0.0" || h == "::") {
		addr = net.JoinHostPort("127.0.0.1", p)
	}
	c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func run(name string, args ...string) error {
	var out bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(out.String())
		if msg != "" {
			return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, msg)
		}
		return fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return nil
}
