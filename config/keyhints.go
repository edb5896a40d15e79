package config

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// checkUnknown reports keys the schema doesn't know, once per unknown
// subtree, with a suggestion when one is likely.
func (p *cfgParser) checkUnknown(keys []toml.Key) {
	reported := map[string]bool{}
	for _, k := range keys {
		var unknown toml.Key
		switch {
		case len(k) == 0:
			continue
		case k[0] == "imds" || k[0] == "ecs" || k[0] == "keyring":
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
