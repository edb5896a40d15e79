package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Section is one config-file section to add: the profile it defines and
// its text, header included, ending in a newline.
type Section struct {
	Profile string
	Text    string
}

// AppendProfiles adds to the AWS config file (the first of files.Config)
// the sections whose profile exists nowhere in the AWS files yet, and
// says which it added and which it skipped. Nothing already there is
// touched: the new file is the old one byte for byte, then the sections,
// written atomically (a reader sees the old file or the new one) with the
// file's mode, through a symlink to its target (a dotfiles checkout).
func AppendProfiles(files AWSFiles, sections []Section) (added, skipped []string, err error) {
	if len(files.Config) == 0 {
		return nil, nil, errors.New("no AWS config file to write to")
	}
	existing, err := ListProfiles(files)
	if err != nil {
		return nil, nil, err
	}
	path := files.Config[0]
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	old, mode, err := readForAppend(path)
	if err != nil {
		return nil, nil, err
	}
	var b bytes.Buffer
	b.Write(old)
	for _, s := range sections {
		if slices.Contains(existing, s.Profile) {
			skipped = append(skipped, s.Profile)
			continue
		}
		existing = append(existing, s.Profile)
		if b.Len() > 0 && !bytes.HasSuffix(b.Bytes(), []byte("\n")) {
			b.WriteByte('\n')
		}
		if b.Len() > 0 {
			b.WriteByte('\n') // a blank line between sections, as people write them
		}
		b.WriteString(strings.TrimRight(s.Text, "\n") + "\n")
		added = append(added, s.Profile)
	}
	if len(added) == 0 {
		return nil, skipped, nil
	}
	// An edit that landed since the read would be lost by the rename.
	if now, _, err := readForAppend(path); err != nil || !bytes.Equal(now, old) {
		return nil, nil, fmt.Errorf("%s changed while the profiles were being added; nothing was written: run the command again", path)
	}
	if err := WriteFileAtomic(path, b.Bytes(), mode); err != nil {
		return nil, nil, fmt.Errorf("writing %s: %w", path, err)
	}
	return added, skipped, nil
}

// readForAppend reads the config file through the checked reader; a
// missing one is empty, and is created 0600.
func readForAppend(path string) ([]byte, fs.FileMode, error) {
	data, err := readChecked(path, awsConfigSpec)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0o600, nil
	}
	if err != nil {
		return nil, 0, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, 0, err
	}
	return data, fi.Mode().Perm(), nil
}
