package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestAppendProfiles(t *testing.T) {
	t.Parallel()
	const existing = "# my settings\n[default]\nregion = eu-west-1\n\n[profile prod-Admin]\nsso_session = corp   ; hand-tuned\n[sso-session corp]\nsso_start_url = https://example.awsapps.com/start\nsso_region = eu-west-1" // no final newline
	sections := []Section{
		{"prod-Admin", "[profile prod-Admin]\nsso_session = corp\nsso_account_id = 111122223333\nsso_role_name = Admin\n"},
		{"dev-Dev", "[profile dev-Dev]\nsso_session = corp\nsso_account_id = 444455556666\nsso_role_name = Dev\n"},
		{"creds-only", "[profile creds-only]\nsso_session = corp\n"},
		{"dev-Dev", "[profile dev-Dev]\nsso_session = other\n"},
		{"dev-ReadOnly", "[profile dev-ReadOnly]\nsso_session = corp\nsso_account_id = 444455556666\nsso_role_name = ReadOnly\n"},
	}
	cases := map[string]struct {
		before      *string // nil: no file
		symlink     bool
		wantAdded   []string
		wantSkipped []string
	}{
		"existing file":     {before: ptr(existing), wantAdded: []string{"dev-Dev", "dev-ReadOnly"}, wantSkipped: []string{"prod-Admin", "creds-only", "dev-Dev"}},
		"through a symlink": {before: ptr(existing), symlink: true, wantAdded: []string{"dev-Dev", "dev-ReadOnly"}, wantSkipped: []string{"prod-Admin", "creds-only", "dev-Dev"}},
		"no file yet":       {wantAdded: []string{"prod-Admin", "dev-Dev", "dev-ReadOnly"}, wantSkipped: []string{"creds-only", "dev-Dev"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cfg, target := filepath.Join(dir, "config"), filepath.Join(dir, "config")
			creds := filepath.Join(dir, "credentials")
			must(t, os.WriteFile(creds, []byte("[creds-only]\naws_access_key_id = AKIAEXAMPLE\n"), 0o600))
			if tc.symlink {
				target = filepath.Join(dir, "dotfiles-config")
				must(t, os.Symlink(target, cfg))
			}
			if tc.before != nil {
				must(t, os.WriteFile(target, []byte(*tc.before), 0o640))
			}
			added, skipped, err := AppendProfiles(AWSFiles{Config: []string{cfg}, Credentials: []string{creds}}, sections)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(added, tc.wantAdded) || !slices.Equal(skipped, tc.wantSkipped) {
				t.Fatalf("added %v skipped %v, want %v and %v", added, skipped, tc.wantAdded, tc.wantSkipped)
			}
			data, err := os.ReadFile(target)
			must(t, err)
			got := string(data)
			if tc.before != nil && !strings.HasPrefix(got, *tc.before) {
				t.Fatalf("the existing bytes changed:\n%s", got)
			}
			if tc.symlink {
				if l, err := os.Readlink(cfg); err != nil || l != target {
					t.Fatalf("the symlink was replaced: %q %v", l, err)
				}
			}
			for _, a := range added {
				if strings.Count(got, "[profile "+a+"]") != 1 {
					t.Fatalf("%s not added once:\n%s", a, got)
				}
			}
			if strings.Contains(got, "sso_session = other") || strings.Count(got, "[profile prod-Admin]") != 1 {
				t.Fatalf("a skipped section was written:\n%s", got)
			}
			// The SDK's loader reads the result.
			names, err := ListProfiles(AWSFiles{Config: []string{cfg}})
			must(t, err)
			for _, a := range added {
				if !slices.Contains(names, a) {
					t.Fatalf("profiles %v lack %s", names, a)
				}
			}
			fi, _ := os.Stat(target)
			if want := map[bool]os.FileMode{true: 0o640, false: 0o600}[tc.before != nil]; fi.Mode().Perm() != want {
				t.Fatalf("mode %v, want %v", fi.Mode().Perm(), want)
			}
			// Nothing new to add: the file is left alone.
			a2, _, err := AppendProfiles(AWSFiles{Config: []string{cfg}, Credentials: []string{creds}}, sections)
			if err != nil || len(a2) != 0 {
				t.Fatalf("second run added %v (%v)", a2, err)
			}
			if again, _ := os.ReadFile(target); string(again) != got {
				t.Fatal("a run with nothing to add changed the file")
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
