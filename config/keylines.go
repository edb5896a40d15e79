package config

import (
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

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
