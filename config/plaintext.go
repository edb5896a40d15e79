package config

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
)

// PlaintextKeys reads a profile's long-term keys from a credentials file
// with the SDK's loader (after the file checks), for `imdsd keys add
// --from-credentials`.
func PlaintextKeys(ctx context.Context, file, profile string) (aws.Credentials, error) {
	if err := CheckAWSFiles(AWSFiles{Credentials: []string{file}}); err != nil {
		return aws.Credentials{}, err
	}
	sc, err := awsconfig.LoadSharedConfigProfile(ctx, profile, func(o *awsconfig.LoadSharedConfigOptions) {
		o.ConfigFiles = []string{} // the credentials file alone
		o.CredentialsFiles = []string{file}
	})
	var nf awsconfig.SharedConfigProfileNotExistError
	switch {
	case errors.As(err, &nf):
		return aws.Credentials{}, fmt.Errorf("%s has no [%s] section; name a profile whose keys are in it", file, profile)
	case err != nil:
		return aws.Credentials{}, fmt.Errorf("%s: profile %s: %s", file, profile, strings.Join(strings.Fields(err.Error()), " "))
	case !sc.Credentials.HasKeys():
		return aws.Credentials{}, fmt.Errorf("%s: [%s] has no aws_access_key_id and aws_secret_access_key to import", file, profile)
	case sc.Credentials.SessionToken != "":
		return aws.Credentials{}, fmt.Errorf("%s: [%s] holds a session (aws_session_token), not a long-term key; only long-term keys belong in the keyring", file, profile)
	}
	return sc.Credentials, nil
}

// RemoveSection returns an INI text without the [profile] sections (every
// one, as the SDK merges repeated sections), and whether there was one.
// Every other byte is kept: a section runs from its header to its last
// setting line, so blank lines and comments just above the next header
// (which usually describe that next section) stay. Only headers are
// recognized here; the values are not read.
func RemoveSection(text []byte, profile string) ([]byte, bool) {
	lines := bytes.SplitAfter(text, []byte("\n"))
	var out bytes.Buffer
	found := false
	for i := 0; i < len(lines); {
		name, isHeader := iniHeader(lines[i])
		if !isHeader || (name != profile && name != "profile "+profile) {
			out.Write(lines[i])
			i++
			continue
		}
		found = true
		// The section's end: the next header; then give back the
		// blank and comment lines just before it.
		end := i + 1
		for end < len(lines) {
			if _, h := iniHeader(lines[end]); h {
				break
			}
			end++
		}
		keep := end
		for keep > i+1 && isBlankOrComment(lines[keep-1]) {
			keep--
		}
		if end == len(lines) {
			keep = end // at the end of the file nothing follows to describe
		}
		for _, l := range lines[keep:end] {
			out.Write(l)
		}
		i = end
	}
	return out.Bytes(), found
}

func iniHeader(line []byte) (string, bool) {
	t := strings.TrimSpace(cutAny(string(line), "#", ";"))
	if strings.HasPrefix(t, "[") && strings.HasSuffix(t, "]") {
		return strings.Join(strings.Fields(t[1:len(t)-1]), " "), true
	}
	return "", false
}

func isBlankOrComment(line []byte) bool {
	t := strings.TrimSpace(string(line))
	return t == "" || t[0] == '#' || t[0] == ';'
}

// RemovePlaintextSection deletes a profile's sections from a credentials
// file (RemoveSection), replacing the file atomically with its mode kept.
// It reports whether there was a section to remove.
func RemovePlaintextSection(file, profile string) (bool, error) {
	data, err := readChecked(file, awsConfigSpec)
	if err != nil {
		return false, err
	}
	out, found := RemoveSection(data, profile)
	if !found {
		return false, nil
	}
	mode := fs.FileMode(0o600)
	if fi, err := os.Stat(file); err == nil {
		mode = fi.Mode().Perm()
	}
	return true, WriteFileAtomic(file, out, mode)
}
