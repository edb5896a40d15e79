//go:build !unix

package control

import "io/fs"

// fileOwner: no uid owners here (Windows has ACLs); the directory's mode
// check is all there is.
func fileOwner(fs.FileInfo) (int, bool) { return -1, false }
