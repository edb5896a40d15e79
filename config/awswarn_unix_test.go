//go:build unix

package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAWSFileWarningsModes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name               string
		cfgMode, credsMode os.FileMode
		dirMode            os.FileMode
		want               []string // one substring per warning, in order; nil: none
	}{
		{"private", 0o600, 0o600, 0o700, nil},
		{"config readable by all is usual", 0o644, 0o600, 0o755, nil},
		{"credentials readable by all", 0o600, 0o644, 0o700, []string{
			"credentials: every user on this machine can read the AWS credentials file (mode 0644), and it holds your AWS keys; run: chmod 600 "}},
		{"credentials group-readable only", 0o600, 0o640, 0o700, nil},
		{"credentials writable by all", 0o600, 0o666, 0o700, []string{
			"credentials: every user on this machine can write the AWS credentials file (mode 0666)"}},
		{"config writable by all", 0o646, 0o600, 0o700, []string{
			"config: every user on this machine can write the AWS config file (mode 0646), so anyone can change your profiles or add a credential_process that imdsd runs as you; run: chmod 600 "}},
		{"directory writable by all", 0o600, 0o600, 0o777, []string{
			"config: every user on this machine can write its directory",
			"credentials: every user on this machine can write its directory"}},
		{"sticky directory", 0o600, 0o600, os.ModeSticky | 0o777, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "aws")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			files := AWSFiles{Config: []string{filepath.Join(dir, "config")}, Credentials: []string{filepath.Join(dir, "credentials")}}
			writeFile(t, files.Config[0], "[default]\nregion = eu-west-1\n")
			writeFile(t, files.Credentials[0], "[default]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = S3CRET\n")
			for p, m := range map[string]os.FileMode{files.Config[0]: tt.cfgMode, files.Credentials[0]: tt.credsMode, dir: tt.dirMode} {
				if err := os.Chmod(p, m); err != nil {
					t.Fatal(err)
				}
			}
			got := AWSFileWarnings(files, "default")
			if len(got) != len(tt.want) {
				t.Fatalf("warnings:\n%s\nwant %d", strings.Join(got, "\n"), len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) || !strings.HasPrefix(got[i], dir) {
					t.Errorf("warning %q does not name the file and contain %q", got[i], w)
				}
				if strings.Contains(got[i], "S3CRET") {
					t.Errorf("warning %q holds the secret", got[i])
				}
			}
			// Warnings, not errors: the files still resolve.
			if err := CheckAWSFiles(files); err != nil {
				t.Errorf("CheckAWSFiles: %v", err)
			}
		})
	}
}
