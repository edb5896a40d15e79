package keyops

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// PassphraseEnv gives the file keyring's passphrase without a prompt
// (scripts, tests, headless machines).
const PassphraseEnv = "IMDSD_KEYRING_PASSPHRASE"

// Prompter asks the user: without echo on a terminal, else it reads
// lines from its input, so scripts can pipe answers in.
type Prompter struct {
	In  *os.File
	Out io.Writer // prompts go here (stderr), never the answers
	r   *bufio.Reader
}

func (p *Prompter) terminal() bool { return term.IsTerminal(int(p.In.Fd())) }

// Secret asks for a value that must not be shown.
func (p *Prompter) Secret(prompt string) (string, error) {
	if p.terminal() {
		fmt.Fprint(p.Out, prompt)
		b, err := term.ReadPassword(int(p.In.Fd()))
		fmt.Fprintln(p.Out)
		return strings.TrimSpace(string(b)), err
	}
	return p.Line("")
}

// Line reads one line (echoed on a terminal).
func (p *Prompter) Line(prompt string) (string, error) {
	if prompt != "" && p.terminal() {
		fmt.Fprint(p.Out, prompt)
	}
	if p.r == nil {
		p.r = bufio.NewReader(p.In)
	}
	s, err := p.r.ReadString('\n')
	if err == io.EOF && s != "" {
		err = nil
	}
	if err == io.EOF {
		return "", errors.New("the input ended before the answer; type it on a terminal or pipe one line per answer")
	}
	return strings.TrimSpace(s), err
}

// Passphrase is the file keyring's passphrase: $IMDSD_KEYRING_PASSPHRASE,
// else asked on the terminal (twice for a new keyring).
func (p *Prompter) Passphrase(prompt string, confirm bool) (string, error) {
	if s := os.Getenv(PassphraseEnv); s != "" {
		return s, nil
	}
	if !p.terminal() {
		return "", fmt.Errorf("the keyring file needs its passphrase: run this on a terminal, or set %s", PassphraseEnv)
	}
	s, err := p.Secret(prompt + ": ")
	if err != nil || !confirm {
		return s, err
	}
	again, err := p.Secret("The keyring is new: type the passphrase again: ")
	if err != nil {
		return "", err
	}
	if again != s {
		return "", errors.New("the two passphrases differ; nothing was stored, try again")
	}
	return s, nil
}

// Confirm asks a yes/no question; no unless the answer starts with y.
func (p *Prompter) Confirm(question string) (bool, error) {
	if !p.terminal() {
		return false, nil
	}
	s, err := p.Line(question + " [y/N] ")
	if err != nil {
		return false, err
	}
	return strings.HasPrefix(strings.ToLower(s), "y"), nil
}
