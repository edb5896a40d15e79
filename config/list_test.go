package config

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestDescribeProfiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files := AWSFiles{Config: []string{filepath.Join(dir, "config")}, Credentials: []string{filepath.Join(dir, "credentials")}}
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(files.Config[0], `[default]
region = us-east-1

[profile dev]
role_arn = arn:aws:iam::111122223333:role/dev
source_profile = base
mfa_serial = arn:aws:iam::111122223333:mfa/alice
region = eu-west-1

[sso-session corp]
sso_start_url = https://corp.awsapps.com/start
sso_region = eu-west-1

[profile sso]
sso_session = corp
sso_account_id = 111122223333
sso_role_name = Dev

[profile proc]
credential_process = /bin/true

[profile broken]
role_arn = not-an-arn
source_profile = base
`)
	write(files.Credentials[0], `[base]
aws_access_key_id = AKIAEXAMPLEEXAMPLE01
aws_secret_access_key = secret
`)
	cfg := Default()
	cfg.Profile, cfg.ECS.Profiles = "dev", []string{"proc"}
	got, err := DescribeProfiles(context.Background(), files, cfg)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]ProfileInfo{}
	var names []string
	for _, p := range got {
		byName[p.Name] = p
		names = append(names, p.Name)
	}
	if want := []string{"dev", "sso", "proc", "broken", "base"}; !slices.Equal(names[1:], want) {
		t.Fatalf("profiles %v, want default then %v (no sso-session section)", names, want)
	}
	cases := map[string]ProfileInfo{
		"dev":  {Kind: "role", Role: "arn:aws:iam::111122223333:role/dev", Source: "base", MFA: "arn:aws:iam::111122223333:mfa/alice", Region: "eu-west-1"},
		"sso":  {Kind: "sso"},
		"proc": {Kind: "process"},
		"base": {Kind: "keys"},
	}
	for n, want := range cases {
		p := byName[n]
		if p.Kind != want.Kind || p.Role != want.Role || p.Source != want.Source || p.MFA != want.MFA || p.Region != want.Region || p.Error != "" {
			t.Errorf("%s: %+v, want %+v", n, p, want)
		}
	}
	if !slices.Equal(byName["dev"].ServedAt, []string{"imds", "ecs /creds", "ecs /role/dev"}) || !slices.Equal(byName["proc"].ServedAt, []string{"ecs /role/proc"}) || byName["sso"].ServedAt != nil {
		t.Errorf("served at: dev %v, proc %v, sso %v", byName["dev"].ServedAt, byName["proc"].ServedAt, byName["sso"].ServedAt)
	}
	if byName["broken"].Error == "" {
		t.Error("a profile with a bad role_arn shows no error")
	}
}
