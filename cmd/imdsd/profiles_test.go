package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestProfilesListsAndCompletes(t *testing.T) {
	dir := t.TempDir()
	cfgFile, credFile := filepath.Join(dir, "config"), filepath.Join(dir, "credentials")
	os.WriteFile(cfgFile, []byte("[profile dev]\nrole_arn = arn:aws:iam::111122223333:role/dev\nsource_profile = base\nregion = eu-west-1\n"), 0o600)
	os.WriteFile(credFile, []byte("[base]\naws_access_key_id = AKIAEXAMPLEEXAMPLE01\naws_secret_access_key = s3cr3tNeverPrinted\n"), 0o600)
	t.Setenv("AWS_CONFIG_FILE", cfgFile)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", credFile)
	imdsdCfg := filepath.Join(dir, "imdsd.toml")
	os.WriteFile(imdsdCfg, []byte("profile = \"dev\"\n"), 0o600)

	out, err := run(t, "profiles", "--config", imdsdCfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"dev", "role", "arn:aws:iam::111122223333:role/dev", "base", "eu-west-1", "imds, ecs /creds", "keys"} {
		if !strings.Contains(out, want) {
			t.Errorf("profiles output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "s3cr3t") {
		t.Fatal("profiles printed a secret key")
	}
	out, err = run(t, "profiles", "--config", imdsdCfg, "--json")
	var ps []struct{ Name, Kind string }
	if err != nil || json.Unmarshal([]byte(out), &ps) != nil || len(ps) != 2 || ps[0].Name != "dev" || ps[1].Kind != "keys" {
		t.Fatalf("profiles --json: %v %+v\n%s", err, ps, out)
	}
	for _, args := range [][]string{{"__complete", "use", ""}, {"__complete", "exec", ""}, {"__complete", "creds", "--profile", ""}} {
		var b strings.Builder
		root := newRoot()
		root.SetArgs(args)
		root.SetOut(&b)
		err := root.Execute()
		out := b.String()
		if err != nil || !strings.Contains(out, "dev\n") || !strings.Contains(out, "base\n") {
			t.Errorf("completion %v: %v\n%s", args[1:], err, out)
		}
	}
}
