package config

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResolveProfileExplainsMistakes(t *testing.T) {
	t.Parallel()
	const (
		role  = "arn:aws:iam::111122223333:role/dev"
		keys  = "[base]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = S3CRET\n"
		cfgF  = "config"
		credF = "credentials"
	)
	tests := []struct {
		name       string
		cfg, creds string
		file       string // the file the error must point at, with line
		line       int
		want       []string
	}{
		{"rolearn with source_profile",
			"[profile dev]\nrolearn = " + role + "\nsource_profile = base\n", keys,
			cfgF, 2, []string{"profile dev: rolearn: unknown key; did you mean role_arn?", "source_profile: needs role_arn"}},
		{"rolearn alone",
			"[profile dev]\nregion = eu-west-1\nrolearn = " + role + "\n", "",
			cfgF, 3, []string{"rolearn: unknown key; did you mean role_arn?", "the profile has no credentials"}},
		{"key case and dashes",
			"[profile dev]\nRole-Arn = " + role + "\nsource_profile = base\n", keys,
			cfgF, 2, []string{"Role-Arn: unknown key; did you mean role_arn?"}},
		{"sorce_profile",
			"[profile dev]\nrole_arn = " + role + "\nsorce_profile = base\n", keys,
			cfgF, 3, []string{"sorce_profile: unknown key; did you mean source_profile?", "role_arn: nothing to assume the role with"}},
		{"credential_sorce",
			"[profile dev]\nrole_arn = " + role + "\ncredential_sorce = Environment\n", "",
			cfgF, 3, []string{"did you mean credential_source?"}},
		{"typo in the source profile, in the credentials file",
			"[profile dev]\nrole_arn = " + role + "\nsource_profile = base\n", "[base]\naws_acess_key_id = AKIAEXAMPLE\naws_secret_access_key = S3CRET\n",
			credF, 2, []string{"profile base: aws_acess_key_id: unknown key; did you mean aws_access_key_id?", "has aws_secret_access_key but no aws_access_key_id"}},
		{"the source profile holds only a misspelt key",
			"[profile dev]\nrole_arn = " + role + "\nsource_profile = base\n", "[base]\naws_acess_key_id = AKIAEXAMPLE\n",
			credF, 2, []string{"profile base: aws_acess_key_id: unknown key; did you mean aws_access_key_id? (as written, profile dev: source_profile: the source_profile chain"}},
		{"half a key pair",
			"[profile dev]\nrole_arn = " + role + "\nsource_profile = base\n", "[base]\n\naws_access_key_id = AKIAEXAMPLE\n",
			credF, 3, []string{"profile base: aws_access_key_id: has aws_access_key_id but no aws_secret_access_key; add the other half"}},
		{"role_arn without a source",
			"[profile dev]\nrole_arn = " + role + "\n", keys,
			cfgF, 2, []string{"role_arn: nothing to assume the role with: add source_profile"}},
		{"a typo that does not explain the failure is a note",
			"[profile dev]\nrole_arn = " + role + "\nsource_profile = nope\nregoin = eu-west-1\n", keys,
			cfgF, 3, []string{`source profile "nope" does not exist`, "(also ", ":4: regoin is not an AWS setting; did you mean region?)"}},
		{"sub-settings and comments are not keys",
			"[profile dev]\ns3 =\n  max_concurent_requests = 20\n# rolearn = x\n; rolearn = y\nrole_arn = " + role + "\n", "",
			cfgF, 6, []string{"role_arn: nothing to assume the role with"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			files := AWSFiles{Config: []string{filepath.Join(dir, cfgF)}, Credentials: []string{filepath.Join(dir, credF)}}
			writeFile(t, files.Config[0], tt.cfg)
			writeFile(t, files.Credentials[0], tt.creds)
			_, err := ResolveProfile(context.Background(), files, "dev")
			at := fmt.Sprintf("%s:%d: ", filepath.Join(dir, tt.file), tt.line)
			if err == nil || !strings.HasPrefix(err.Error(), at) {
				t.Fatalf("error %v; want it at %s", err, at)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "S3CRET") || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q holds the secret or spans lines", err)
			}
		})
	}
}

func TestResolveProfileAcceptsOtherToolsKeys(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files := AWSFiles{Config: []string{filepath.Join(dir, "config")}, Credentials: []string{filepath.Join(dir, "credentials")}}
	writeFile(t, files.Config[0], `[profile dev]
role_arn = arn:aws:iam::111122223333:role/dev
source_profile = base
mfa_process = ykman oath accounts code -s aws
parent_profile = base
granted_sso_start_url = https://example.awsapps.com/start
s3 =
  max_concurrent_requests = 20
  addressing_style = path
Region = eu-west-1
[profile base]
credential_process = /bin/true
`)
	p, err := ResolveProfile(context.Background(), files, "dev")
	if err != nil || p.Kind != KindAssumeRole || p.Region != "eu-west-1" {
		t.Fatalf("ResolveProfile = %+v, %v", p, err)
	}
}

func TestProfileKeys(t *testing.T) {
	t.Parallel()
	f := filepath.Join(t.TempDir(), "config")
	writeFile(t, f, `[default]
region = us-east-1
[ profile  dev ] ; the dev account
# role_arn = commented out
Role_ARN = arn:aws:iam::111122223333:role/dev # trailing comment
source_profile: base
s3 =
  max_concurrent_requests = 20
	addressing_style = path
  region = continued?
output = json
  cli_pager = promoted
[profile other]
region = eu-west-1
[profile dev]
mfa_serial = arn:aws:iam::111122223333:mfa/me
`)
	header, keys := profileKeys(f, "dev")
	var got []string
	for _, k := range keys {
		got = append(got, fmt.Sprintf("%d %s(%s)=%s", k.line, k.key, k.written, k.value))
	}
	want := []string{
		"5 role_arn(Role_ARN)=arn:aws:iam::111122223333:role/dev",
		"6 source_profile(source_profile)=base",
		"7 s3(s3)=",
		"11 output(output)=json",
		"12 cli_pager(cli_pager)=promoted",
		"16 mfa_serial(mfa_serial)=arn:aws:iam::111122223333:mfa/me",
	}
	if header != 3 || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("header %d, keys:\n%s\nwant header 3, keys:\n%s", header, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if line := findKey(f, "dev", "source_profile"); line != 6 {
		t.Errorf("findKey source_profile = %d, want 6", line)
	}
	if line := findKey(f, "dev", "external_id"); line != 3 {
		t.Errorf("findKey of a missing key = %d, want the header's line 3", line)
	}
	if line := findKey(f, "nope", ""); line != 0 {
		t.Errorf("findKey of a missing profile = %d, want 0", line)
	}
}

func TestAWSFileWarningsTypos(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files := AWSFiles{Config: []string{filepath.Join(dir, "config")}, Credentials: []string{filepath.Join(dir, "credentials"), filepath.Join(dir, "missing")}}
	writeFile(t, files.Config[0], `[profile dev]
role_arn = arn:aws:iam::111122223333:role/dev
source_profile = base
regoin = eu-west-1
[profile ops]
role_arn = arn:aws:iam::111122223333:role/ops
source_profile = base
[profile unserved]
outptu = json
`)
	writeFile(t, files.Credentials[0], "[base]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = S3CRET\nmfa_serail = arn:aws:iam::111122223333:mfa/me\n")
	if fileModesMeaningful {
		for _, f := range []string{files.Config[0], files.Credentials[0]} {
			if err := os.Chmod(f, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	got := AWSFileWarnings(files, "dev", "ops")
	want := []string{
		files.Config[0] + ":4: profile dev: regoin is not an AWS setting, so the SDKs ignore it; did you mean region?",
		files.Credentials[0] + ":4: profile base: mfa_serail is not an AWS setting, so the SDKs ignore it; did you mean mfa_serial?",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := AWSFileWarnings(AWSFiles{Config: []string{filepath.Join(dir, "none")}}, "dev"); len(got) != 0 {
		t.Errorf("missing files: %q", got)
	}
}
