package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

func TestParseFullExample(t *testing.T) {
	home := isolateEnv(t)
	src := `
profile = "dev"              # default $AWS_PROFILE, else "default"
region = ""
refresh_before = "20m"
log_level = "DEBUG"
[imds]
listen = ["127.0.0.1:9911", "[::1]:9911"]
tokens = "optional"
allow = ["172.17.0.0/16", "10.1.2.3", "fd00::/8", "fd00::1", "172.18.0.1/16"]
hosts = ["imds.local"]
docker = false
max_connections = 64
[ecs]
listen = ["127.0.0.1:9912"]
token_file = "~/.config/imdsd/ecs-token"
profiles = ["ops", "prod"]
allow = []
hosts = []
[keyring]
backend = "file"
file_dir = "~/keys"
`
	cfg, err := Parse("/etc/imdsd.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Path:          "/etc/imdsd.toml",
		Profile:       "dev",
		RefreshBefore: 20 * time.Minute,
		LogLevel:      "debug",
		IMDS: IMDSConfig{
			Listen:         []string{"127.0.0.1:9911", "[::1]:9911"},
			TokensRequired: false,
			Allow: []netip.Prefix{
				netip.MustParsePrefix("172.17.0.0/16"),
				netip.MustParsePrefix("10.1.2.3/32"),
				netip.MustParsePrefix("fd00::/8"),
				netip.MustParsePrefix("fd00::1/128"),
				netip.MustParsePrefix("172.18.0.0/16"),
			},
			Hosts:          []string{"imds.local"},
			MaxConnections: 64,
		},
		ECS: ECSConfig{
			Listen:         []string{"127.0.0.1:9912"},
			TokenFile:      filepath.Join(home, ".config", "imdsd", "ecs-token"),
			Profiles:       []string{"ops", "prod"},
			Docker:         true,
			MaxConnections: DefaultMaxConnections,
		},
		Keyring:       Keyring{Backend: "file", FileDir: filepath.Join(home, "keys")},
		ControlSocket: filepath.Join(home, ".config", "imdsd", "control.sock"),
		Rotation:      Rotation{RotateAfter: DefaultRotateAfter},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("Parse =\n%+v\nwant\n%+v", cfg, want)
	}
}

func TestParseEmptyDisablesAndDefaults(t *testing.T) {
	isolateEnv(t)
	t.Setenv("AWS_PROFILE", "from-env")
	cfg, err := Parse("c.toml", []byte("[imds]\nlisten = []\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.IMDS.Listen) != 0 {
		t.Errorf("listen = [] should disable IMDS, got %v", cfg.IMDS.Listen)
	}
	if !reflect.DeepEqual(cfg.ECS.Listen, []string{"127.0.0.1:9912"}) || !cfg.IMDS.TokensRequired || cfg.RefreshBefore != 30*time.Minute || cfg.LogLevel != "info" {
		t.Errorf("unset keys should keep their defaults: %+v", cfg)
	}
	if cfg.Profile != "from-env" {
		t.Errorf("Profile = %q, want $AWS_PROFILE", cfg.Profile)
	}
}

func TestParseAcceptsPortZero(t *testing.T) {
	isolateEnv(t)
	// Port 0 (any free port) is for tests and throwaway instances; each
	// listener gets its own port, so the same :0 address in both tables
	// is no conflict.
	cfg, err := Parse("c.toml", []byte("[imds]\nlisten = [\"127.0.0.1:0\"]\n[ecs]\nlisten = [\"127.0.0.1:0\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg.IMDS.Listen, []string{"127.0.0.1:0"}) || !reflect.DeepEqual(cfg.ECS.Listen, []string{"127.0.0.1:0"}) {
		t.Errorf("got %+v", cfg)
	}
}

func TestParseAcceptsOtherTOMLSpellings(t *testing.T) {
	isolateEnv(t)
	// Dotted keys and inline tables are the same settings to TOML.
	src := "imds.listen = [\"127.0.0.1:1\"]\necs = { listen = [\"localhost:2\"], profiles = [\"a\"] }\n"
	cfg, err := Parse("c.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg.IMDS.Listen, []string{"127.0.0.1:1"}) || !reflect.DeepEqual(cfg.ECS.Listen, []string{"localhost:2"}) || !reflect.DeepEqual(cfg.ECS.Profiles, []string{"a"}) {
		t.Errorf("got %+v", cfg)
	}
}

// TestParseErrors checks the exact message a user sees for each mistake:
// file, line, key, and how to fix it.
func TestParseErrors(t *testing.T) {
	isolateEnv(t)
	const f = "/home/u/.config/imdsd/config.toml"
	tests := []struct {
		name string
		src  string
		want string // the whole error text
	}{
		{"tokens", "profile = \"dev\"\n\n[imds]\nlisten = [\"127.0.0.1:9911\"]\n\n\ntokens = \"sometimes\"\n",
			f + `:7: imds.tokens: "sometimes" is not valid; use "required" or "optional"`},
		{"syntax", "profile = \"dev\"\nregion = eu-west-1\n",
			f + `:2: region: invalid TOML: expected value but found "eu" instead; text values need double quotes, e.g. region = "eu-west-1"`},
		{"duplicate key", "profile = \"a\"\nprofile = \"b\"\n",
			f + `:2: profile: invalid TOML: `},
		{"unclosed list", "[imds]\nlisten = [\"127.0.0.1:1\"\n\n[ecs]\n",
			f + `:4: imds.listen: invalid TOML: `},
		{"max connections zero", "[imds]\nmax_connections = 0\n",
			f + `:2: imds.max_connections: 0 is out of range; use 16 to 65536 (default 512)`},
		{"max connections text", "[ecs]\nmax_connections = \"many\"\n",
			f + `:2: ecs.max_connections: must be a number of connections, e.g. 512, not a string`},
		{"typo", "profile = \"dev\"\nrefresh_befor = \"10m\"\n",
			f + `:2: refresh_befor: unknown key; did you mean "refresh_before"?`},
		{"swapped letters", "regoin = \"eu-west-1\"\n",
			f + `:1: regoin: unknown key; did you mean "region"?`},
		{"case", "Profile = \"dev\"\n",
			f + `:1: Profile: unknown key; did you mean "profile"?`},
		{"typo in table", "[ecs]\nlisten = []\ntoken_fil = \"/x\"\n",
			f + `:3: ecs.token_fil: unknown key; did you mean "token_file"?`},
		{"unknown table", "[imdss]\nlisten = []\n",
			f + `:1: imdss: unknown key; did you mean [imds]?`},
		{"top-level key after table", "[ecs]\nlisten = [\"127.0.0.1:1\"]\nregion = \"eu-west-1\"\n",
			f + `:3: ecs.region: unknown key; region is a top-level setting, so it must come before the first [table] header`},
		{"table key at top", "token_file = \"/x\"\n",
			f + `:1: token_file: unknown key; token_file belongs in the [ecs] table`},
		{"listen at top", "listen = [\"127.0.0.1:1\"]\n",
			f + `:1: listen: unknown key; listen belongs in the [imds] or [ecs] table`},
		{"nothing close", "zzz = 1\n",
			f + `:1: zzz: unknown key; valid keys at the top level are profile, region, refresh_before, log_level, control_socket, imds, ecs, profiles, keyring`},
		{"listen is a string", "[imds]\nlisten = \"127.0.0.1:1\"\n",
			f + `:2: imds.listen: must be a list, not a string; write listen = ["127.0.0.1:1"]`},
		{"listen item number", "[ecs]\nlisten = [\n  \"127.0.0.1:1\",\n  9912,\n]\n",
			f + `:4: ecs.listen: item 2 is a number; items must be quoted strings like "127.0.0.1:9911"`},
		{"profile number", "\nprofile = 3\n",
			f + `:2: profile: must be a quoted string like "dev", not a number`},
		{"imds not a table", "imds = \"yes\"\n",
			f + `:1: imds: must be a table: write [imds] on its own line and its settings below it`},
		{"array of tables", "[[ecs]]\nlisten = []\n",
			f + `:1: ecs: must be a single table written [ecs], not [[ecs]]`},
		{"duration words", "refresh_before = \"15 minutes\"\n",
			f + `:1: refresh_before: "15 minutes" is not a duration; write it like "15m", "1h30m" or "90s"`},
		{"duration number", "refresh_before = 900\n",
			f + `:1: refresh_before: must be a quoted string like "15m", not a number`},
		{"duration short", "refresh_before = \"30s\"\n",
			f + `:1: refresh_before: "30s" is too short; use at least "1m"`},
		{"duration long", "refresh_before = \"13h\"\n",
			f + `:1: refresh_before: "13h" is too long; use at most "12h" (STS credentials last 12 hours at most)`},
		{"log level", "log_level = \"verbose\"\n",
			f + `:1: log_level: "verbose" is not valid; use "debug", "info", "warn" or "error"`},
		{"empty profile", "profile = \"\"\n",
			f + `:1: profile: "" is empty; name an AWS profile, e.g. "default"`},
		{"profile with space", "profile = \"my dev\"\n",
			f + `:1: profile: "my dev" contains whitespace; AWS profile names cannot`},
		{"region", "region = \"EU West 1\"\n",
			f + `:1: region: "EU West 1" is not an AWS region name; use a name like "eu-west-1", or "" for the profile's region`},
		{"listen no port", "[imds]\nlisten = [\"127.0.0.1\"]\n",
			f + `:2: imds.listen: "127.0.0.1" has no port; write it as host:port, e.g. "127.0.0.1:9911"`},
		{"listen name", "[imds]\nlisten = [\"foo:bar\"]\n",
			f + `:2: imds.listen: "foo:bar": port "bar" is not a number; use a port from 1 to 65535`},
		{"listen hostname", "[imds]\nlisten = [\"example.com:80\"]\n",
			f + `:2: imds.listen: "example.com:80": host "example.com" is not an IP address or "localhost"; imdsd listens on literal addresses such as 127.0.0.1, ::1 or 0.0.0.0`},
		{"listen port range", "[imds]\nlisten = [\":99999\"]\n",
			f + `:2: imds.listen: ":99999": port 99999 is out of range; use a port from 1 to 65535`},
		{"listen no host", "[imds]\nlisten = [\":9911\"]\n",
			f + `:2: imds.listen: ":9911" has no host; write "127.0.0.1:9911" for this machine only, or "0.0.0.0:9911" for every interface`},
		{"listen bare ipv6", "[imds]\nlisten = [\"::1:9911\"]\n",
			f + `:2: imds.listen: "::1:9911" is ambiguous; put IPv6 addresses in brackets, e.g. "[::1]:9911"`},
		{"listen twice", "[imds]\nlisten = [\"127.0.0.1:1\", \"127.0.0.1:1\"]\n",
			f + `:2: imds.listen: "127.0.0.1:1" is listed twice; remove one`},
		{"listen shared", "[imds]\nlisten = [\"127.0.0.1:9000\"]\n[ecs]\nlisten = [\"127.0.0.1:9000\"]\n",
			f + `:4: ecs.listen: "127.0.0.1:9000" also in imds.listen; two listeners cannot share an address and port, so change one of them`},
		{"listen overlaps wildcard", "[imds]\nlisten = [\"0.0.0.0:9000\"]\n[ecs]\nlisten = [\"[::1]:9000\"]\n",
			f + `:4: ecs.listen: "[::1]:9000" overlaps "0.0.0.0:9000" in imds.listen; two listeners cannot share an address and port, so change one of them`},
		{"listen localhost", "[imds]\nlisten = [\"localhost:9000\"]\n[ecs]\nlisten = [\"127.0.0.1:9000\"]\n",
			f + `:4: ecs.listen: "127.0.0.1:9000" overlaps "localhost:9000" in imds.listen; two listeners cannot share an address and port, so change one of them`},
		{"serves nothing", "[imds]\nlisten = []\n[ecs]\nlisten = []\n",
			f + `:4: ecs.listen: imds.listen and ecs.listen are both empty, so imdsd would serve nothing; give at least one of them an address`},
		{"bad cidr", "[imds]\nallow = [\"172.17.0.0/33\"]\n",
			f + `:2: imds.allow: "172.17.0.0/33" is not a CIDR range; write it like "172.17.0.0/16" or "fd00::/8", or give a single address`},
		{"bad address", "[ecs]\nallow = [\"docker0\"]\n",
			f + `:2: ecs.allow: "docker0" is not an IP address or CIDR range; write it like "10.0.0.5" or "172.17.0.0/16"`},
		{"host url", "[imds]\nhosts = [\"http://imds.local\"]\n",
			f + `:2: imds.hosts: "http://imds.local" is a URL; write only the host name, like "imds.local"`},
		{"ecs profile twice", "[ecs]\nprofiles = [\"ops\",\n  \"ops\"]\n",
			f + `:3: ecs.profiles: "ops" is listed twice; remove one`},
		{"ecs profile empty", "[ecs]\nprofiles = [\"\"]\n",
			f + `:2: ecs.profiles: "" is empty; name an AWS profile, e.g. "default"`},
		{"token file relative", "[ecs]\ntoken_file = \"ecs-token\"\n",
			f + `:2: ecs.token_file: "ecs-token" is a relative path; use an absolute path or one starting with "~/"`},
		{"dotted key line", "\n\nimds.tokens = \"maybe\"\n",
			f + `:3: imds.tokens: "maybe" is not valid; use "required" or "optional"`},
		{"inline table line", "\necs = { listen = [\"127.0.0.1:1\"],\n  profiles = [\"a b\"] }\n",
			f + `:3: ecs.profiles: "a b" contains whitespace; AWS profile names cannot`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse(f, []byte(tt.src))
			if err == nil {
				t.Fatalf("Parse succeeded (%+v); want error %q", cfg, tt.want)
			}
			got := err.Error()
			if strings.HasSuffix(tt.want, "invalid TOML: ") {
				if !strings.HasPrefix(got, tt.want) || strings.Contains(got, "\n") {
					t.Errorf("error = %q, want it to start with %q", got, tt.want)
				}
				return
			}
			if got != tt.want {
				t.Errorf("error =\n  %s\nwant\n  %s", got, tt.want)
			}
		})
	}
}

func TestParseReportsEveryProblemInFileOrder(t *testing.T) {
	isolateEnv(t)
	src := "log_level = \"loud\"\nprofile = \"a b\"\n[imds]\ntokens = \"x\"\nlisten = [\"nope\"]\n"
	_, err := Parse("c.toml", []byte(src))
	if err == nil {
		t.Fatal("want errors")
	}
	lines := strings.Split(err.Error(), "\n")
	want := []string{"c.toml:1: log_level:", "c.toml:2: profile:", "c.toml:4: imds.tokens:", "c.toml:5: imds.listen:"}
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(want), err)
	}
	for i := range want {
		if !strings.HasPrefix(lines[i], want[i]) {
			t.Errorf("line %d = %q, want prefix %q", i, lines[i], want[i])
		}
	}
}

func TestParseBadAWSProfileEnv(t *testing.T) {
	isolateEnv(t)
	t.Setenv("AWS_PROFILE", "has space")
	_, err := Parse("c.toml", nil)
	want := `c.toml: profile: $AWS_PROFILE is "has space", which contains whitespace; AWS profile names cannot; fix AWS_PROFILE or set profile = "..." in this file`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v\nwant %s", err, want)
	}
	// Naming a profile in the file makes the environment irrelevant.
	if _, err := Parse("c.toml", []byte(`profile = "ok"`)); err != nil {
		t.Errorf("profile set in the file: %v", err)
	}
}

func TestParseTouchesNoFiles(t *testing.T) {
	home := isolateEnv(t)
	tok := filepath.Join(home, "sub", "token")
	if _, err := Parse("c.toml", []byte("[ecs]\ntoken_file = \""+tok+"\"\n")); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(home)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("Parse created files in %s: %v", home, entries)
	}
}

func TestParseBOM(t *testing.T) {
	isolateEnv(t)
	cfg, err := Parse("c.toml", []byte("\ufeffprofile = \"x\"\n"))
	if err != nil || cfg.Profile != "x" {
		t.Errorf("Parse with a UTF-8 BOM = %v, %v", cfg, err)
	}
}

// TestKeyLinesMatchTOML checks the line scanner against the TOML library
// on awkward but valid input: every key the library sees must be found on
// the line where it is defined.
func TestKeyLinesMatchTOML(t *testing.T) {
	t.Parallel()
	src := `# comment with key = "value" [table]
a = """
not_a_key = 1
[not_a_table]
"""  # a comment
b = 'it"s # not a comment'
c = '''
x = 1'''
"quoted.key" = 1
'lit' = "has # hash and \" quote"
d.e.f = [ 1, [2, 3], { g = 4 },
  "five", # comment ]
]
h = { i = 1, j.k = "]", l = { m = true } }

[t1]
n = 2024-01-02T03:04:05Z
o = """a"""""

[t1.sub]   # comment
p = -1.5e3

[[arr]]
q = 1
[[arr]]
r = 2
  s  =  "indented"
"x y" . z = 0
`
	var m map[string]any
	md, err := toml.Decode(src, &m)
	if err != nil {
		t.Fatal(err)
	}
	lines := tomlKeyLines(src)
	for _, k := range md.Keys() {
		if lines[k.String()] == 0 {
			t.Errorf("scanner missed key %s", k)
		}
	}
	for k, want := range map[string]int{
		"a": 2, "b": 6, "c": 7, `"quoted.key"`: 9, "lit": 10, "d": 11, "d.e.f": 11,
		"d.e.f[3]": 12, "h.j.k": 14, "h.l.m": 14, "t1": 16, "t1.n": 17, "t1.o": 18,
		"t1.sub": 20, "t1.sub.p": 21, "arr": 23, "arr.q": 24, "arr.r": 26, "arr.s": 27, `arr."x y".z`: 28,
	} {
		if got := lines[k]; got != want {
			t.Errorf("line of %s = %d, want %d", k, got, want)
		}
	}
	for _, k := range []string{"not_a_key", "not_a_table", "x"} {
		if _, ok := lines[k]; ok {
			t.Errorf("scanner took %q inside a string for a key", k)
		}
	}
}

func TestProfileTables(t *testing.T) {
	t.Parallel()
	cfg, err := Parse("c.toml", []byte(`
[profiles.dev]
mfa_process = "echo 123456"
mfa_duration = "8h"
policy_arns = ["arn:aws:iam::aws:policy/ReadOnlyAccess"]
policy = '{"Version":"2012-10-17","Statement":[]}'
duration = "1h"
`))
	if err != nil {
		t.Fatal(err)
	}
	o := cfg.ProfileOptions("dev")
	if o.MFAProcess != "echo 123456" || o.MFADuration != 8*time.Hour || len(o.PolicyARNs) != 1 || o.Duration != time.Hour || o.Policy == "" {
		t.Fatalf("parsed %+v", o)
	}
	if d := cfg.ProfileOptions("other").MFADuration; d != 12*time.Hour {
		t.Fatalf("default mfa_duration %v, want 12h", d)
	}
	for src, want := range map[string]string{
		"[profiles.dev]\nmfa_duraton = \"1h\"\n":     `c.toml:2: profiles.dev.mfa_duraton: unknown key`,
		"[profiles.dev]\nmfa_duration = \"1d\"\n":    `c.toml:2: profiles.dev.mfa_duration: "1d" is not a duration`,
		"[profiles.dev]\npolicy_arns = [\"nope\"]\n": `c.toml:2: profiles.dev.policy_arns[0]: "nope" is not an IAM policy ARN`,
		"[profiles.dev]\npolicy = \"{not json\"\n":   `c.toml:2: profiles.dev.policy: is not valid JSON`,
		"[profiles.dev]\nduration = \"13h\"\n":       `c.toml:2: profiles.dev.duration: "13h" is out of range`,
		"control_socket = \"rel/x.sock\"\n":          `c.toml:1: control_socket: "rel/x.sock" is a relative path`,
	} {
		_, err := Parse("c.toml", []byte(src))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", src, err, want)
		}
	}
}
