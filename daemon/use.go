package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/imdsd/imdsd/config"
)

// Use switches the profile IMDS serves once it has credentials, and then
// persists it in imdsd's config file, so it survives restarts. A profile
// that cannot be served (unknown, MFA needed, denied by STS) is an error
// that says why, and the previous profile keeps serving.
func (d *Daemon) Use(ctx context.Context, profile string) error {
	path := d.opt.ConfigPath
	if path == "" {
		path = config.DefaultPath()
	}
	if path == "" {
		return errors.New("no config file path: the home directory is unknown; run imdsd with --config FILE")
	}
	if abs, err := filepath.Abs(config.ExpandHome(path)); err == nil {
		path = abs
	}
	if !d.opt.Demo {
		if _, err := config.ResolveProfile(ctx, d.gen.Load().files, profile); err != nil {
			return err
		}
	}
	old, err := config.ReadConfigFile(path)
	mode := fs.FileMode(0o600)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		old = nil
	case err != nil:
		return err
	default:
		if fi, err := os.Stat(path); err == nil {
			mode = fi.Mode().Perm()
		}
	}
	text := config.SetTopLevelString(string(old), "profile", profile)
	// The real parser judges the result before anything is written.
	cfg, err := config.Parse(path, []byte(text))
	if err != nil {
		return fmt.Errorf("not switching: the edited config would be invalid: %w", err)
	}
	err = d.loadPlan(ctx, cfg, loadOpts{probe: profile})
	d.mu.Lock()
	d.lastLoad = reloadResult{At: time.Now(), Err: err}
	d.mu.Unlock()
	if err != nil {
		return err
	}
	if err := config.WriteFileAtomic(path, []byte(text), mode); err != nil {
		return fmt.Errorf("IMDS serves %s now, but saving it in %s failed (it will not survive a restart): %w", profile, path, err)
	}
	d.log.Info("switched the IMDS profile", "profile", profile, "config", path)
	return nil
}
