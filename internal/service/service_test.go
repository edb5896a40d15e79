package service

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/imdsd/imdsd/config"
)

// The packages ship static copies of what `imdsd service install` writes;
// IMDSD_UPDATE_PACKAGING=1 go test ./daemon -run TestPackaged rewrites them.
func TestPackagedFilesMatch(t *testing.T) {
	files := map[string]string{
		"../../packaging/imdsd.service": systemdUnit(PackagedExecutable, SystemConfigPath),
		"../../packaging/config.toml":   SystemConfig,
	}
	for path, want := range files {
		if os.Getenv("IMDSD_UPDATE_PACKAGING") == "1" {
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("%s differs from what imdsd service install writes; regenerate: IMDSD_UPDATE_PACKAGING=1 go test ./daemon -run TestPackagedFilesMatch", path)
		}
	}
}

func TestSystemConfigIsValid(t *testing.T) {
	for name, text := range map[string]string{"system": SystemConfig, "loopback": loopbackSystemConfig} {
		cfg, err := config.Parse(name, []byte(text))
		if err != nil {
			t.Fatalf("%s config: %v", name, err)
		}
		if name != "system" {
			continue
		}
		if want := []string{"169.254.169.254:80", "127.0.0.1:9911"}; !reflect.DeepEqual(cfg.IMDS.Listen, want) {
			t.Errorf("imds.listen = %v, want %v", cfg.IMDS.Listen, want)
		}
		if want := []string{"169.254.170.2:80", "127.0.0.1:9912"}; !reflect.DeepEqual(cfg.ECS.Listen, want) {
			t.Errorf("ecs.listen = %v, want %v", cfg.ECS.Listen, want)
		}
		if !cfg.IMDS.TokensRequired {
			t.Error("IMDS tokens must be required")
		}
		if got := configLinkLocal(cfg); !reflect.DeepEqual(got, []string{"169.254.169.254", "169.254.170.2"}) {
			t.Errorf("link-local hosts = %v", got)
		}
	}
}

func TestSystemdUnit(t *testing.T) {
	u := systemdUnit("/opt/my tools/imdsd", "/etc/imdsd/100%.toml")
	for _, want := range []string{
		`ExecStart="/opt/my tools/imdsd" serve --config /etc/imdsd/100%%.toml` + "\n",
		"AmbientCapabilities=CAP_NET_BIND_SERVICE CAP_NET_ADMIN\n",
		"CapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_NET_ADMIN\n",
		"NoNewPrivileges=yes\n",
		"ProtectSystem=strict\n",
		"Restart=on-failure\n",
		"AssertPathExists=/etc/systemd/system/imdsd.service.d/aws-user.conf\n",
	} {
		if !strings.Contains(u, want) {
			t.Errorf("unit lacks %q", want)
		}
	}
	// No template actions: kardianos/service renders the text as one.
	if strings.Contains(u, "{{") {
		t.Error("unit contains {{")
	}
	if got := lastExecStart(u, nil); !reflect.DeepEqual(got, []string{"/opt/my tools/imdsd", "serve", "--config", "/etc/imdsd/100%.toml"}) {
		t.Errorf("ExecStart parses back as %q", got)
	}
}

func TestSystemdDropIn(t *testing.T) {
	d := systemdDropIn("alice", "staff", "/home/alice", "/home/alice/.config/imdsd", nil)
	for _, want := range []string{"[Service]\n", "User=alice\n", "Group=staff\n", "Environment=HOME=/home/alice\n", "ReadWritePaths=/home/alice/.config/imdsd\n", "ReadWritePaths=-/home/alice/.aws/sso/cache\n"} {
		if !strings.Contains(d, want) {
			t.Errorf("drop-in lacks %q:\n%s", want, d)
		}
	}
	if strings.Contains(d, "ExecStart") {
		t.Error("drop-in overrides ExecStart without being asked")
	}
	d = systemdDropIn("bob", "bob", "/home/bob", "/home/bob/.config/imdsd", []string{"/usr/local/bin/imdsd", "serve", "--config", "/srv/imdsd.toml"})
	unit := systemdUnit(PackagedExecutable, SystemConfigPath)
	got := lastExecStart(d, lastExecStart(unit, nil))
	if !reflect.DeepEqual(got, []string{"/usr/local/bin/imdsd", "serve", "--config", "/srv/imdsd.toml"}) {
		t.Errorf("effective ExecStart = %q", got)
	}
	if !strings.Contains(d, "ExecStart=\nExecStart=") {
		t.Error("the override must reset ExecStart first")
	}
}

func TestSystemdQuote(t *testing.T) {
	for in, want := range map[string]string{
		"/usr/bin/imdsd":   "/usr/bin/imdsd",
		"HOME=/home/a b":   `"HOME=/home/a b"`,
		`a"b`:              `"a\"b"`,
		`back\slash`:       `"back\\slash"`,
		"50%":              "50%%",
		"":                 `""`,
		"/home/x/$dollars": "/home/x/$dollars",
	} {
		if got := systemdQuote(in); got != want {
			t.Errorf("systemdQuote(%q) = %s, want %s", in, got, want)
		}
	}
	if got := systemdQuoteExec("/home/x/$d"); got != "/home/x/$$d" {
		t.Errorf("systemdQuoteExec = %s", got)
	}
	for _, w := range []string{"/opt/a b/imdsd", `q"uote`, `b\s`, "50%", "$HOME"} {
		if got := splitUnitWords(systemdQuoteExec(w)); !reflect.DeepEqual(got, []string{w}) {
			t.Errorf("round trip of %q: %q", w, got)
		}
	}
}

func TestSystemdUserUnit(t *testing.T) {
	u := systemdUserUnit("/home/a/bin/imdsd", []string{"serve"})
	if !strings.Contains(u, "ExecStart=/home/a/bin/imdsd serve\n") || !strings.Contains(u, "WantedBy=default.target") {
		t.Errorf("user unit:\n%s", u)
	}
	if strings.Contains(u, "Capabilit") || strings.Contains(u, "User=") {
		t.Error("a user unit cannot hold capabilities or switch users")
	}
}

func TestTokenFileFor(t *testing.T) {
	for _, tt := range []struct{ cfg, want string }{
		{"", "/home/alice/.config/imdsd/ecs-token"},
		{"[ecs]\ntoken_file = \"~/.config/imdsd/ecs-token\"\n", "/home/alice/.config/imdsd/ecs-token"},
		{"[ecs]\ntoken_file = \"~/tok\"\n", "/home/alice/tok"},
		{"[ecs]\ntoken_file = \"/etc/imdsd/ecs-token\"\n", "/etc/imdsd/ecs-token"},
		{SystemConfig, "/home/alice/.config/imdsd/ecs-token"},
	} {
		if got := tokenFileFor([]byte(tt.cfg), "/home/alice"); got != filepath.FromSlash(tt.want) {
			t.Errorf("tokenFileFor(%q) = %s, want %s", tt.cfg, got, tt.want)
		}
	}
}

func TestFlagValue(t *testing.T) {
	if got := flagValue([]string{"/bin/imdsd", "serve", "--config", "/a.toml"}, "--config"); got != "/a.toml" {
		t.Error(got)
	}
	if got := flagValue([]string{"imdsd", "serve", "--config=/b.toml"}, "--config"); got != "/b.toml" {
		t.Error(got)
	}
	if got := flagValue([]string{"imdsd", "serve"}, "--config"); got != "" {
		t.Error(got)
	}
}

func TestLaunchdLinkLocalPlist(t *testing.T) {
	p := launchdLinkLocalPlist("io.github.imdsd.linklocal", []string{"169.254.169.254", "169.254.170.2"})
	if !strings.Contains(p, "/sbin/ifconfig lo0 alias 169.254.169.254/32; /sbin/ifconfig lo0 alias 169.254.170.2/32") {
		t.Error(p)
	}
}
