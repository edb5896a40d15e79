package service

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"github.com/kardianos/service"

	"github.com/imdsd/imdsd/internal/hostnet"
)

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
