//go:build !imds_stdjson

package imds

import (
	"encoding/json"
	"testing"
	"time"
)

// appendString must decode, with encoding/json, to what encoding/json
// itself would have produced for the same Go string.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", `q"uote`, `back\slash`, "nl\n\r\t", "\x00\x1f\x7f", "é✓😀", "\xff\xfe", "a\xc3", "\u2028", "</script>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var got, want string
		out := appendString(nil, s)
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("appendString(%q) = %s: %v", s, out, err)
		}
		ref, _ := json.Marshal(s)
		if err := json.Unmarshal(ref, &want); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("appendString(%q) decodes to %q, encoding/json to %q", s, got, want)
		}
	})
}

func TestAppendTime(t *testing.T) {
	tz := time.FixedZone("x", -7*3600)
	got := string(appendTime(nil, time.Date(2030, 1, 2, 20, 4, 5, 999999999, tz)))
	if got != `"2030-01-03T03:04:05Z"` {
		t.Fatalf("appendTime = %s", got)
	}
}
