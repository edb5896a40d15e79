// Command fakests runs the fake AWS STS (package fakests) as a standalone
// process for shell-driven end-to-end suites. It never talks to AWS.
//
//	go run ./test/fakests/cmd/fakests \
//	    -user AKIAALICEFAKEEXAMPLE:aliceFAKESECRET:arn:aws:iam::111122223333:user/alice \
//	    -role 'arn:aws:iam::111122223333:role/deploy,external_id=fake-ext,trust=arn:aws:iam::111122223333:user/alice' \
//	    -mfa arn:aws:iam::111122223333:mfa/alice:123456 \
//	    -url-file /tmp/fakests.url
//
// The first line on stdout is the base URL (e.g. http://127.0.0.1:40321);
// one line per call goes to stderr (access key ids only, never secrets).
// SIGINT/SIGTERM stop it cleanly with exit status 0.
//
// -users and -roles take JSON files:
//
//	users.json: [{"access_key_id": "AKIA...", "secret_access_key": "...", "arn": "arn:aws:iam::ACCT:user/NAME"}]
//	roles.json: [{"arn": "arn:aws:iam::ACCT:role/NAME", "trusted_principals": ["..."],
//	              "external_id": "...", "require_mfa": true, "max_session_duration": "12h"}]
//
// max_session_duration accepts a Go duration string or a number of seconds.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/imdsd/imdsd/test/fakests"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "fakests:") {
			msg = "fakests: " + msg
		}
		fmt.Fprintln(os.Stderr, msg)
		os.Exit(1)
	}
}

// listFlag collects a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

type userSpec struct {
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey string `json:"secret_access_key"`
	ARN             string `json:"arn"`
}

type roleSpec struct {
	ARN                string       `json:"arn"`
	TrustedPrincipals  []string     `json:"trusted_principals"`
	ExternalID         string       `json:"external_id"`
	RequireMFA         bool         `json:"require_mfa"`
	MaxSessionDuration jsonDuration `json:"max_session_duration"`
}

// jsonDuration accepts "12h"-style strings or plain seconds, since shell
// suites generate these files by hand.
type jsonDuration time.Duration

func (d *jsonDuration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*d = jsonDuration(v)
		return nil
	}
	var n float64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("duration must be a string like \"12h\" or seconds: %s", b)
	}
	*d = jsonDuration(time.Duration(n * float64(time.Second)))
	return nil
}

type config struct {
	listen     string
	users      []userSpec
	roles      []roleSpec
	mfa        [][2]string
	lifetime   time.Duration
	urlFile    string
	portFile   string
	fault      fakests.Fault
	hasFault   bool
	quietCalls bool
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("fakests", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfg                          config
		users, roles, mfas           listFlag
		usersFile, rolesFile, faultS string
	)
	fs.StringVar(&cfg.listen, "listen", "127.0.0.1:0", "loopback `host:port` to listen on")
	fs.Var(&users, "user", "long-term user `AKID:SECRET:ARN` (repeatable)")
	fs.StringVar(&usersFile, "users", "", "JSON `file` of users")
	fs.Var(&roles, "role", "role `ARN[,external_id=X][,require_mfa][,max_session=DUR][,trust=ARN|ARN...]` (repeatable)")
	fs.StringVar(&rolesFile, "roles", "", "JSON `file` of roles")
	fs.Var(&mfas, "mfa", "valid MFA code `SERIAL:CODE` (repeatable)")
	fs.DurationVar(&cfg.lifetime, "lifetime", 0, "force issued credentials to expire after this `duration` (0 = honour DurationSeconds)")
	fs.StringVar(&cfg.urlFile, "url-file", "", "write the base URL to this `file`")
	fs.StringVar(&cfg.portFile, "port-file", "", "write the port number to this `file`")
	fs.StringVar(&faultS, "fault", "", "inject a fault: none|500|throttle|hang|down|accessdenied|expiredtoken|invalidtoken")
	fs.DurationVar(&cfg.fault.Delay, "fault-delay", 0, "added latency per call")
	fs.IntVar(&cfg.fault.Count, "fault-count", 0, "apply the fault to only the first N calls (0 = all)")
	fs.BoolVar(&cfg.quietCalls, "quiet", false, "do not log calls")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}

	if usersFile != "" {
		if err := readJSON(usersFile, &cfg.users); err != nil {
			return nil, err
		}
	}
	for _, u := range users {
		spec, err := parseUser(u)
		if err != nil {
			return nil, err
		}
		cfg.users = append(cfg.users, spec)
	}
	for i, u := range cfg.users {
		if u.AccessKeyID == "" || u.SecretAccessKey == "" || !strings.HasPrefix(u.ARN, "arn:") {
			return nil, fmt.Errorf("user %d: access_key_id, secret_access_key and arn are required", i+1)
		}
	}

	if rolesFile != "" {
		if err := readJSON(rolesFile, &cfg.roles); err != nil {
			return nil, err
		}
	}
	for _, r := range roles {
		spec, err := parseRole(r)
		if err != nil {
			return nil, err
		}
		cfg.roles = append(cfg.roles, spec)
	}
	for i, r := range cfg.roles {
		if !strings.HasPrefix(r.ARN, "arn:") || !strings.Contains(r.ARN, ":role/") {
			return nil, fmt.Errorf("role %d: %q is not a role ARN", i+1, r.ARN)
		}
	}

	for _, m := range mfas {
		// Serials are ARNs full of colons; the code follows the last one.
		i := strings.LastIndex(m, ":")
		if i <= 0 || i == len(m)-1 {
			return nil, fmt.Errorf("-mfa %q: want SERIAL:CODE", m)
		}
		cfg.mfa = append(cfg.mfa, [2]string{m[:i], m[i+1:]})
	}

	if faultS != "" || cfg.fault.Delay > 0 {
		mode, err := parseFaultMode(faultS)
		if err != nil {
			return nil, err
		}
		cfg.fault.Mode = mode
		cfg.hasFault = true
	}
	return &cfg, nil
}

// parseUser splits AKID:SECRET:ARN; the ARN keeps its own colons.
func parseUser(v string) (userSpec, error) {
	parts := strings.SplitN(v, ":", 3)
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || !strings.HasPrefix(parts[2], "arn:") {
		return userSpec{}, fmt.Errorf("-user: want AKID:SECRET:ARN, got %d fields", len(parts))
	}
	return userSpec{AccessKeyID: parts[0], SecretAccessKey: parts[1], ARN: parts[2]}, nil
}

// parseRole reads ARN[,key=value...]. Trusted principals are separated by
// '|' because ARNs cannot contain it (IAM names may contain ',').
func parseRole(v string) (roleSpec, error) {
	fields := strings.Split(v, ",")
	spec := roleSpec{ARN: fields[0]}
	for _, f := range fields[1:] {
		k, val, hasVal := strings.Cut(f, "=")
		switch k {
		case "external_id":
			spec.ExternalID = val
		case "require_mfa":
			spec.RequireMFA = !hasVal || val == "true" || val == "1"
		case "max_session":
			d, err := time.ParseDuration(val)
			if err != nil {
				return roleSpec{}, fmt.Errorf("-role %s: max_session: %w", spec.ARN, err)
			}
			spec.MaxSessionDuration = jsonDuration(d)
		case "trust":
			spec.TrustedPrincipals = append(spec.TrustedPrincipals, strings.Split(val, "|")...)
		default:
			return roleSpec{}, fmt.Errorf("-role %s: unknown option %q", spec.ARN, k)
		}
	}
	return spec, nil
}

func parseFaultMode(s string) (fakests.FaultMode, error) {
	if s == "" {
		return fakests.FaultNone, nil
	}
	for m := fakests.FaultNone; m <= fakests.FaultInvalidToken; m++ {
		if strings.EqualFold(s, m.String()) {
			return m, nil
		}
	}
	return 0, fmt.Errorf("-fault %q: unknown mode", s)
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields() // catch typos in hand-written fixtures
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// writeFileAtomic lets a shell suite poll for the file without ever reading
// it half-written.
func writeFileAtomic(path, content string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".fakests-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(content); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// run serves until ctx is done. Split from main so tests can drive it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	logger := log.New(stderr, "", 0)

	s := fakests.New()
	for _, u := range cfg.users {
		s.AddUser(u.AccessKeyID, u.SecretAccessKey, u.ARN)
	}
	for _, r := range cfg.roles {
		s.AddRole(r.ARN, fakests.RoleOptions{
			TrustedPrincipals:  r.TrustedPrincipals,
			ExternalID:         r.ExternalID,
			RequireMFA:         r.RequireMFA,
			MaxSessionDuration: time.Duration(r.MaxSessionDuration),
		})
	}
	for _, m := range cfg.mfa {
		s.SetMFA(m[0], m[1])
	}
	s.SetCredentialLifetime(cfg.lifetime)
	if cfg.hasFault {
		s.SetFault(cfg.fault)
	}
	if !cfg.quietCalls {
		s.SetLogf(logger.Printf)
	}

	base, err := s.StartOn(cfg.listen)
	if err != nil {
		return err
	}
	defer s.Close()

	if cfg.urlFile != "" {
		if err := writeFileAtomic(cfg.urlFile, base+"\n"); err != nil {
			return err
		}
	}
	if cfg.portFile != "" {
		u, err := url.Parse(base)
		if err != nil {
			return err
		}
		if _, err := strconv.Atoi(u.Port()); err != nil {
			return fmt.Errorf("unexpected URL %q", base)
		}
		if err := writeFileAtomic(cfg.portFile, u.Port()+"\n"); err != nil {
			return err
		}
	}
	// Files first, so they exist by the time a suite sees the stdout line.
	if _, err := fmt.Fprintln(stdout, base); err != nil {
		return err
	}
	logger.Printf("fakests: listening on %s (%d users, %d roles)", base, len(cfg.users), len(cfg.roles))

	<-ctx.Done()
	logger.Printf("fakests: shutting down")
	return nil
}
