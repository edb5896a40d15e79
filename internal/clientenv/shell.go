package clientenv

import (
	"fmt"
	"strings"

	"github.com/imdsd/imdsd/config"
)

// shell writes environment settings in one shell's syntax. Every value is
// quoted for that shell, so paths with spaces or quotes stay one word.
type shell interface {
	unset(b *strings.Builder, names ...string)
	set(b *strings.Builder, name, value string)
	// prependList puts items (comma-separated) before the variable's
	// current value, if any: NO_PROXY keeps the user's entries.
	prependList(b *strings.Builder, name, items string)
	// setFromFile is the command that sets name to a file's contents.
	setFromFile(name, path string) string
}

// shells are the --shell choices; shellAliases maps other names users type
// to one of them.
var (
	shells       = map[string]shell{"sh": posix{}, "fish": fish{}, "powershell": powershell{}}
	shellAliases = map[string]string{"": "sh", "bash": "sh", "zsh": "sh", "pwsh": "powershell"}
)

// shellFor returns the shell called name, or an error listing the choices.
func shellFor(name string) (shell, error) {
	n := strings.ToLower(name)
	if a, ok := shellAliases[n]; ok {
		n = a
	}
	if s, ok := shells[n]; ok {
		return s, nil
	}
	return nil, fmt.Errorf("unknown shell %q: choose sh (also for bash and zsh), fish or powershell (also pwsh)", name)
}

// posix is sh, bash, zsh, dash, ksh: `eval "$(imdsd env)"`.
type posix struct{}

func (posix) unset(b *strings.Builder, names ...string) {
	b.WriteString("unset " + strings.Join(names, " ") + "\n")
}

func (posix) set(b *strings.Builder, name, value string) {
	b.WriteString("export " + name + "=" + config.ShellQuote(value) + "\n")
}

func (posix) prependList(b *strings.Builder, name, items string) {
	b.WriteString("export " + name + "=" + config.ShellQuote(items) + "\"${" + name + ":+," + "$" + name + "}\"\n")
}

func (posix) setFromFile(name, path string) string {
	return "export " + name + "=\"$(cat " + config.ShellQuote(path) + ")\""
}

// fish: `imdsd env --shell fish | source`.
type fish struct{}

func (fish) unset(b *strings.Builder, names ...string) {
	for _, n := range names {
		b.WriteString("set -e " + n + "\n")
	}
}

func (fish) set(b *strings.Builder, name, value string) {
	b.WriteString("set -gx " + name + " " + fishQuote(value) + "\n")
}

func (fish) prependList(b *strings.Builder, name, items string) {
	// An unset variable expands to no argument, so no trailing comma.
	b.WriteString("set -gx " + name + " (string join , -- " + fishQuote(items) + " $" + name + ")\n")
}

func (fish) setFromFile(name, path string) string {
	return "set -gx " + name + " (cat " + fishQuote(path) + ")"
}

// fishQuote quotes s for fish when it needs it. In fish's single quotes
// only \' and \\ are escapes; "~" is expanded at the start of a bare word,
// so it is quoted too.
func fishQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+,:@") == "" {
		return s
	}
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// powershell: `imdsd env --shell powershell | Out-String | Invoke-Expression`.
type powershell struct{}

func (powershell) unset(b *strings.Builder, names ...string) {
	for _, n := range names {
		b.WriteString("Remove-Item Env:" + n + " -ErrorAction SilentlyContinue\n")
	}
}

func (powershell) set(b *strings.Builder, name, value string) {
	b.WriteString("$env:" + name + " = " + psQuote(value) + "\n")
}

func (powershell) prependList(b *strings.Builder, name, items string) {
	b.WriteString("$env:" + name + " = (@(" + psQuote(items) + ", $env:" + name + ") | Where-Object { $_ }) -join ','\n")
}

func (powershell) setFromFile(name, path string) string {
	return "$env:" + name + " = Get-Content -Raw " + psQuote(path)
}

// psQuote single-quotes s for PowerShell, where a quote inside is doubled.
// PowerShell also takes the typographic single quotes (U+2018..U+201B) for
// quotes, so they are doubled as well.
func psQuote(s string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for _, r := range s {
		switch r {
		case '\'', '\u2018', '\u2019', '\u201a', '\u201b':
			b.WriteRune(r)
		}
		b.WriteRune(r)
	}
	b.WriteByte('\'')
	return b.String()
}
