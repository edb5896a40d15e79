//go:build !unix

package config

import (
	"io/fs"
	"os"
)

// openTokenFile opens the ECS token file, refusing a symlink at its last
// component. Windows has no O_NOFOLLOW and no owner or directory-mode
// checks here (ACLs protect files there), so the symlink check is a look
// before the open.
func openTokenFile(path string) (*os.File, fs.FileInfo, error) {
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		return nil, nil, &fileError{path: path,
			problem: "is a symbolic link; imdsd does not follow a symlink to the ECS token file, so that nobody can swap the token under it",
			fix:     tokenFileSpec.pointAt + " the file itself"}
	}
	f, _, err := openChecked(path, tokenFileSpec)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, readError(path, tokenFileSpec, err)
	}
	return f, fi, nil
}

// checkTokenDir checks nothing on Windows, where directory ACLs decide who
// may replace the token file.
func checkTokenDir(string) error { return nil }
