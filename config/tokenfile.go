package config

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// tokenFileSpec: the token is a secret the daemon writes itself, so only a
// file of ours will do, not even root's.
var tokenFileSpec = &fileSpec{what: "ECS token file", family: "ECS token files", max: MaxTokenFileSize, pointAt: "point ecs.token_file at", ownerOnly: true}

// EnsureTokenFile returns the ECS Authorization token stored at path,
// creating the file with a fresh random token if it does not exist.
//
// An existing file must be a regular file, not a symlink, owned by the
// user and private to them, in a directory no other user can write (see
// ReadTokenFile), so nobody else can have chosen the token. It must hold
// exactly the token: no whitespace and no trailing newline, because SDKs
// send the file's contents verbatim in the Authorization header. A new file gets 32 random
// bytes, hex-encoded, mode 0600, in parent directories created 0700; it is
// written to a temporary file and linked into place, so a concurrent
// reader never sees a partial token and a concurrent creator's token is
// never overwritten.
func EnsureTokenFile(path string) (token string, created bool, err error) {
	if path == "" {
		return "", false, errors.New("ECS token file: no path given; set ecs.token_file")
	}
	path = ExpandHome(path)
	// Two tries: if another process creates the file between our read and
	// our link, we read theirs.
	for range 2 {
		token, err = readTokenFile(path)
		if !errors.Is(err, fs.ErrNotExist) {
			return token, false, err
		}
		token, err = createTokenFile(path)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return token, err == nil, err
	}
	return "", false, fmt.Errorf("%s: ECS token file keeps appearing and disappearing; check what else writes it", path)
}

// ReadTokenFile reads the ECS token file with every check EnsureTokenFile
// applies, without creating it: the file must be a regular file owned by
// the user (not a symlink), private (mode 0600 or stricter), at most
// MaxTokenFileSize bytes, in a directory no other user can write, and hold
// exactly one token with no trailing newline. A missing file yields an
// error matching fs.ErrNotExist.
func ReadTokenFile(path string) (string, error) {
	return readTokenFile(ExpandHome(path))
}

// readTokenFile reads and checks an existing token file. A missing file is
// reported as fs.ErrNotExist, unwrapped enough for errors.Is.
func readTokenFile(path string) (string, error) {
	f, fi, err := openTokenFile(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	// Windows reports synthetic permission bits; ACLs protect files there.
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o066 != 0 {
		// Readable by others leaks the token; writable by others lets
		// them set a token they know.
		return "", fmt.Errorf("%s: the ECS token file is accessible by other users (mode %04o); run: chmod 600 %s", path, fi.Mode().Perm(), ShellQuote(path))
	}
	data, err := readCapped(f, path, tokenFileSpec, fi.Size())
	if err != nil {
		return "", err
	}
	tok := string(data)
	if strings.TrimSpace(tok) == "" {
		return "", fmt.Errorf("%s: the ECS token file is empty; write a token into it, or delete it and imdsd will create one", path)
	}
	if trimmed := strings.TrimRight(tok, "\r\n"); trimmed != tok && !strings.ContainsFunc(trimmed, badTokenRune) {
		return "", fmt.Errorf("%s: the ECS token file ends with a newline, which breaks every SDK (they send the file verbatim as the Authorization header); rewrite it without one, e.g.: printf %%s \"$(cat %s)\" > %s", path, ShellQuote(path), ShellQuote(path))
	}
	if strings.ContainsFunc(tok, badTokenRune) {
		return "", fmt.Errorf("%s: the ECS token file contains whitespace or control characters; SDKs send it verbatim as the Authorization header, so it must be a single word with no newline", path)
	}
	return tok, nil
}

// badTokenRune reports characters that cannot appear in an HTTP header
// value token: whitespace and controls (including a trailing newline).
func badTokenRune(r rune) bool {
	return r <= ' ' || r == 0x7f || r == 0x85 || r == 0xa0 || r == 0x2028 || r == 0x2029
}

// createTokenFile writes a new random token to path, failing with an error
// matching fs.ErrExist if path appeared meanwhile.
func createTokenFile(path string) (string, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("%s: cannot create the directory for the ECS token file: %w", path, err)
	}
	// An existing directory may be one others can write in.
	if err := checkTokenDir(path); err != nil {
		return "", err
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("generating an ECS token: %w", err)
	}
	tok := hex.EncodeToString(raw[:])

	// CreateTemp opens with O_EXCL and mode 0600.
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("%s: cannot create the ECS token file: %w", path, err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // after a successful link this drops only the extra name
	if err := tmp.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		tmp.Close()
		return "", fmt.Errorf("%s: cannot create the ECS token file: %w", path, err)
	}
	if _, err := tmp.WriteString(tok); err != nil {
		tmp.Close()
		return "", fmt.Errorf("%s: cannot write the ECS token file: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", fmt.Errorf("%s: cannot write the ECS token file: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("%s: cannot write the ECS token file: %w", path, err)
	}

	// A hard link fails if path exists, unlike rename, so two daemons
	// starting together agree on one token.
	if err := os.Link(tmpName, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return "", err
		}
		// Some file systems have no hard links; rename is still atomic,
		// only not exclusive. Check first to keep the window small.
		if _, statErr := os.Lstat(path); statErr == nil {
			return "", fs.ErrExist
		}
		if err := os.Rename(tmpName, path); err != nil {
			return "", fmt.Errorf("%s: cannot create the ECS token file: %w", path, err)
		}
	}
	syncDir(dir)
	return tok, nil
}

// syncDir makes a new directory entry durable; best effort, since not
// every platform can sync a directory and the token can be recreated.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
