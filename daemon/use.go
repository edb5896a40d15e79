package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/imdsd/imdsd/config"
)

// Use switches the profile IMDS serves and persists it in imdsd's config
// file, so it survives restarts; the reload that follows applies it.
func (d *Daemon) Use(ctx context.Context, profile string) error {
	path := d.opt.ConfigPath
	if path == "" {
		path = config.DefaultPath()
	}
	if path == "" {
		return errors.New("no config file path: the home directory is unknown; run imdsd with --config FILE")
	}
	if !d.opt.Demo {
		if _, err := config.ResolveProfile(ctx, d.files, profile); err != nil {
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
	if _, err := config.Parse(path, []byte(text)); err != nil {
		return fmt.Errorf("not switching: the edited config would be invalid: %w", err)
	}
	if err := config.WriteFileAtomic(path, []byte(text), mode); err != nil {
		return err
	}
	d.log.Info("switched the IMDS profile", "profile", profile, "config", path)
	return d.Reload(ctx)
}
