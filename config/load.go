package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

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
	"":     {"profile", "region", "refresh_before", "log_level", "control_socket", "imds", "ecs", "profiles"},
	"imds": {"listen", "tokens", "allow", "hosts", "docker"},
	"ecs":  {"listen", "token_file", "profiles", "allow", "hosts", "docker"},
}

// DefaultPath is $XDG_CONFIG_HOME/imdsd/config.toml, else
// ~/.config/imdsd/config.toml; "" when neither can be determined.
func DefaultPath() string {
	base := userConfigBase()
	if base == "" {
		return ""
	}
	return filepath.Join(base, "imdsd", "config.toml")
}

// defaultTokenFile is where the ECS token lives unless ecs.token_file says
// otherwise: next to the default config file.
func defaultTokenFile() string {
	base := userConfigBase()
	if base == "" {
		return ""
	}
	return filepath.Join(base, "imdsd", "ecs-token")
}

// userConfigBase follows the XDG base-directory spec, which says a relative
// XDG_CONFIG_HOME is invalid and must be ignored.
func userConfigBase() string {
	if x := os.Getenv("XDG_CONFIG_HOME"); x != "" && filepath.IsAbs(x) {
		return x
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return ""
	}
	return filepath.Join(home, ".config")
}

// ExpandHome expands a leading "~" or "~/" to the user's home directory.
// Other paths, "~user" forms, and paths when the home directory is unknown
// are returned unchanged.
func ExpandHome(p string) string {
	if p != "~" && !strings.HasPrefix(p, "~/") && !strings.HasPrefix(p, "~"+string(filepath.Separator)) {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return p
	}
	if p == "~" {
		return home
	}
	return filepath.Join(home, p[2:])
}

// envProfile is the profile used when the file names none, as the AWS SDKs
// would pick it.
func envProfile() string {
	if p := os.Getenv("AWS_PROFILE"); p != "" {
		return p
	}
	return "default"
}

// Default returns the configuration used when there is no config file. It
// is not validated: $AWS_PROFILE may hold a name Load would reject.
func Default() *Config {
	return &Config{
		Profile:       envProfile(),
		RefreshBefore: defaultRefreshBefore,
		LogLevel:      "info",
		IMDS: IMDSConfig{
			Listen:         []string{defaultIMDSListen},
			TokensRequired: true,
			Docker:         true,
		},
		ECS: ECSConfig{
			Listen:    []string{defaultECSListen},
			TokenFile: defaultTokenFile(),
			Docker:    true,
		},
		ControlSocket: DefaultControlSocket(),
	}
}

// DefaultControlSocket sits beside the default config, in a directory only
// the user can enter; "" when the home directory is unknown.
func DefaultControlSocket() string {
	base := userConfigBase()
	if base == "" {
		return ""
	}
	return filepath.Join(base, "imdsd", "control.sock")
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
		path, explicit = DefaultPath(), false
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

// checkUnknown reports keys the schema doesn't know, once per unknown
// subtree, with a suggestion when one is likely.
func (p *cfgParser) checkUnknown(keys []toml.Key) {
	reported := map[string]bool{}
	for _, k := range keys {
		var unknown toml.Key
		switch {
		case len(k) == 0:
			continue
		case k[0] == "imds" || k[0] == "ecs":
			if len(k) >= 2 && !slices.Contains(cfgSchema[k[0]], k[1]) {
				unknown = k[:2]
			}
		case k[0] == "profiles":
			if len(k) >= 3 && !slices.Contains(profileSchema, k[2]) {
				unknown = k[:3]
			}
		case !slices.Contains(cfgSchema[""], k[0]):
			unknown = k[:1]
		}
		// Keys below a known leaf (profile.x = 1) are a type error, which
		// the leaf's own check reports.
		if unknown == nil {
			continue
		}
		ks := unknown.String()
		if reported[ks] {
			continue
		}
		reported[ks] = true
		p.fail(ks, "unknown key; %s", unknownKeyHint(unknown))
	}
}

// unknownKeyHint explains the most likely mistake behind an unknown key.
func unknownKeyHint(k toml.Key) string {
	table, name := "", k[len(k)-1]
	if len(k) == 2 {
		table = k[0]
	}
	// The right key in the wrong place: most often a top-level setting
	// appended at the end of the file, which TOML puts in the last table.
	var homes []string
	for _, t := range []string{"", "imds", "ecs"} {
		if t != table && (t != "" || (name != "imds" && name != "ecs")) && slices.Contains(cfgSchema[t], name) {
			homes = append(homes, t)
		}
	}
	switch {
	case len(homes) == 1 && homes[0] == "":
		return fmt.Sprintf("%s is a top-level setting, so it must come before the first [table] header", name)
	case len(homes) == 1:
		return fmt.Sprintf("%s belongs in the [%s] table", name, homes[0])
	case len(homes) == 2:
		return fmt.Sprintf("%s belongs in the [%s] or [%s] table", name, homes[0], homes[1])
	}
	if s := closestKey(name, cfgSchema[table]); s != "" {
		if table == "" && (s == "imds" || s == "ecs") {
			return fmt.Sprintf("did you mean [%s]?", s)
		}
		return fmt.Sprintf("did you mean %q?", s)
	}
	where := "at the top level"
	if table != "" {
		where = "in [" + table + "]"
	}
	return fmt.Sprintf("valid keys %s are %s", where, strings.Join(cfgSchema[table], ", "))
}

// closestKey returns the candidate a typo most likely meant, or "".
func closestKey(name string, candidates []string) string {
	best, bestDist := "", -1
	for _, c := range candidates {
		d := editDistance(strings.ToLower(name), c)
		if bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	// Allow about one slip per four characters, at least one.
	limit := max(1, len(best)/4)
	if bestDist >= 0 && bestDist <= limit {
		return best
	}
	return ""
}

// editDistance is the optimal-string-alignment distance between a and b:
// insertions, deletions, substitutions and adjacent swaps ("regoin") each
// count one. Bytes, since keys are ASCII.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// tomlTypeName names a decoded TOML value's type the way a user would.
func tomlTypeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "a number"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	case map[string]any:
		return "a table"
	case []map[string]any:
		return "an array of tables"
	case time.Time:
		return "a date/time"
	}
	return fmt.Sprintf("a %T", v)
}

// str requires a string value; example is shown in the fix.
func (p *cfgParser) str(key string, v any, example string) (string, bool) {
	s, ok := v.(string)
	if !ok {
		p.fail(key, "must be a quoted string like %s, not %s", example, tomlTypeName(v))
	}
	return s, ok
}

// table returns the [name] table, if present and really a table.
func (p *cfgParser) table(raw map[string]any, name string) (map[string]any, bool) {
	v, ok := raw[name]
	if !ok {
		return nil, false
	}
	t, ok := v.(map[string]any)
	if !ok {
		if _, aot := v.([]map[string]any); aot {
			p.fail(name, "must be a single table written [%s], not [[%s]]", name, name)
		} else {
			p.fail(name, "must be a table: write [%s] on its own line and its settings below it", name)
		}
	}
	return t, ok
}

// strList requires a list of strings; it reports each bad element and
// returns the good ones with their indexes.
func (p *cfgParser) strList(key string, v any, example string) ([]string, []int, bool) {
	list, ok := v.([]any)
	if !ok {
		if s, isStr := v.(string); isStr {
			p.fail(key, "must be a list, not a string; write %s = [%q]", key[strings.LastIndexByte(key, '.')+1:], s)
		} else {
			p.fail(key, "must be a list of strings like %s, not %s", example, tomlTypeName(v))
		}
		return nil, nil, false
	}
	out := make([]string, 0, len(list))
	idx := make([]int, 0, len(list))
	good := true
	for i, e := range list {
		s, ok := e.(string)
		if !ok {
			p.failAt(elemKey(key, i), key, "item %d is %s; items must be quoted strings like %s", i+1, tomlTypeName(e), example)
			good = false
			continue
		}
		out = append(out, s)
		idx = append(idx, i)
	}
	return out, idx, good
}

func elemKey(key string, i int) string { return key + "[" + strconv.Itoa(i) + "]" }

// listen validates a listen list and returns canonical host:port strings.
func (p *cfgParser) listen(key string, v any) []string {
	list, idx, _ := p.strList(key, v, `"127.0.0.1:9911"`)
	if list == nil {
		return nil
	}
	out := make([]string, 0, len(list))
	seen := map[string]bool{}
	for n, s := range list {
		ek := elemKey(key, idx[n])
		ap, err := parseListenAddr(s)
		if err != nil {
			p.failAt(ek, key, "%v", err)
			continue
		}
		if seen[ap] {
			p.failAt(ek, key, "%q is listed twice; remove one", s)
			continue
		}
		seen[ap] = true
		out = append(out, ap)
	}
	return out
}

// parseListenAddr checks one listen address and returns it in canonical
// form (IPv6 bracketed and compressed), so duplicates are spotted and a
// reload can compare listener sets.
func parseListenAddr(s string) (string, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		switch {
		case !strings.Contains(s, ":"):
			return "", fmt.Errorf("%q has no port; write it as host:port, e.g. %q", s, s+":9911")
		case strings.Count(s, ":") > 1 && !strings.HasPrefix(s, "["):
			return "", fmt.Errorf("%q is ambiguous; put IPv6 addresses in brackets, e.g. \"[::1]:9911\"", s)
		}
		return "", fmt.Errorf("%q is not host:port; write e.g. \"127.0.0.1:9911\" or \"[::1]:9911\"", s)
	}
	if port == "" {
		return "", fmt.Errorf("%q has no port; add one, e.g. %q", s, net.JoinHostPort(host, "9911"))
	}
	if strings.Trim(port, "0123456789") != "" {
		// Service names ("http") would need a lookup; signs are typos.
		return "", fmt.Errorf("%q: port %q is not a number; use a port from 1 to 65535", s, port)
	}
	pn, err := strconv.Atoi(port)
	switch {
	case err != nil || pn < 0 || pn > 65535:
		// Port 0 (any free port, shown in the log) serves tests and
		// throwaway instances.
		return "", fmt.Errorf("%q: port %s is out of range; use a port from 1 to 65535", s, port)
	}
	switch {
	case host == "":
		return "", fmt.Errorf("%q has no host; write \"127.0.0.1:%d\" for this machine only, or \"0.0.0.0:%d\" for every interface", s, pn, pn)
	case strings.EqualFold(host, "localhost"):
		return "localhost:" + strconv.Itoa(pn), nil
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return "", fmt.Errorf("%q: host %q is not an IP address or \"localhost\"; imdsd listens on literal addresses such as 127.0.0.1, ::1 or 0.0.0.0", s, host)
	}
	return netip.AddrPortFrom(addr, uint16(pn)).String(), nil
}

// listenConflict reports whether two canonical listen addresses would
// fight over the same socket. Go listens dual-stack on 0.0.0.0 and ::, so
// an unspecified address clashes with every address on its port.
func listenConflict(a, b string) bool {
	ha, pa, _ := net.SplitHostPort(a)
	hb, pb, _ := net.SplitHostPort(b)
	if pa != pb || pa == "0" {
		return false
	}
	if ha == hb {
		return true
	}
	aa, errA := netip.ParseAddr(ha)
	ab, errB := netip.ParseAddr(hb)
	if errA == nil && aa.IsUnspecified() || errB == nil && ab.IsUnspecified() {
		return true
	}
	// localhost is 127.0.0.1 and ::1.
	if ha == "localhost" && errB == nil && ab.IsLoopback() || hb == "localhost" && errA == nil && aa.IsLoopback() {
		return true
	}
	return false
}

// checkListenConflicts rejects addresses that two listeners would both
// need, within a list or across [imds] and [ecs], and a config that
// serves nothing.
func (p *cfgParser) checkListenConflicts(cfg *Config) {
	type entry struct{ key, addr string }
	var all []entry
	for _, a := range cfg.IMDS.Listen {
		all = append(all, entry{"imds.listen", a})
	}
	for _, a := range cfg.ECS.Listen {
		all = append(all, entry{"ecs.listen", a})
	}
	for i := range all {
		for j := 0; j < i; j++ {
			a, b := all[j], all[i]
			if a.addr == b.addr && a.key == b.key {
				continue // reported as a duplicate already
			}
			if listenConflict(a.addr, b.addr) {
				what := "also in"
				if a.addr != b.addr {
					what = "overlaps " + strconv.Quote(a.addr) + " in"
				}
				p.fail(b.key, "%q %s %s; two listeners cannot share an address and port, so change one of them", b.addr, what, a.key)
				break
			}
		}
	}
	if len(cfg.IMDS.Listen) == 0 && len(cfg.ECS.Listen) == 0 && len(p.errs) == 0 {
		key := "ecs.listen"
		if p.lines["imds.listen"] > p.lines[key] {
			key = "imds.listen"
		}
		p.fail(key, "imds.listen and ecs.listen are both empty, so imdsd would serve nothing; give at least one of them an address")
	}
}

// allow validates CIDRs and bare addresses (a single host).
func (p *cfgParser) allow(key string, v any) []netip.Prefix {
	list, idx, _ := p.strList(key, v, `"172.17.0.0/16"`)
	if list == nil {
		return nil
	}
	var out []netip.Prefix
	for n, s := range list {
		ek := elemKey(key, idx[n])
		if strings.Contains(s, "/") {
			pfx, err := netip.ParsePrefix(s)
			if err != nil {
				p.failAt(ek, key, "%q is not a CIDR range; write it like \"172.17.0.0/16\" or \"fd00::/8\", or give a single address", s)
				continue
			}
			// Host bits are almost always a slip ("172.17.0.1/16" for the
			// bridge network); the masked range is what matching uses.
			out = append(out, pfx.Masked())
			continue
		}
		addr, err := netip.ParseAddr(s)
		if err != nil || addr.Zone() != "" {
			p.failAt(ek, key, "%q is not an IP address or CIDR range; write it like \"10.0.0.5\" or \"172.17.0.0/16\"", s)
			continue
		}
		out = append(out, netip.PrefixFrom(addr, addr.BitLen()))
	}
	return out
}

// hosts validates Host header names.
func (p *cfgParser) hosts(key string, v any) []string {
	list, idx, _ := p.strList(key, v, `"imds.local"`)
	if list == nil {
		return nil
	}
	var out []string
	for n, s := range list {
		ek := elemKey(key, idx[n])
		switch {
		case s == "":
			p.failAt(ek, key, "item %d is empty; remove it or write a host name like \"imds.local\"", idx[n]+1)
		case strings.Contains(s, "://") || strings.ContainsRune(s, '/'):
			p.failAt(ek, key, "%q is a URL; write only the host name, like \"imds.local\"", s)
		case strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
			p.failAt(ek, key, "%q contains whitespace; a host name cannot", s)
		default:
			out = append(out, s)
		}
	}
	return out
}

// profiles validates ecs.profiles.
func (p *cfgParser) profiles(key string, v any) []string {
	list, idx, _ := p.strList(key, v, `"ops"`)
	if list == nil {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	for n, s := range list {
		ek := elemKey(key, idx[n])
		if msg := profileNameProblem(s); msg != "" {
			p.failAt(ek, key, "%q %s", s, msg)
			continue
		}
		if seen[s] {
			p.failAt(ek, key, "%q is listed twice; remove one", s)
			continue
		}
		seen[s] = true
		out = append(out, s)
	}
	return out
}

// profileNameProblem says why s can't be a profile name, or "" if it can.
// A "/" would make /role/<profile> and the IMDS role path ambiguous.
func profileNameProblem(s string) string {
	switch {
	case s == "":
		return "is empty; name an AWS profile, e.g. \"default\""
	case strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return "contains whitespace; AWS profile names cannot"
	case strings.ContainsRune(s, '/'):
		return "contains \"/\", which cannot be served in a URL path; rename the profile"
	}
	return ""
}

// validRegion accepts the shape of every AWS region name (lower-case
// letters, digits and inner hyphens) without a list that would go stale.
func validRegion(s string) bool {
	if s[0] == '-' || s[len(s)-1] == '-' || !strings.ContainsRune(s, '-') {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// tomlKeyLines maps every key defined in src (in toml.Key.String form) to
// the 1-based line where it is first defined, including tables and the
// implicit tables of dotted keys; list items are recorded as "key[i]".
// The TOML library keeps positions private, so this small scanner finds
// them. It runs only on input the library has already accepted.
func tomlKeyLines(src string) map[string]int {
	s := &tomlLineScanner{src: src, line: 1, lines: map[string]int{}}
	s.document()
	return s.lines
}

type tomlLineScanner struct {
	src   string
	i     int
	line  int
	lines map[string]int
}

func (s *tomlLineScanner) eof() bool { return s.i >= len(s.src) }

func (s *tomlLineScanner) peek(prefix string) bool { return strings.HasPrefix(s.src[s.i:], prefix) }

func (s *tomlLineScanner) advance(n int) {
	for ; n > 0 && s.i < len(s.src); n-- {
		if s.src[s.i] == '\n' {
			s.line++
		}
		s.i++
	}
}

// skip passes spaces and comments, and newlines too when nl is set.
func (s *tomlLineScanner) skip(nl bool) {
	for !s.eof() {
		switch c := s.src[s.i]; {
		case c == ' ' || c == '\t' || c == '\r':
			s.i++
		case c == '\n' && nl:
			s.advance(1)
		case c == '#':
			for !s.eof() && s.src[s.i] != '\n' {
				s.i++
			}
		default:
			return
		}
	}
}

func (s *tomlLineScanner) record(key []string) {
	for n := 1; n <= len(key); n++ {
		k := toml.Key(key[:n]).String()
		if _, ok := s.lines[k]; !ok {
			s.lines[k] = s.line
		}
	}
}

func (s *tomlLineScanner) document() {
	var table []string
	for {
		s.skip(true)
		if s.eof() {
			return
		}
		start := s.i
		switch {
		case s.peek("[["):
			s.advance(2)
			table = s.key()
			s.record(table)
		case s.peek("["):
			s.advance(1)
			table = s.key()
			s.record(table)
		default:
			k := append(append([]string(nil), table...), s.key()...)
			s.record(k)
			s.skip(false)
			if s.peek("=") {
				s.advance(1)
				s.value(k, true)
			}
		}
		// Rest of the line: "]", "]]", a comment.
		for !s.eof() && s.src[s.i] != '\n' {
			s.i++
		}
		if s.i == start {
			s.advance(1) // never loop without progress
		}
	}
}

// key reads a dotted key of bare and quoted parts.
func (s *tomlLineScanner) key() []string {
	var parts []string
	for {
		s.skip(false)
		if s.eof() {
			return parts
		}
		switch c := s.src[s.i]; {
		case c == '"':
			start := s.i
			s.basicString()
			raw := s.src[start:s.i]
			if u, err := strconv.Unquote(raw); err == nil {
				parts = append(parts, u)
			} else {
				parts = append(parts, strings.Trim(raw, `"`))
			}
		case c == '\'':
			s.i++
			start := s.i
			for !s.eof() && s.src[s.i] != '\'' && s.src[s.i] != '\n' {
				s.i++
			}
			parts = append(parts, s.src[start:s.i])
			if !s.eof() && s.src[s.i] == '\'' {
				s.i++
			}
		default:
			start := s.i
			for !s.eof() && isBareKeyByte(s.src[s.i]) {
				s.i++
			}
			if s.i == start {
				return parts
			}
			parts = append(parts, s.src[start:s.i])
		}
		s.skip(false)
		if !s.peek(".") {
			return parts
		}
		s.i++
	}
}

func isBareKeyByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// basicString passes a "..." string, starting at its opening quote.
func (s *tomlLineScanner) basicString() {
	s.i++
	for !s.eof() {
		switch s.src[s.i] {
		case '\\':
			s.i += 2
		case '"':
			s.i++
			return
		case '\n':
			return
		default:
			s.i++
		}
	}
}

// value passes one value; keys inside inline tables are recorded under key,
// and list items too when items is set (a nested list's items are not the
// key's).
func (s *tomlLineScanner) value(key []string, items bool) {
	s.skip(false)
	switch {
	case s.eof():
	case s.peek(`"""`), s.peek(`'''`):
		delim := s.src[s.i : s.i+3]
		s.advance(3)
		for !s.eof() {
			if delim[0] == '"' && s.src[s.i] == '\\' {
				s.advance(2)
				continue
			}
			if s.peek(delim) {
				s.advance(3)
				// Up to two quotes right before the closing delimiter
				// belong to the content: """a""""" ends after five.
				for n := 0; n < 2 && !s.eof() && s.src[s.i] == delim[0]; n++ {
					s.advance(1)
				}
				return
			}
			s.advance(1)
		}
	case s.peek(`"`):
		s.basicString()
	case s.peek("'"):
		s.i++
		for !s.eof() && s.src[s.i] != '\'' && s.src[s.i] != '\n' {
			s.i++
		}
		if !s.eof() && s.src[s.i] == '\'' {
			s.i++
		}
	case s.peek("["):
		s.advance(1)
		for n := 0; ; n++ {
			s.skip(true)
			if s.eof() {
				return
			}
			if s.peek("]") {
				s.advance(1)
				return
			}
			if items {
				if k := elemKey(toml.Key(key).String(), n); s.lines[k] == 0 {
					s.lines[k] = s.line
				}
			}
			start := s.i
			s.value(key, false)
			s.skip(true)
			if s.peek(",") {
				s.advance(1)
			} else if s.i == start {
				s.advance(1)
			}
		}
	case s.peek("{"):
		s.advance(1)
		for {
			s.skip(true)
			if s.eof() {
				return
			}
			if s.peek("}") {
				s.advance(1)
				return
			}
			start := s.i
			k := append(append([]string(nil), key...), s.key()...)
			s.record(k)
			s.skip(false)
			if s.peek("=") {
				s.advance(1)
				s.value(k, true)
			}
			s.skip(true)
			if s.peek(",") {
				s.advance(1)
			} else if s.i == start {
				s.advance(1)
			}
		}
	default:
		// Numbers, booleans, dates: up to the next delimiter.
		for !s.eof() && !strings.ContainsRune(",]}#\n", rune(s.src[s.i])) {
			s.i++
		}
	}
}
