package config

import (
	"testing"
	"time"
)

func TestParseRotation(t *testing.T) {
	isolateEnv(t)
	const f = "/c.toml"
	const day = 24 * time.Hour
	for name, tc := range map[string]struct {
		src  string
		want Rotation
		err  string // the whole error text; "" = parses
	}{
		"defaults":            {"", Rotation{RotateAfter: 90 * day}, ""},
		"empty table":         {"[keyring]\n", Rotation{RotateAfter: 90 * day}, ""},
		"days":                {"[keyring]\nrotate_after = \"30d\"\nauto_rotate = true\n", Rotation{RotateAfter: 30 * day, AutoRotate: true}, ""},
		"hours":               {"[keyring]\nrotate_after = \"2160h\"\n", Rotation{RotateAfter: 90 * day}, ""},
		"one day":             {"[keyring]\nrotate_after = \"1d\"\n", Rotation{RotateAfter: day}, ""},
		"bare number":         {"[keyring]\nrotate_after = \"90\"\n", Rotation{}, f + `:2: keyring.rotate_after: "90" is not a duration; write days like "90d" or hours like "2160h"`},
		"days spelled out":    {"[keyring]\nrotate_after = \"90days\"\n", Rotation{}, f + `:2: keyring.rotate_after: "90days" is not a duration; write days like "90d" or hours like "2160h"`},
		"number not string":   {"[keyring]\nrotate_after = 90\n", Rotation{}, f + `:2: keyring.rotate_after: must be a quoted string like "90d", not a number`},
		"too short":           {"[keyring]\nrotate_after = \"12h\"\n", Rotation{}, f + `:2: keyring.rotate_after: "12h" is out of range; use "1d" to "3650d" (default "90d")`},
		"zero":                {"[keyring]\nrotate_after = \"0d\"\n", Rotation{}, f + `:2: keyring.rotate_after: "0d" is out of range; use "1d" to "3650d" (default "90d")`},
		"too long":            {"[keyring]\nrotate_after = \"4000d\"\n", Rotation{}, f + `:2: keyring.rotate_after: "4000d" is out of range; use "1d" to "3650d" (default "90d")`},
		"auto_rotate string":  {"[keyring]\nauto_rotate = \"yes\"\n", Rotation{}, f + `:2: keyring.auto_rotate: must be true or false (without quotes), not a string`},
		"typo":                {"[keyring]\nrotate_afer = \"30d\"\n", Rotation{}, f + `:2: keyring.rotate_afer: unknown key; did you mean "rotate_after"?`},
		"at the top level":    {"rotate_after = \"30d\"\n", Rotation{}, f + `:1: rotate_after: unknown key; rotate_after belongs in the [keyring] table`},
		"keyring not a table": {"keyring = \"file\"\n", Rotation{}, f + `:1: keyring: must be a table: write [keyring] on its own line and its settings below it`},
	} {
		t.Run(name, func(t *testing.T) {
			cfg, err := Parse(f, []byte(tc.src))
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error\n %v\nwant\n %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Rotation != tc.want {
				t.Errorf("Rotation = %+v, want %+v", cfg.Rotation, tc.want)
			}
		})
	}
}
