package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

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
	old, err := os.ReadFile(path)
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
	text := setTopLevelString(string(old), "profile", profile)
	// The real parser judges the result before anything is written.
	if _, err := config.Parse(path, []byte(text)); err != nil {
		return fmt.Errorf("not switching: the edited config would be invalid: %w", err)
	}
	if err := writeFileAtomic(path, []byte(text), mode); err != nil {
		return err
	}
	d.log.Info("switched the IMDS profile", "profile", profile, "config", path)
	return d.Reload(ctx)
}

// setTopLevelString sets key = "value" among the top-level lines (before
// the first table header), replacing an existing assignment or adding one
// at the top. Comments and everything else are kept as they are.
func setTopLevelString(text, key, value string) string {
	line := key + " = " + strconv.Quote(value)
	lines := strings.SplitAfter(text, "\n")
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "[") {
			break
		}
		if k, _, ok := strings.Cut(t, "="); ok && strings.TrimSpace(k) == key {
			nl := ""
			if strings.HasSuffix(l, "\n") {
				nl = "\n"
			}
			lines[i] = line + nl
			return strings.Join(lines, "")
		}
	}
	return line + "\n" + text
}

func writeFileAtomic(path string, data []byte, mode fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".imdsd-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
