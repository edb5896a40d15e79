//go:build !linux

package daemon

import "errors"

func pageOutExecutable() error {
	return errors.New("paging out the binary is only done on Linux")
}

func residentKiB() int64 { return 0 }
