//go:build unix

package config

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// openNoBlock opens path for reading without ever blocking in open():
// O_NONBLOCK makes the open of a FIFO or device return at once (the
// caller's fstat then refuses it), and reads of a regular file ignore the
// flag. O_NOCTTY keeps a terminal from becoming the daemon's controlling
// terminal; os.OpenFile adds O_CLOEXEC.
func openNoBlock(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
}

// checkOwner refuses a file another user owns: they could change it under
// us, and these files name commands imdsd runs (credential_process,
// mfa_process) and hold its secrets. Root-owned files are fine unless
// spec.ownerOnly, since root can change anything of ours anyway.
func checkOwner(path string, spec *fileSpec, fi fs.FileInfo) error {
	uid, ok := fileOwner(fi)
	if !ok {
		return nil
	}
	euid := os.Geteuid()
	if uid == euid || uid == 0 && !spec.ownerOnly {
		return nil
	}
	if spec.ownerOnly {
		// A secret someone else wrote is known to them: replace, not chown.
		return &fileError{path: path,
			problem: fmt.Sprintf("is owned by uid %d, not by you (uid %d), so another user can change it", uid, euid),
			fix:     fmt.Sprintf("delete it and imdsd will create a new one, or %s a file you own", spec.pointAt)}
	}
	return &fileError{path: path,
		problem: fmt.Sprintf("is owned by uid %d, not by you (uid %d) or root, so another user can change it", uid, euid),
		fix:     fmt.Sprintf("if you trust it, run: sudo chown %d %s; or %s a file you own", euid, ShellQuote(path), spec.pointAt)}
}

// fileOwner returns the uid that owns the file fi describes.
func fileOwner(fi fs.FileInfo) (int, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}

// fileModesMeaningful: permission bits say who may read and write a file.
const fileModesMeaningful = true
