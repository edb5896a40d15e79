// Package service installs and controls imdsd as a system service.
//
// Installing and controlling imdsd as a system service: systemd (system
// and --user units), launchd (LaunchDaemon and LaunchAgent) and the
// Windows service manager, through kardianos/service. The system service
// runs `imdsd serve --config PATH` as the AWS user, so that user's ~/.aws
// is what it serves.
package service

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/kardianos/service"

	"github.com/imdsd/imdsd/config"
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

// prepareTokenDir creates the ECS token's directory owned by the AWS user.
// The service, running as that user, creates the token itself at start:
// the token file must be the user's own, in a directory only they can
// write, and root creating it there would be the very pattern the daemon
// refuses (another user choosing the token).
func prepareTokenDir(o *Options, acct *awsAccount, tokenFile string) error {
	dir := filepath.Dir(tokenFile)
	if err := mkdirOwned(dir, acct); err != nil {
		return fmt.Errorf("ECS token directory %s: %w", dir, err)
	}
	if _, err := os.Lstat(tokenFile); errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(o.out(), "the service creates the ECS token (mode 0600, owner %s) when it starts: %s\n", acct.name, tokenFile)
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

// ssoCacheDir is the SDKs' SSO token cache of the user whose home is home.
func ssoCacheDir(home string) string { return filepath.Join(home, ".aws", "sso", "cache") }
