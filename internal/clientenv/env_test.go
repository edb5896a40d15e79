package clientenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imdsd/imdsd/config"
)

func parse(t *testing.T, toml string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("c.toml", []byte(toml))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// loopbackCfg serves dev on IMDS and ops on ECS, with a token file whose
// path needs quoting in every shell.
func loopbackCfg(t *testing.T) (*config.Config, string) {
	t.Helper()
	tok := filepath.Join(t.TempDir(), "it's my token")
	return parse(t, `profile = "dev"
[imds]
listen = ["127.0.0.1:9911"]
[ecs]
listen = ["0.0.0.0:9912"]
token_file = "`+tok+`"
profiles = ["ops"]
`), tok
}

func TestRenderShells(t *testing.T) {
	t.Parallel()
	cfg, tok := loopbackCfg(t)
	const (
		unsetSh   = "unset AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_CONTAINER_CREDENTIALS_RELATIVE_URI\n"
		noProxySh = `export NO_PROXY=169.254.169.254,169.254.170.2,127.0.0.1"${NO_PROXY:+,$NO_PROXY}"` + "\n"
		unsetFish = "set -e AWS_PROFILE\nset -e AWS_ACCESS_KEY_ID\nset -e AWS_SECRET_ACCESS_KEY\nset -e AWS_SESSION_TOKEN\nset -e AWS_CONTAINER_CREDENTIALS_RELATIVE_URI\n"
		noProxyF  = "set -gx NO_PROXY (string join , -- 169.254.169.254,169.254.170.2,127.0.0.1 $NO_PROXY)\n"
		unsetPS   = "Remove-Item Env:AWS_PROFILE -ErrorAction SilentlyContinue\nRemove-Item Env:AWS_ACCESS_KEY_ID -ErrorAction SilentlyContinue\nRemove-Item Env:AWS_SECRET_ACCESS_KEY -ErrorAction SilentlyContinue\nRemove-Item Env:AWS_SESSION_TOKEN -ErrorAction SilentlyContinue\nRemove-Item Env:AWS_CONTAINER_CREDENTIALS_RELATIVE_URI -ErrorAction SilentlyContinue\n"
		noProxyPS = "$env:NO_PROXY = (@('169.254.169.254,169.254.170.2,127.0.0.1', $env:NO_PROXY) | Where-Object { $_ }) -join ','\n"
		head      = "# clients use these before any profile or keys in the environment\n"
		old       = "# clients too old for the token file (botocore < 1.32, CLI < 2.15) need instead:\n"
	)
	tokSh := "'" + strings.ReplaceAll(tok, "'", `'\''`) + "'"
	tokFish := "'" + strings.ReplaceAll(tok, "'", `\'`) + "'"
	tokPS := "'" + strings.ReplaceAll(tok, "'", "''") + "'"
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"sh imds", Options{}, head + unsetSh + noProxySh +
			"unset AWS_CONTAINER_CREDENTIALS_FULL_URI\nexport AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:9911/\n"},
		{"bash is sh, with region", Options{Shell: "bash", Region: "eu-west-1"}, head + unsetSh + noProxySh +
			"unset AWS_CONTAINER_CREDENTIALS_FULL_URI\nexport AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:9911/\n" +
			"export AWS_REGION=eu-west-1\nexport AWS_DEFAULT_REGION=eu-west-1\n"},
		{"sh ecs", Options{Shell: "sh", Profile: "ops", Region: "ap-south-2"}, head + unsetSh + noProxySh +
			"unset AWS_EC2_METADATA_SERVICE_ENDPOINT\nexport AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:9912/role/ops\n" +
			"export AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=" + tokSh + "\n" +
			"export AWS_REGION=ap-south-2\nexport AWS_DEFAULT_REGION=ap-south-2\n" +
			old + `# export AWS_CONTAINER_AUTHORIZATION_TOKEN="$(cat ` + tokSh + `)"` + "\n"},
		{"fish imds", Options{Shell: "fish", Region: "eu-west-1"}, head + unsetFish + noProxyF +
			"set -e AWS_CONTAINER_CREDENTIALS_FULL_URI\nset -gx AWS_EC2_METADATA_SERVICE_ENDPOINT http://127.0.0.1:9911/\n" +
			"set -gx AWS_REGION eu-west-1\nset -gx AWS_DEFAULT_REGION eu-west-1\n"},
		{"fish ecs", Options{Shell: "fish", Profile: "ops"}, head + unsetFish + noProxyF +
			"set -e AWS_EC2_METADATA_SERVICE_ENDPOINT\nset -gx AWS_CONTAINER_CREDENTIALS_FULL_URI http://127.0.0.1:9912/role/ops\n" +
			"set -gx AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE " + tokFish + "\n" +
			old + "# set -gx AWS_CONTAINER_AUTHORIZATION_TOKEN (cat " + tokFish + ")\n"},
		{"powershell imds", Options{Shell: "powershell", Region: "eu-west-1"}, head + unsetPS + noProxyPS +
			"Remove-Item Env:AWS_CONTAINER_CREDENTIALS_FULL_URI -ErrorAction SilentlyContinue\n$env:AWS_EC2_METADATA_SERVICE_ENDPOINT = 'http://127.0.0.1:9911/'\n" +
			"$env:AWS_REGION = 'eu-west-1'\n$env:AWS_DEFAULT_REGION = 'eu-west-1'\n"},
		{"pwsh ecs", Options{Shell: "pwsh", Profile: "ops"}, head + unsetPS + noProxyPS +
			"Remove-Item Env:AWS_EC2_METADATA_SERVICE_ENDPOINT -ErrorAction SilentlyContinue\n$env:AWS_CONTAINER_CREDENTIALS_FULL_URI = 'http://127.0.0.1:9912/role/ops'\n" +
			"$env:AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE = " + tokPS + "\n" +
			old + "# $env:AWS_CONTAINER_AUTHORIZATION_TOKEN = Get-Content -Raw " + tokPS + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Render(cfg, tt.o)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestRenderErrors(t *testing.T) {
	t.Parallel()
	cfg, _ := loopbackCfg(t)
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"unknown shell", Options{Shell: "tcsh"}, `unknown shell "tcsh": choose sh (also for bash and zsh), fish or powershell (also pwsh)`},
		{"unserved profile", Options{Profile: "qa", Shell: "fish"}, "profile qa is not served: add it to ecs.profiles"},
		{"docker on loopback", Options{Docker: true}, "containers cannot reach imdsd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for what, f := range map[string]func() error{
				"Render":   func() error { _, err := Render(cfg, tt.o); return err },
				"Endpoint": func() error { _, err := Endpoint(cfg, tt.o); return err },
			} {
				if err := f(); err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("%s: %v; want %q", what, err, tt.want)
				}
			}
		})
	}
}

func TestEndpoint(t *testing.T) {
	t.Parallel()
	cfg, _ := loopbackCfg(t)
	linkLocal := parse(t, `profile = "dev"
[imds]
listen = ["169.254.169.254:80", "127.0.0.1:9911"]
[ecs]
listen = ["169.254.170.2:80"]
profiles = ["ops"]
`)
	for _, tt := range []struct {
		name string
		cfg  *config.Config
		o    Options
		want string
	}{
		{"imds prefers loopback", cfg, Options{}, "127.0.0.1:9911"},
		{"ecs on an unspecified address", cfg, Options{Profile: "ops", Shell: "fish"}, "127.0.0.1:9912"},
		{"docker ecs", linkLocal, Options{Docker: true, Profile: "ops", Shell: "ignored with docker"}, "169.254.170.2:80"},
		{"host prefers loopback", linkLocal, Options{}, "127.0.0.1:9911"},
	} {
		got, err := Endpoint(tt.cfg, tt.o)
		if err != nil || got != tt.want {
			t.Errorf("%s: Endpoint = %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
}

func TestDockerAndComposeCarryTheRegion(t *testing.T) {
	t.Parallel()
	tok := filepath.Join(t.TempDir(), "tok")
	if err := os.WriteFile(tok, []byte("TOKEN-FAKE-123"), 0o600); err != nil {
		t.Fatal(err)
	}
	ecs := parse(t, `profile = "dev"
[imds]
listen = ["169.254.169.254:80"]
[ecs]
listen = ["169.254.170.2:80"]
token_file = "`+tok+`"
profiles = ["ops"]
`)
	imdsOnly := parse(t, `profile = "dev"
[imds]
listen = ["169.254.169.254:80"]
[ecs]
listen = []
`)
	for _, tt := range []struct {
		name string
		cfg  *config.Config
		o    Options
		want string
	}{
		{"docker ecs", ecs, Options{Docker: true, Profile: "ops", Region: "eu-west-1"},
			"-e AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/role/ops -e AWS_CONTAINER_AUTHORIZATION_TOKEN=TOKEN-FAKE-123 -e AWS_REGION=eu-west-1 -e AWS_DEFAULT_REGION=eu-west-1\n"},
		{"compose ecs", ecs, Options{Compose: true, Profile: "ops", Region: "eu-west-1"},
			"environment:\n  AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: \"/role/ops\"\n  AWS_CONTAINER_AUTHORIZATION_TOKEN: \"TOKEN-FAKE-123\"\n  AWS_REGION: \"eu-west-1\"\n  AWS_DEFAULT_REGION: \"eu-west-1\"\n"},
		{"docker imds", imdsOnly, Options{Docker: true, Region: "eu-west-1"}, "-e AWS_REGION=eu-west-1 -e AWS_DEFAULT_REGION=eu-west-1\n"},
		{"docker imds, no region", imdsOnly, Options{Docker: true}, "\n"},
		{"compose imds", imdsOnly, Options{Compose: true, Region: "eu-west-1"}, "environment:\n  AWS_REGION: \"eu-west-1\"\n  AWS_DEFAULT_REGION: \"eu-west-1\"\n"},
		{"compose imds, no region", imdsOnly, Options{Compose: true}, "environment: {}  # containers reach IMDS at 169.254.169.254 with no settings\n"},
	} {
		got, err := Render(tt.cfg, tt.o)
		if err != nil || got != tt.want {
			t.Errorf("%s: %v\ngot  %q\nwant %q", tt.name, err, got, tt.want)
		}
	}
}

// The quoters hold up in the real shells: each value comes back as it went
// in.
func TestQuotersRoundTrip(t *testing.T) {
	t.Parallel()
	values := []string{
		"plain", "/path with spaces/tok", "it's", `back\slash`, `\'`, `"double"`, "$HOME", "`id`",
		"~/tok", "a;b", "*", "tab\there", "‘curly’", "(x)", "{a,b}", "%PATH%",
	}
	type quoter struct {
		shell  string
		script func(values []string) string // prints each value on its own line, after setting it
	}
	shells := []quoter{
		{"sh", func(vs []string) string {
			var b strings.Builder
			for _, v := range vs {
				posix{}.set(&b, "V", v)
				b.WriteString(`printf '%s\n' "$V"` + "\n")
			}
			return b.String()
		}},
		{"fish", func(vs []string) string {
			var b strings.Builder
			for _, v := range vs {
				fish{}.set(&b, "V", v)
				b.WriteString("printf '%s\\n' \"$V\"\n")
			}
			return b.String()
		}},
		{"pwsh", func(vs []string) string {
			var b strings.Builder
			for _, v := range vs {
				powershell{}.set(&b, "V", v)
				b.WriteString("Write-Output $env:V\n")
			}
			return b.String()
		}},
	}
	for _, q := range shells {
		t.Run(q.shell, func(t *testing.T) {
			t.Parallel()
			bin, err := exec.LookPath(q.shell)
			if err != nil {
				t.Skipf("no %s here", q.shell)
			}
			args := []string{"-c", q.script(values)}
			if q.shell == "pwsh" {
				args = []string{"-NoProfile", "-NonInteractive", "-Command", q.script(values)}
			}
			cmd := exec.Command(bin, args...)
			// "~/tok" must not become a home directory: it stays as is
			// only if the quoting holds. fish writes its state in HOME.
			cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("%s: %v\n%s%s", q.shell, err, out, stderr.String())
			}
			got := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
			if strings.Join(got, "\n") != strings.Join(values, "\n") {
				t.Errorf("%s read back:\n%s\nwant:\n%s", q.shell, strings.Join(got, "\n"), strings.Join(values, "\n"))
			}
		})
	}
}

// The whole output, run by the real shells, leaves the environment it
// promises: variables set, unset, NO_PROXY extended.
func TestShellOutputRuns(t *testing.T) {
	t.Parallel()
	cfg, tok := loopbackCfg(t)
	start := []string{"AWS_PROFILE=someone", "AWS_ACCESS_KEY_ID=AKIAOLD", "AWS_EC2_METADATA_SERVICE_ENDPOINT=http://old/", "NO_PROXY=corp.example"}
	want := []string{
		"AWS_ACCESS_KEY_ID=", "AWS_PROFILE=", "AWS_EC2_METADATA_SERVICE_ENDPOINT=",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:9912/role/ops",
		"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=" + tok,
		"AWS_REGION=eu-west-1", "AWS_DEFAULT_REGION=eu-west-1",
		"NO_PROXY=169.254.169.254,169.254.170.2,127.0.0.1,corp.example",
	}
	var names []string
	for _, w := range want {
		names = append(names, strings.SplitN(w, "=", 2)[0])
	}
	for _, tt := range []struct{ shell, eval, print string }{
		{"sh", `eval "$OUT"`, `printf '%s=%s\n'`},
		{"fish", `echo $OUT | string collect | source`, `printf '%s=%s\n'`},
	} {
		t.Run(tt.shell, func(t *testing.T) {
			t.Parallel()
			bin, err := exec.LookPath(tt.shell)
			if err != nil {
				t.Skipf("no %s here", tt.shell)
			}
			out, err := Render(cfg, Options{Shell: tt.shell, Profile: "ops", Region: "eu-west-1"})
			if err != nil {
				t.Fatal(err)
			}
			script := tt.eval + "\n"
			for _, n := range names {
				script += tt.print + " " + n + ` "$` + n + `"` + "\n"
			}
			cmd := exec.Command(bin, "-c", script)
			cmd.Env = append(append(os.Environ(), start...), "OUT="+out, "HOME="+t.TempDir())
			var stderr strings.Builder
			cmd.Stderr = &stderr
			got, err := cmd.Output()
			if err != nil {
				t.Fatalf("%v\n%s%s", err, got, stderr.String())
			}
			if strings.TrimSpace(string(got)) != strings.Join(want, "\n") {
				t.Errorf("after the output:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
			}
		})
	}
}
