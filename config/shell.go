package config

import "strings"

// ShellQuote quotes s for a copy-pasted POSIX shell command when it needs
// it. "~" is quoted: the shell expands it at the start of a word and after
// "=" or ":" in an assignment (export VAR=~/x).
func ShellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+,:@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// DisplayPath names the config's file for messages, or says there is none.
func (c *Config) DisplayPath() string {
	if c.Path == "" {
		return "(defaults; no config file)"
	}
	return c.Path
}
