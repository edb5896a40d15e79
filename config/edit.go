package config

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// SetTopLevelString sets key = "value" among the top-level lines of a TOML
// text (before any [table]), keeping everything else byte for byte: an
// existing assignment is replaced in place, otherwise the line goes just
// before the first table header, or at the end. It is for small edits of
// a file a person maintains (imdsd use <profile>), where re-encoding would
// lose comments and layout; the caller validates the result with Parse.
func SetTopLevelString(text, key, value string) string {
	line := fmt.Sprintf("%s = %q", key, value)
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "[") {
			return strings.Join(slices.Insert(lines, i, line), "\n")
		}
		if k, _, ok := strings.Cut(t, "="); ok && strings.TrimSpace(k) == key {
			lines[i] = line
			return strings.Join(lines, "\n")
		}
	}
	if text != "" && !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	return text + line + "\n"
}

// WriteFileAtomic replaces path with data and the given mode by writing a
// temporary file in the same directory and renaming it over path, so a
// reader (the daemon's file watcher, a reload) sees the old file or the
// new one, never a partial write.
func WriteFileAtomic(path string, data []byte, mode fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
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
