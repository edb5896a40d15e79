package config

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse: any input either fails with a located message or yields a
// config whose values hold what the daemon relies on; never a panic.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"",
		"profile = \"dev\"\nrefresh_before = \"20m\"\n[imds]\nlisten = [\"127.0.0.1:9911\"]\n",
		"[ecs]\nlisten = [\"[::1]:0\"]\ntoken_file = \"~/t\"\nprofiles = [\"a\", \"b\"]\n",
		"[profiles.dev]\nmfa_duration = \"8h\"\npolicy_arns = [\"arn:aws:iam::aws:policy/X\"]\n",
		"profile = 'x'\n[imds]\nallow = [\"10.0.0.0/8\", \"fd00::1\"]\ntokens = \"optional\"\n",
		"a.b.c = 1\n[[imds]]\n",
		"profile = \"\"\"\nmulti\"\"\"\n",
		"\ufeffprofile = \"dev\"\r\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, src string) {
		cfg, err := Parse("f.toml", []byte(src))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.toml") && !strings.Contains(err.Error(), "AWS_PROFILE") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if cfg.RefreshBefore < minRefreshBefore || cfg.RefreshBefore > maxRefreshBefore {
			t.Fatalf("refresh_before %v accepted", cfg.RefreshBefore)
		}
		for _, a := range append(append([]string(nil), cfg.IMDS.Listen...), cfg.ECS.Listen...) {
			if _, _, err := net.SplitHostPort(a); err != nil {
				t.Fatalf("listen %q accepted: %v", a, err)
			}
		}
		if len(cfg.ECS.Listen) > 0 && !filepath.IsAbs(cfg.ECS.TokenFile) {
			t.Fatalf("token_file %q accepted", cfg.ECS.TokenFile)
		}
		if cfg.Profile == "" || strings.ContainsAny(cfg.Profile, "/ \t\n") {
			t.Fatalf("profile %q accepted", cfg.Profile)
		}
	})
}
