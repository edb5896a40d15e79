//go:build unix

package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// openTokenFile opens the ECS token file so that no other user can have
// chosen what it holds: the directory must be one only we (or root) can
// change, the last component must not be a symlink (O_NOFOLLOW, relative to
// the checked directory's descriptor, so the directory cannot be swapped
// between check and open), and the file must be regular, ours and small.
// A missing file or directory yields an error matching fs.ErrNotExist.
func openTokenFile(path string) (*os.File, fs.FileInfo, error) {
	dir, base := filepath.Dir(path), filepath.Base(path)
	dfd, err := openTokenDir(path, dir)
	if err != nil {
		return nil, nil, err
	}
	defer unix.Close(dfd)

	// Look before opening, so a device or FIFO is never opened at all.
	var st unix.Stat_t
	if err := unix.Fstatat(dfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil, nil, openError(path, tokenFileSpec, &fs.PathError{Op: "stat", Path: path, Err: err})
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return nil, nil, tokenSymlinkError(path)
	}
	fd, err := unix.Openat(dfd, base, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		// Linux says ELOOP for a symlink under O_NOFOLLOW, FreeBSD EMLINK:
		// it was swapped in since the look.
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.EMLINK) {
			return nil, nil, tokenSymlinkError(path)
		}
		return nil, nil, openError(path, tokenFileSpec, &fs.PathError{Op: "open", Path: path, Err: err})
	}
	f := os.NewFile(uintptr(fd), path)
	fi, err := f.Stat()
	if err == nil {
		err = checkInfo(path, tokenFileSpec, fi)
	} else {
		err = readError(path, tokenFileSpec, err)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}

// checkTokenDir checks the directory that holds (or will hold) the token
// file named path.
func checkTokenDir(path string) error {
	dfd, err := openTokenDir(path, filepath.Dir(path))
	if err != nil {
		return err
	}
	unix.Close(dfd)
	return nil
}

// openTokenDir opens dir, following symlinks, and refuses it unless only
// we or root can change its entries: anyone who can rename files in it
// could replace the token file with one they know.
func openTokenDir(path, dir string) (int, error) {
	dfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOTDIR) {
			return -1, &fileError{path: path, problem: dir + " is not a directory", fix: tokenFileSpec.pointAt + " a file in a directory you own"}
		}
		return -1, openError(path, tokenFileSpec, &fs.PathError{Op: "open", Path: dir, Err: err})
	}
	var st unix.Stat_t
	if err := unix.Fstat(dfd, &st); err != nil {
		unix.Close(dfd)
		return -1, readError(path, tokenFileSpec, err)
	}
	euid := os.Geteuid()
	switch {
	case int(st.Uid) != euid && st.Uid != 0:
		unix.Close(dfd)
		return -1, &fileError{path: path,
			problem: fmt.Sprintf("the directory %s is owned by uid %d, not by you (uid %d) or root, so its owner could replace the ECS token file", dir, st.Uid, euid),
			fix:     tokenFileSpec.pointAt + " a file in a directory you own"}
	case st.Mode&0o022 != 0:
		unix.Close(dfd)
		fix := fmt.Sprintf("run: chmod go-w %s; or %s a file in a private directory", ShellQuote(dir), tokenFileSpec.pointAt)
		if st.Mode&unix.S_ISVTX != 0 {
			// A shared directory like /tmp: the sticky bit keeps others
			// from renaming our file, but not from creating the name
			// first, and it must stay writable.
			fix = tokenFileSpec.pointAt + " a file in a private directory, e.g. ~/.config/imdsd/ecs-token"
		}
		return -1, &fileError{path: path,
			problem: fmt.Sprintf("the directory %s is writable by other users (mode %04o), so they could replace the ECS token file", dir, st.Mode&0o7777),
			fix:     fix}
	}
	return dfd, nil
}

func tokenSymlinkError(path string) error {
	problem := "is a symbolic link"
	if target, err := os.Readlink(path); err == nil {
		problem += " (to " + target + ")"
	}
	return &fileError{path: path,
		problem: problem + "; imdsd does not follow a symlink to the ECS token file, so that nobody can swap the token under it",
		fix:     tokenFileSpec.pointAt + " the file itself"}
}
