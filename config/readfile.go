package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Size caps for the files imdsd reads. Real files are far smaller; the caps
// exist so that a mistaken or hostile path (/dev/zero, a log, a 100 MB
// "config") is refused instead of read into memory.
const (
	// MaxConfigFileSize caps imdsd's own config file (config.toml): 1 MiB.
	MaxConfigFileSize = 1 << 20
	// MaxAWSFileSize caps each AWS shared config or credentials file
	// (~/.aws/config, ~/.aws/credentials): 8 MiB.
	MaxAWSFileSize = 8 << 20
	// MaxTokenFileSize caps the ECS token file: 4 KiB; it holds one header
	// value.
	MaxTokenFileSize = 4 << 10
	// MaxSSOTokenFileSize caps an SSO token cache file: 64 KiB; the AWS
	// CLI's are under 4 KiB.
	MaxSSOTokenFileSize = 64 << 10
)

// fileSpec says what a file is, for the checks and for messages that tell
// the user how to fix them.
type fileSpec struct {
	what    string // "imdsd config file": for read errors
	family  string // "config files": "imdsd reads <family> up to <max>"
	max     int64
	pointAt string // how to use another file: "point AWS_CONFIG_FILE at"
	// ownerOnly refuses root-owned files too: for secrets the daemon itself
	// writes, where another owner means someone else put it there.
	ownerOnly bool
}

var (
	configFileSpec = &fileSpec{what: "imdsd config file", family: "config files", max: MaxConfigFileSize, pointAt: "point --config at"}
	awsConfigSpec  = &fileSpec{what: "AWS config file", family: "AWS files", max: MaxAWSFileSize, pointAt: "point AWS_CONFIG_FILE at"}
	awsCredsSpec   = &fileSpec{what: "AWS credentials file", family: "AWS files", max: MaxAWSFileSize, pointAt: "point AWS_SHARED_CREDENTIALS_FILE at"}
	ssoTokenSpec   = &fileSpec{what: "SSO token cache file", family: "SSO token cache files", max: MaxSSOTokenFileSize, pointAt: "remove it and run imdsd login, which writes"}
)

// fileError is a file refused or unreadable; the message names the file,
// the problem and the fix.
type fileError struct {
	path, problem, fix string
	err                error // the cause, for errors.Is; may be nil
}

func (e *fileError) Error() string {
	if e.fix == "" {
		return e.path + ": " + e.problem
	}
	return e.path + ": " + e.problem + "; " + e.fix
}

func (e *fileError) Unwrap() error { return e.err }

// readChecked reads the file at path after the checks of openChecked,
// through a limit of max+1 bytes so that a file that grows while being read
// (or lies about its size, like /proc files) is refused too. A missing file
// yields an error matching fs.ErrNotExist.
func readChecked(path string, spec *fileSpec) ([]byte, error) {
	f, size, err := openChecked(path, spec)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readCapped(f, path, spec, size)
}

// checkFile runs the checks of readChecked without keeping the contents,
// for files another reader (the AWS SDK) opens afterwards.
func checkFile(path string, spec *fileSpec) error {
	f, _, err := openChecked(path, spec)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.Copy(io.Discard, io.LimitReader(f, spec.max+1))
	if err != nil {
		return readError(path, spec, err)
	}
	if n > spec.max {
		return grewError(path, spec)
	}
	return nil
}

// openChecked opens path for reading, following symlinks, and returns it
// only if what was opened is a regular file, owned by us or root, no larger
// than spec.max. The open never blocks (O_NONBLOCK), so a FIFO or device
// cannot hang the caller, and the checks use fstat on the open descriptor,
// so a file swapped after a check is still caught.
func openChecked(path string, spec *fileSpec) (*os.File, int64, error) {
	// Look before opening: opening a device can have effects of its own.
	fi, err := os.Stat(path)
	if err != nil {
		return nil, 0, openFailed(path, spec, nil, err)
	}
	if err := checkInfo(path, spec, fi); err != nil {
		return nil, 0, err
	}
	f, err := openNoBlock(path)
	if err != nil {
		return nil, 0, openFailed(path, spec, fi, err)
	}
	fi, err = f.Stat()
	if err == nil {
		err = checkInfo(path, spec, fi)
	} else {
		err = readError(path, spec, err)
	}
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, fi.Size(), nil
}

// checkInfo applies the type, owner and size checks to fi, which describes
// path after symlink resolution.
func checkInfo(path string, spec *fileSpec, fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return &fileError{path: path, problem: "is " + describeType(fi.Mode()) + ", not a regular file", fix: spec.pointAt + " a regular file"}
	}
	if err := checkOwner(path, spec, fi); err != nil {
		return err
	}
	if fi.Size() > spec.max {
		size, limit := formatSize(fi.Size()), formatCap(spec.max)
		if size == formatSize(spec.max) {
			// Just over the cap: "8.0 MiB; ... up to 8 MiB" would puzzle.
			size, limit = fmt.Sprintf("%d bytes", fi.Size()), fmt.Sprintf("%s (%d bytes)", limit, spec.max)
		}
		return &fileError{path: path,
			problem: fmt.Sprintf("is %s; imdsd reads %s up to %s", size, spec.family, limit),
			fix:     spec.pointAt + " the right file, or make this one smaller"}
	}
	return nil
}

// readCapped reads r to the end, refusing more than spec.max bytes. size
// (from fstat) sizes the buffer, so a normal file is read with one
// allocation.
func readCapped(r io.Reader, path string, spec *fileSpec, size int64) ([]byte, error) {
	// +1 so that EOF is seen without growing the buffer.
	buf := make([]byte, 0, min(max(size, 0), spec.max)+1)
	lr := io.LimitReader(r, spec.max+1)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, readError(path, spec, err)
		}
	}
	if int64(len(buf)) > spec.max {
		return nil, grewError(path, spec)
	}
	return buf, nil
}

func grewError(path string, spec *fileSpec) error {
	return &fileError{path: path,
		problem: fmt.Sprintf("holds more than %s (it grew while being read); imdsd reads %s up to %s", formatCap(spec.max), spec.family, formatCap(spec.max)),
		fix:     spec.pointAt + " the right file, or make this one smaller"}
}

// openError describes a failed open or stat; a missing file keeps matching
// fs.ErrNotExist so callers can treat it as absent.
func openError(path string, spec *fileSpec, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &fileError{path: path, problem: spec.what + " does not exist", err: err}
	case errors.Is(err, fs.ErrPermission):
		return &fileError{path: path, problem: "cannot read the " + spec.what + ": permission denied", fix: "make it readable by the user imdsd runs as, or " + spec.pointAt + " another file", err: err}
	}
	return readError(path, spec, err)
}

// openFailed describes a failed stat (fi nil) or open of a file that stat
// described as fi. Permission problems get the command that fixes them: the
// SDK, left to open such a file, would report the profile missing instead.
func openFailed(path string, spec *fileSpec, fi fs.FileInfo, err error) error {
	if !errors.Is(err, fs.ErrPermission) {
		return openError(path, spec, err)
	}
	if fi == nil {
		// Stat needs only search permission on the directories above.
		dir := closedDir(path)
		return &fileError{path: path, err: err,
			problem: fmt.Sprintf("cannot reach the %s: permission denied on the directory %s", spec.what, dir),
			fix:     fmt.Sprintf("let the user imdsd runs as enter it (chmod u+rx %s, as its owner), or %s another file", ShellQuote(dir), spec.pointAt)}
	}
	mode := fi.Mode().Perm()
	problem := fmt.Sprintf("cannot read the %s: permission denied (mode %04o)", spec.what, mode)
	uid, known := fileOwner(fi)
	euid := os.Geteuid()
	var fix string
	switch {
	case known && uid == euid && mode&0o400 == 0:
		fix = fmt.Sprintf("run: chmod 600 %s; or %s another file", ShellQuote(path), spec.pointAt)
	case known && uid == euid:
		problem = fmt.Sprintf("cannot read the %s: permission denied, although its mode %04o lets you read it", spec.what, mode)
		fix = fmt.Sprintf("an ACL or a security module (SELinux, AppArmor) denies it: check getfacl %s and the audit log, or %s another file", ShellQuote(path), spec.pointAt)
	case known:
		fix = fmt.Sprintf("it belongs to uid %d: if you trust it, run: sudo chown %d %s; or %s a file you own", uid, euid, ShellQuote(path), spec.pointAt)
	default:
		fix = "make it readable by the user imdsd runs as, or " + spec.pointAt + " another file"
	}
	return &fileError{path: path, problem: problem, fix: fix, err: err}
}

// closedDir returns the directory on path's way that cannot be entered:
// the deepest one stat still reaches.
func closedDir(path string) string {
	dir := filepath.Dir(path)
	for {
		parent := filepath.Dir(dir)
		if _, err := os.Stat(dir); err == nil || parent == dir {
			return dir
		}
		dir = parent
	}
}

func readError(path string, spec *fileSpec, err error) error {
	// The *PathError's own text would repeat the path.
	var pe *fs.PathError
	cause := err
	if errors.As(err, &pe) {
		cause = pe.Err
	}
	return &fileError{path: path, problem: fmt.Sprintf("cannot read the %s: %v", spec.what, cause), err: err}
}

// describeType names a file type the way a user would.
func describeType(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	}
	return "a special file (" + m.Type().String() + ")"
}

// formatSize prints a file's size for messages: "110.0 MiB".
func formatSize(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d bytes", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
}

// formatCap prints a size cap, a whole number of KiB or MiB: "8 MiB".
func formatCap(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	if n >= 1<<10 && n%(1<<10) == 0 {
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// ReadConfigFile reads an imdsd config file with the checks Load applies:
// a regular file (after following symlinks), owned by the user or root, at
// most MaxConfigFileSize bytes. For callers that edit the file; a missing
// file yields an error matching fs.ErrNotExist.
func ReadConfigFile(path string) ([]byte, error) {
	return readChecked(path, configFileSpec)
}

// CheckAWSFiles checks every existing AWS file as ResolveProfile does
// before the AWS SDK may open it: a regular file (after following
// symlinks), owned by the user or root, at most MaxAWSFileSize bytes.
// Missing files are fine, as they are to the SDK.
func CheckAWSFiles(f AWSFiles) error {
	return forEachAWSFile(f, func(p string, spec *fileSpec) error {
		err := checkFile(p, spec)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	})
}

// CheckSSOTokenFile checks an SSO token cache file as CheckAWSFiles checks
// the AWS files, before the SDK reads (and on refresh rewrites) it with
// plain opens: a FIFO there would hang the broker. A missing file is fine:
// the SDK then reports that nobody signed in.
func CheckSSOTokenFile(path string) error {
	err := checkFile(path, ssoTokenSpec)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// SSOTokenInfo reads when an SSO token cache file's token ends and whether
// it holds what the SDK needs to renew it (a refresh token and the client
// registration), for status. The tokens themselves are not returned.
func SSOTokenInfo(path string) (expires time.Time, renews bool, err error) {
	data, err := readChecked(path, ssoTokenSpec)
	if err != nil {
		return time.Time{}, false, err
	}
	var t struct {
		ExpiresAt    string `json:"expiresAt"`
		RefreshToken string `json:"refreshToken"`
		ClientID     string `json:"clientId"`
		ClientSecret string `json:"clientSecret"`
	}
	if err := json.Unmarshal(data, &t); err != nil {
		return time.Time{}, false, fmt.Errorf("%s: not an SSO token cache file: %w", path, err)
	}
	expires, err = time.Parse(time.RFC3339, t.ExpiresAt)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("%s: expiresAt: %w", path, err)
	}
	return expires, t.RefreshToken != "" && t.ClientID != "" && t.ClientSecret != "", nil
}

// forEachAWSFile calls fn for each file in order (config files first), with
// the spec that names the right environment variable, stopping at the
// first error.
func forEachAWSFile(f AWSFiles, fn func(path string, spec *fileSpec) error) error {
	for _, p := range f.Config {
		if err := fn(p, awsConfigSpec); err != nil {
			return err
		}
	}
	for _, p := range f.Credentials {
		if err := fn(p, awsCredsSpec); err != nil {
			return err
		}
	}
	return nil
}
