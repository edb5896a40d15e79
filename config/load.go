package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

const (
	defaultIMDSListen    = "127.0.0.1:9911"
	defaultECSListen     = "127.0.0.1:9912"
	defaultRefreshBefore = 30 * time.Minute
	minRefreshBefore     = time.Minute
	maxRefreshBefore     = 12 * time.Hour
)

// cfgSchema lists the keys each table accepts ("" is the top level), in the
// order they are documented, for unknown-key checks and suggestions.
var cfgSchema = map[string][]string{
	"":        {"profile", "region", "refresh_before", "log_level", "control_socket", "imds", "ecs", "profiles", "keyring"},
	"imds":    {"listen", "tokens", "allow", "hosts", "docker", "max_connections"},
	"ecs":     {"listen", "token_file", "profiles", "allow", "hosts", "docker", "max_connections"},
	"keyring": {"backend", "file_dir", "rotate_after", "auto_rotate"},
}

// Load reads and validates the config file at path ("" means DefaultPath).
// A missing file at the default path yields the defaults; a missing file
// that was named explicitly is an error, since a typo in a --config flag
// should not silently run with defaults.
func Load(path string) (*Config, error) {
	if path == "" {
		return LoadExplicit("", false)
	}
	def := DefaultPath()
	explicit := def == "" || filepath.Clean(ExpandHome(path)) != filepath.Clean(def)
	return LoadExplicit(path, explicit)
}

// LoadExplicit is Load with the caller deciding whether path was named
// explicitly (then a missing file is an error) or is just the default.
func LoadExplicit(path string, explicit bool) (*Config, error) {
	if path == "" {
		// A path named by $IMDSD_CONFIG must exist, like --config.
		path, explicit = DefaultPath(), os.Getenv("IMDSD_CONFIG") != ""
		if path == "" {
			return Parse("", nil)
		}
	}
	path = ExpandHome(path)
	if abs, err := filepath.Abs(path); err == nil {
		// The daemon may change directory later; reloads need the same file.
		path = abs
	}
	data, err := readChecked(path, configFileSpec)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if !explicit {
				return Parse("", nil)
			}
			return nil, fmt.Errorf("%s: config file does not exist; create it, or leave out the path to run with defaults", path)
		}
		return nil, err
	}
	return Parse(path, data)
}

// cfgError is one problem in the config file, located as precisely as we
// can so an editor can jump to it.
type cfgError struct {
	file string
	line int // 0: not in the file (a default or the environment)
	key  string
	msg  string
}

func (e *cfgError) Error() string {
	var b strings.Builder
	if e.file != "" {
		b.WriteString(e.file)
		if e.line > 0 {
			b.WriteString(":" + strconv.Itoa(e.line))
		}
		b.WriteString(": ")
	}
	if e.key != "" {
		b.WriteString(e.key + ": ")
	}
	b.WriteString(e.msg)
	return b.String()
}

// cfgParser carries the state of one Parse call.
type cfgParser struct {
	file  string         // name used in messages
	lines map[string]int // key (toml.Key.String form) -> line
	errs  []*cfgError
}

func (p *cfgParser) fail(key string, format string, args ...any) {
	p.errs = append(p.errs, &cfgError{file: p.file, line: p.lines[key], key: key, msg: fmt.Sprintf(format, args...)})
}

// failAt is fail with an explicit line lookup key, for list elements.
func (p *cfgParser) failAt(lineKey, key string, format string, args ...any) {
	line := p.lines[lineKey]
	if line == 0 {
		line = p.lines[key]
	}
	p.errs = append(p.errs, &cfgError{file: p.file, line: line, key: key, msg: fmt.Sprintf(format, args...)})
}

// Parse validates a config file's contents and returns the complete Config.
// path is only used in messages and as Config.Path. Parse touches no files,
// so a reload can validate a new file before swapping it in. Every problem
// found is reported, one self-contained line each, in file order.
func Parse(path string, data []byte) (*Config, error) {
	name := path
	if name == "" {
		name = "config"
	}
	// Editors on Windows like to add a BOM; it is not TOML but harmless.
	src := strings.TrimPrefix(string(data), "\ufeff")

	var raw map[string]any
	md, err := toml.Decode(src, &raw)
	if err != nil {
		var pe toml.ParseError
		if pp := (*toml.ParseError)(nil); errors.As(err, &pp) && pp != nil {
			pe = *pp
		} else if !errors.As(err, &pe) {
			return nil, &cfgError{file: name, msg: "invalid TOML: " + err.Error()}
		}
		msg := "invalid TOML: " + pe.Message
		if strings.HasPrefix(pe.Message, "expected value but found") {
			// The usual cause: a bare word where a string belongs.
			msg += `; text values need double quotes, e.g. region = "eu-west-1"`
		}
		return nil, &cfgError{file: name, line: pe.Position.Line, key: pe.LastKey, msg: msg}
	}

	p := &cfgParser{file: name, lines: tomlKeyLines(src)}
	p.checkUnknown(md.Keys())

	cfg := Default()
	cfg.Path = path

	if v, ok := raw["profile"]; ok {
		if s, ok := p.str("profile", v, `"dev"`); ok {
			if msg := profileNameProblem(s); msg != "" {
				p.fail("profile", "%q %s", s, msg)
			}
			cfg.Profile = s
		}
	} else if msg := profileNameProblem(cfg.Profile); msg != "" {
		p.errs = append(p.errs, &cfgError{file: name, key: "profile",
			msg: fmt.Sprintf("$AWS_PROFILE is %q, which %s; fix AWS_PROFILE or set profile = \"...\" in this file", cfg.Profile, msg)})
	}

	if v, ok := raw["region"]; ok {
		if s, ok := p.str("region", v, `"eu-west-1"`); ok {
			if s != "" && !validRegion(s) {
				p.fail("region", "%q is not an AWS region name; use a name like \"eu-west-1\", or \"\" for the profile's region", s)
			}
			cfg.Region = s
		}
	}

	if v, ok := raw["refresh_before"]; ok {
		if s, ok := p.str("refresh_before", v, `"15m"`); ok {
			d, err := time.ParseDuration(s)
			switch {
			case err != nil:
				p.fail("refresh_before", "%q is not a duration; write it like \"15m\", \"1h30m\" or \"90s\"", s)
			case d < minRefreshBefore:
				p.fail("refresh_before", "%q is too short; use at least \"1m\"", s)
			case d > maxRefreshBefore:
				p.fail("refresh_before", "%q is too long; use at most \"12h\" (STS credentials last 12 hours at most)", s)
			default:
				cfg.RefreshBefore = d
			}
		}
	}

	if v, ok := raw["log_level"]; ok {
		if s, ok := p.str("log_level", v, `"info"`); ok {
			switch l := strings.ToLower(s); l {
			case "debug", "info", "warn", "error":
				cfg.LogLevel = l
			default:
				p.fail("log_level", "%q is not valid; use \"debug\", \"info\", \"warn\" or \"error\"", s)
			}
		}
	}

	if t, ok := p.table(raw, "imds"); ok {
		if v, ok := t["listen"]; ok {
			cfg.IMDS.Listen = p.listen("imds.listen", v)
		}
		if v, ok := t["tokens"]; ok {
			if s, ok := p.str("imds.tokens", v, `"required"`); ok {
				switch s {
				case "required":
					cfg.IMDS.TokensRequired = true
				case "optional":
					cfg.IMDS.TokensRequired = false
				default:
					p.fail("imds.tokens", "%q is not valid; use \"required\" or \"optional\"", s)
				}
			}
		}
		if v, ok := t["allow"]; ok {
			cfg.IMDS.Allow = p.allow("imds.allow", v)
		}
		if v, ok := t["hosts"]; ok {
			cfg.IMDS.Hosts = p.hosts("imds.hosts", v)
		}
		if v, ok := t["docker"]; ok {
			cfg.IMDS.Docker = p.boolean("imds.docker", v)
		}
		if v, ok := t["max_connections"]; ok {
			cfg.IMDS.MaxConnections = p.maxConns("imds.max_connections", v)
		}
	}

	if t, ok := p.table(raw, "ecs"); ok {
		if v, ok := t["listen"]; ok {
			cfg.ECS.Listen = p.listen("ecs.listen", v)
		}
		if v, ok := t["token_file"]; ok {
			if s, ok := p.str("ecs.token_file", v, `"~/.config/imdsd/ecs-token"`); ok {
				f := ExpandHome(s)
				switch {
				case s == "":
					p.fail("ecs.token_file", "is empty; name a file, e.g. \"~/.config/imdsd/ecs-token\", or remove the line for the default")
				case !filepath.IsAbs(f):
					// Relative to what? The daemon's working directory is
					// not something a user should have to think about.
					p.fail("ecs.token_file", "%q is a relative path; use an absolute path or one starting with \"~/\"", s)
				default:
					cfg.ECS.TokenFile = filepath.Clean(f)
				}
			}
		}
		if v, ok := t["profiles"]; ok {
			cfg.ECS.Profiles = p.profiles("ecs.profiles", v)
		}
		if v, ok := t["allow"]; ok {
			cfg.ECS.Allow = p.allow("ecs.allow", v)
		}
		if v, ok := t["hosts"]; ok {
			cfg.ECS.Hosts = p.hosts("ecs.hosts", v)
		}
		if v, ok := t["docker"]; ok {
			cfg.ECS.Docker = p.boolean("ecs.docker", v)
		}
		if v, ok := t["max_connections"]; ok {
			cfg.ECS.MaxConnections = p.maxConns("ecs.max_connections", v)
		}
	}

	if v, ok := raw["control_socket"]; ok {
		if s, ok := p.str("control_socket", v, `"~/.config/imdsd/control.sock"`); ok {
			f := ExpandHome(s)
			if !filepath.IsAbs(f) {
				p.fail("control_socket", "%q is a relative path; use an absolute path or one starting with \"~/\"", s)
			} else {
				cfg.ControlSocket = filepath.Clean(f)
			}
		}
	}
	if v, ok := raw["profiles"]; ok {
		cfg.Profiles = p.profileTables(v)
	}
	if t, ok := p.table(raw, "keyring"); ok {
		p.keyring(t, &cfg.Keyring)
		p.rotation(t, &cfg.Rotation)
	}

	p.checkListenConflicts(cfg)
	if len(cfg.ECS.Listen) > 0 && cfg.ECS.TokenFile == "" {
		p.fail("ecs.token_file", "no default is possible because the home directory is unknown; set token_file to an absolute path")
	}

	if len(p.errs) > 0 {
		sort.SliceStable(p.errs, func(i, j int) bool {
			// Problems without a line (environment) go first; the rest in
			// file order.
			return p.errs[i].line < p.errs[j].line
		})
		errs := make([]error, len(p.errs))
		for i, e := range p.errs {
			errs[i] = e
		}
		if len(errs) == 1 {
			return nil, errs[0]
		}
		return nil, errors.Join(errs...)
	}
	return cfg, nil
}
