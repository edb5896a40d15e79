package service

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/kardianos/service"
)

// The systemd side of `imdsd service` (system units; user units go through
// kardianos/service alone): the unit, the aws-user drop-in, and reading
// them back for status.

// packagedUnit is the unit a .deb or .rpm installed, if any.
func packagedUnit() string {
	for _, dir := range []string{"/lib/systemd/system", "/usr/lib/systemd/system"} {
		p := filepath.Join(dir, ServiceName+".service")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

func etcUnit() string { return "/etc/systemd/system/" + ServiceName + ".service" }

func dropInPath() string { return filepath.Join(systemdDropInDir(), awsUserDropIn) }

func installSystemd(o *Options, exe, cfgPath string, acct *awsAccount, tokenDir string) error {
	if _, err := os.Stat(dropInPath()); err == nil {
		return fmt.Errorf("the imdsd service is already installed (%s exists); to change it, run: sudo imdsd service uninstall, then install again", dropInPath())
	}
	pkg := packagedUnit()
	if pkg == "" {
		if _, err := os.Stat(etcUnit()); err == nil {
			return fmt.Errorf("%s exists but was not written by imdsd service install; remove it first", etcUnit())
		}
	}
	// The package's unit runs /usr/bin/imdsd with the default config;
	// anything else is set in the drop-in.
	var override []string
	if pkg != "" && (exe != PackagedExecutable || cfgPath != SystemConfigPath) {
		override = []string{exe, "serve", "--config", cfgPath}
	}
	if err := os.MkdirAll(systemdDropInDir(), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(dropInPath(), []byte(systemdDropIn(acct.name, acct.group, acct.home, tokenDir, override)), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(o.out(), "wrote %s (User=%s)\n", dropInPath(), acct.name)
	if pkg != "" {
		fmt.Fprintf(o.out(), "using the packaged unit %s\n", pkg)
		if err := systemctl(false, "daemon-reload"); err != nil {
			return err
		}
		return systemctl(false, "enable", ServiceName+".service")
	}
	s, err := newKardianos(o, &service.Config{
		Executable: exe,
		Option:     service.KeyValue{"SystemdScript": systemdUnit(exe, cfgPath)},
	})
	if err != nil {
		return err
	}
	if err := s.Install(); err != nil {
		os.Remove(dropInPath())
		return fmt.Errorf("installing %s: %w", etcUnit(), err)
	}
	fmt.Fprintf(o.out(), "wrote %s\n", etcUnit())
	return nil
}

func uninstallSystemd(o *Options) (removed bool, err error) {
	unit := ServiceName + ".service"
	_, errDrop := os.Stat(dropInPath())
	_, errEtc := os.Stat(etcUnit())
	pkg := packagedUnit()
	if errDrop != nil && errEtc != nil && pkg == "" {
		fmt.Fprintln(o.out(), "the imdsd service is not installed")
		return false, nil
	}
	// Stop first: the daemon removes the addresses it added as it exits.
	_ = systemctl(false, "stop", unit)
	_ = systemctl(false, "disable", unit)
	if errDrop == nil {
		if err := os.Remove(dropInPath()); err != nil {
			return false, err
		}
		_ = os.Remove(systemdDropInDir()) // only if empty: others' drop-ins stay
		fmt.Fprintf(o.out(), "removed %s\n", dropInPath())
	}
	if errEtc == nil {
		if err := os.Remove(etcUnit()); err != nil {
			return false, err
		}
		fmt.Fprintf(o.out(), "removed %s\n", etcUnit())
	}
	if err := systemctl(false, "daemon-reload"); err != nil {
		return false, err
	}
	_ = systemctl(false, "reset-failed", unit)
	if pkg != "" {
		fmt.Fprintf(o.out(), "the package's unit %s stays (disabled) until the package is removed\n", pkg)
	}
	fmt.Fprintln(o.out(), "uninstalled the imdsd service")
	return true, nil
}

// systemdSystemFiles records the system unit's files and the AWS user,
// and returns the effective ExecStart command line and whether the
// aws-user drop-in exists.
func systemdSystemFiles(st *Status) (cmdline []string, configured bool) {
	for _, p := range []string{etcUnit(), packagedUnit(), dropInPath()} {
		if p == "" {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if p == etcUnit() || p == dropInPath() || !slices.Contains(st.Files, etcUnit()) {
			st.Files = append(st.Files, p)
			cmdline = lastExecStart(string(data), cmdline)
		}
		if m := regexp.MustCompile(`(?m)^User=(.+)$`).FindStringSubmatch(string(data)); m != nil {
			st.AWSUser = strings.TrimSpace(m[1])
		}
		configured = configured || p == dropInPath()
	}
	return cmdline, configured
}

// lastExecStart returns the command line of the last ExecStart= in a unit
// or drop-in (an empty one resets), or prev if there is none.
func lastExecStart(unit string, prev []string) []string {
	for _, line := range strings.Split(unit, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "ExecStart="); ok {
			prev = splitUnitWords(v)
		}
	}
	return prev
}

// splitUnitWords splits a unit command line as systemd does, for the
// quoting systemdQuote produces.
func splitUnitWords(s string) []string {
	var out []string
	var cur strings.Builder
	inWord, quoted := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quoted && c == '\\' && i+1 < len(s):
			i++
			switch s[i] {
			case 'n':
				cur.WriteByte('\n')
			case 't':
				cur.WriteByte('\t')
			default:
				cur.WriteByte(s[i])
			}
		case c == '"':
			quoted, inWord = !quoted, true
		case !quoted && (c == ' ' || c == '\t'):
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		out = append(out, cur.String())
	}
	for i, w := range out {
		out[i] = strings.NewReplacer("%%", "%", "$$", "$").Replace(w)
	}
	return out
}

// systemctl runs systemctl, with its message in the error.
func systemctl(user bool, args ...string) error {
	if user {
		args = append([]string{"--user"}, args...)
	}
	return run("systemctl", args...)
}
