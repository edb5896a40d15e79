package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// isolateEnv points HOME and XDG_CONFIG_HOME at a fresh directory and
// clears AWS_PROFILE, so defaults don't depend on the machine running the
// tests.
func isolateEnv(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv("AWS_PROFILE", "")
	return home
}

func TestDefaultPath(t *testing.T) {
	home := isolateEnv(t)
	if got, want := DefaultPath(), filepath.Join(home, ".config", "imdsd", "config.toml"); got != want {
		t.Errorf("DefaultPath() = %q, want %q", got, want)
	}
	xdg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", xdg)
	if got, want := DefaultPath(), filepath.Join(xdg, "imdsd", "config.toml"); got != want {
		t.Errorf("with XDG_CONFIG_HOME: DefaultPath() = %q, want %q", got, want)
	}
	// The XDG spec says relative values are invalid and must be ignored.
	t.Setenv("XDG_CONFIG_HOME", "relative/dir")
	if got, want := DefaultPath(), filepath.Join(home, ".config", "imdsd", "config.toml"); got != want {
		t.Errorf("with relative XDG_CONFIG_HOME: DefaultPath() = %q, want %q", got, want)
	}
}

func TestExpandHome(t *testing.T) {
	home := isolateEnv(t)
	for in, want := range map[string]string{
		"~":            home,
		"~/a/b":        filepath.Join(home, "a", "b"),
		"/abs/~/x":     "/abs/~/x",
		"rel":          "rel",
		"~other/x":     "~other/x",
		"":             "",
		"~/":           home,
		"~/../escape/": filepath.Join(home, "..", "escape"),
	} {
		if got := ExpandHome(in); got != want {
			t.Errorf("ExpandHome(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDefault(t *testing.T) {
	home := isolateEnv(t)
	want := &Config{
		Profile:       "default",
		RefreshBefore: 30 * time.Minute,
		LogLevel:      "info",
		IMDS:          IMDSConfig{Listen: []string{"127.0.0.1:9911"}, TokensRequired: true, Docker: true, MaxConnections: 512},
		ECS:           ECSConfig{Listen: []string{"127.0.0.1:9912"}, TokenFile: filepath.Join(home, ".config", "imdsd", "ecs-token"), Docker: true, MaxConnections: 512},
		ControlSocket: filepath.Join(home, ".config", "imdsd", "control.sock"),
		Rotation:      Rotation{RotateAfter: 90 * 24 * time.Hour},
		Keyring:       Keyring{Backend: DefaultKeyringBackend(), FileDir: filepath.Join(home, ".config", "imdsd", "keyring")},
	}
	if got := Default(); !reflect.DeepEqual(got, want) {
		t.Errorf("Default() = %+v\nwant %+v", got, want)
	}
	t.Setenv("AWS_PROFILE", "work")
	if got := Default().Profile; got != "work" {
		t.Errorf("with AWS_PROFILE=work, Default().Profile = %q", got)
	}
}

func TestLoadMissingFiles(t *testing.T) {
	isolateEnv(t)

	cfg, err := Load("")
	if err != nil {
		t.Fatalf("Load(\"\") with no config file: %v", err)
	}
	if !reflect.DeepEqual(cfg, Default()) {
		t.Errorf("Load(\"\") = %+v, want the defaults %+v", cfg, Default())
	}

	// The default path given explicitly (as a flag default would) is still
	// the default: missing is fine.
	if _, err := Load(DefaultPath()); err != nil {
		t.Errorf("Load(DefaultPath()) with no file: %v", err)
	}

	missing := filepath.Join(t.TempDir(), "nope.toml")
	_, err = Load(missing)
	if err == nil || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("Load(%q) error = %v, want one naming the missing file", missing, err)
	}
	if _, err := LoadExplicit(DefaultPath(), true); err == nil {
		t.Errorf("LoadExplicit(DefaultPath(), true) with no file: want an error")
	}
}

func TestLoadReadsDefaultPath(t *testing.T) {
	isolateEnv(t)
	p := DefaultPath()
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("profile = \"dev\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Profile != "dev" || cfg.Path != p {
		t.Errorf("Load(\"\") = profile %q path %q, want dev from %s", cfg.Profile, cfg.Path, p)
	}
}

func TestLoadRelativePathBecomesAbsolute(t *testing.T) {
	isolateEnv(t)
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.WriteFile("imdsd.toml", []byte("region = \"eu-west-1\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load("imdsd.toml")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "imdsd.toml"); cfg.Path != want {
		t.Errorf("Path = %q, want %q so reloads find the file after a chdir", cfg.Path, want)
	}
}
