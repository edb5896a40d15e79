package control

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// checkSocketDir makes sure dir (the control socket's directory) is one
// only this user controls: whoever can replace the socket can answer the
// CLI in the daemon's place (and read MFA codes sent to it). The
// directory, and a symlink on the way to it, must be owned by us or root;
// the directory must not be writable by others.
func checkSocketDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if li, err := os.Lstat(dir); err == nil && li.Mode()&fs.ModeSymlink != 0 {
		if uid, ok := fileOwner(li); ok && !trustedUID(uid) {
			return fmt.Errorf("%s is a symlink owned by uid %d, not by you (uid %d) or root: it could lead into another user's directory; remove it or choose another control_socket", dir, uid, os.Geteuid())
		}
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return errors.New(dir + " is not a directory")
	}
	if uid, ok := fileOwner(fi); ok && !trustedUID(uid) {
		real, _ := filepath.EvalSymlinks(dir)
		return fmt.Errorf("%s (%s) is owned by uid %d, not by you (uid %d) or root: its owner could replace the socket; choose a control_socket in a directory of yours", dir, real, uid, os.Geteuid())
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("its directory is writable by other users, who could replace the socket; chmod go-w %s or choose another path", dir)
	}
	return nil
}

// trustedUID: this process's user, or root. -1 (unknown) is trusted only
// where the OS cannot tell.
func trustedUID(uid int) bool { return uid == os.Geteuid() || uid == 0 }
