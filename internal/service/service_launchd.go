package service

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/kardianos/service"

	"github.com/imdsd/imdsd/config"
)

// The launchd side of `imdsd service` (macOS; not exercised by CI): the
// LaunchDaemon, its link-local helper, and reading the plist back.

func installLaunchDaemon(o *Options, exe, cfgPath string, data []byte, acct *awsAccount) error {
	s, err := newKardianos(o, &service.Config{
		Executable: exe,
		Arguments:  []string{"serve", "--config", cfgPath},
		UserName:   acct.name,
		EnvVars:    map[string]string{"HOME": acct.home},
		Option:     service.KeyValue{"KeepAlive": true, "RunAtLoad": true},
	})
	if err != nil {
		return err
	}
	if err := s.Install(); err != nil {
		return fmt.Errorf("installing the LaunchDaemon: %w", err)
	}
	// The daemon runs as the AWS user and cannot alias lo0 itself.
	cfg, err := config.Parse(cfgPath, data)
	if err != nil {
		return err
	}
	if addrs := configLinkLocal(cfg); len(addrs) > 0 {
		p := launchdLinkLocalPath()
		if err := os.WriteFile(p, []byte(launchdLinkLocalPlist(serviceLabel()+".linklocal", addrs)), 0o644); err != nil {
			return err
		}
		if err := run("launchctl", "load", "-w", p); err != nil {
			return err
		}
		fmt.Fprintf(o.out(), "wrote %s: aliases %s on lo0 at boot\n", p, strings.Join(addrs, ", "))
	}
	return nil
}

func launchdLinkLocalPath() string {
	return "/Library/LaunchDaemons/" + serviceLabel() + ".linklocal.plist"
}

// launchdFiles reads the plist's ProgramArguments and UserName.
func launchdFiles(o *Options, st *Status) []string {
	p := "/Library/LaunchDaemons/" + serviceLabel() + ".plist"
	if o.User {
		home, _ := os.UserHomeDir()
		p = filepath.Join(home, "Library", "LaunchAgents", serviceLabel()+".plist")
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return nil
	}
	st.Files = append(st.Files, p)
	text := string(data)
	if m := regexp.MustCompile(`<key>UserName</key>\s*<string>([^<]*)</string>`).FindStringSubmatch(text); m != nil {
		st.AWSUser = m[1]
	}
	var args []string
	if m := regexp.MustCompile(`(?s)<key>ProgramArguments</key>\s*<array>(.*?)</array>`).FindStringSubmatch(text); m != nil {
		for _, s := range regexp.MustCompile(`<string>([^<]*)</string>`).FindAllStringSubmatch(m[1], -1) {
			args = append(args, strings.NewReplacer("&lt;", "<", "&gt;", ">", "&#34;", `"`, "&#39;", "'", "&amp;", "&").Replace(s[1]))
		}
	}
	return args
}

// uninstallLaunchdLinkLocal removes the link-local helper and the aliases
// it added.
func uninstallLaunchdLinkLocal() {
	p := launchdLinkLocalPath()
	data, err := os.ReadFile(p)
	if err != nil {
		return
	}
	_ = run("launchctl", "unload", "-w", p)
	_ = os.Remove(p)
	for _, m := range regexp.MustCompile(`alias ([0-9.]+)/32`).FindAllSubmatch(data, -1) {
		_ = run("/sbin/ifconfig", "lo0", "-alias", string(m[1]))
	}
}
