package imds

import (
	"time"
	"unicode/utf8"
)

// timeLayout is the only time format every SDK parses: JS and Rust insist on
// a literal Z, and none wants fractional seconds.
const timeLayout = "2006-01-02T15:04:05Z"

// appendTime appends t as a quoted JSON string in timeLayout, in UTC.
func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, timeLayout)
	return append(b, '"')
}

// appendString appends s as a quoted JSON string. The documents are built by
// hand rather than with encoding/json so that the hot path does no
// reflection; the escaping matches encoding/json (invalid UTF-8 becomes
// U+FFFD, control characters become \u00XX).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError || size != 1 {
				i += size
				continue
			}
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			const hex = "0123456789abcdef"
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendField appends `"name":"value"` preceded by a comma unless it is the
// first field of the object.
func appendField(b []byte, name, value string) []byte {
	if b[len(b)-1] != '{' {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, name...) // names are constants that need no escaping
	b = append(b, '"', ':')
	return appendString(b, value)
}

// appendTimeField is appendField for a timestamp.
func appendTimeField(b []byte, name string, t time.Time) []byte {
	if b[len(b)-1] != '{' {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendTime(b, t)
}
