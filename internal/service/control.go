package service

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/kardianos/service"

	"github.com/imdsd/imdsd/config"
)

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
