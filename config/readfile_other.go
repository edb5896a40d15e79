//go:build !unix

package config

import (
	"io/fs"
	"os"
)

// openNoBlock opens path for reading. Windows has no O_NONBLOCK for files;
// openChecked's look before opening refuses pipes and devices instead.
func openNoBlock(path string) (*os.File, error) {
	return os.Open(path)
}

// checkOwner accepts every owner: Windows protects files with ACLs, which
// Go's FileInfo does not expose.
func checkOwner(string, *fileSpec, fs.FileInfo) error { return nil }

// fileOwner is unknown: Go's FileInfo has no owner on Windows.
func fileOwner(fs.FileInfo) (int, bool) { return 0, false }

// fileModesMeaningful: Windows keeps who may read and write a file in ACLs,
// which Go's FileMode does not reflect.
const fileModesMeaningful = false
