package service

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/kardianos/service"

	"github.com/imdsd/imdsd/config"
	"github.com/imdsd/imdsd/internal/hostnet"
)

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
	// The SDKs' SSO token cache, which the daemon renews sign-ins in: it
	// must exist when the sandboxed unit starts, to be made writable.
	if runtime.GOOS == "linux" {
		dir := ssoCacheDir(acct.home)
		if err := mkdirOwned(dir, acct); err != nil {
			return fmt.Errorf("SSO token cache %s: %w", dir, err)
		}
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
