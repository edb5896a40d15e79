package config

import (
	"fmt"
	"os"
	"path/filepath"
)

// AWSFileWarnings returns what is wrong but not fatal about the AWS files,
// one message each, for the daemon to log (once per reload): a credentials
// file other users can read, a file or its directory other users can
// write (and so add a credential_process that imdsd runs), and keys of the
// named profiles and their source profiles that look like typos of AWS
// settings ("regoin = eu-west-1" is ignored by every SDK). Missing and
// unreadable files are left to CheckAWSFiles and ResolveProfile, whose
// errors name them. Messages hold paths and key names, never values.
func AWSFileWarnings(f AWSFiles, profiles ...string) []string {
	var out []string
	if fileModesMeaningful {
		_ = forEachAWSFile(f, func(p string, spec *fileSpec) error {
			out = append(out, modeWarnings(p, spec)...)
			return nil
		})
	}
	seen := map[keyTypo]bool{}
	for _, name := range profiles {
		for _, t := range profileTypos(f, name) {
			if seen[t] {
				continue
			}
			seen[t] = true
			out = append(out, fmt.Sprintf("%s:%d: profile %s: %s is not an AWS setting, so the SDKs ignore it; did you mean %s?", t.file, t.line, t.profile, t.key, t.suggest))
		}
	}
	return out
}

// modeWarnings checks the permission bits of one AWS file and of its
// directory.
func modeWarnings(path string, spec *fileSpec) []string {
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	var out []string
	mode := fi.Mode().Perm()
	chmod := ownChmod(fi, "600", path)
	switch {
	case mode&0o002 != 0:
		out = append(out, fmt.Sprintf("%s: every user on this machine can write the %s (mode %04o), so anyone can change your profiles or add a credential_process that imdsd runs as you; run: %s", path, spec.what, mode, chmod))
	case mode&0o004 != 0 && spec == awsCredsSpec:
		out = append(out, fmt.Sprintf("%s: every user on this machine can read the %s (mode %04o), and it holds your AWS keys; run: %s", path, spec.what, mode, chmod))
	}
	dir := filepath.Dir(path)
	if di, err := os.Stat(dir); err == nil && di.Mode().Perm()&0o002 != 0 && di.Mode()&os.ModeSticky == 0 {
		out = append(out, fmt.Sprintf("%s: every user on this machine can write its directory %s (mode %04o), so anyone can replace the %s; run: %s", path, dir, di.Mode().Perm(), spec.what, ownChmod(di, "700", dir)))
	}
	return out
}

// ownChmod is the chmod command that fixes path's mode, with sudo when the
// file is not ours.
func ownChmod(fi os.FileInfo, mode, path string) string {
	cmd := "chmod " + mode + " " + ShellQuote(path)
	if uid, ok := fileOwner(fi); ok && uid != os.Geteuid() {
		cmd = "sudo " + cmd
	}
	return cmd
}
