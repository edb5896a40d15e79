package config

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/arn"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/ssocreds"
)

// AWSFiles are the shared config and credentials files in use.
type AWSFiles struct {
	Config      []string
	Credentials []string
}

// DefaultAWSFiles returns the files the AWS SDKs would read, honouring
// AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE.
func DefaultAWSFiles() AWSFiles {
	cfg := os.Getenv("AWS_CONFIG_FILE")
	if cfg == "" {
		cfg = awsconfig.DefaultSharedConfigFilename()
	}
	creds := os.Getenv("AWS_SHARED_CREDENTIALS_FILE")
	if creds == "" {
		creds = awsconfig.DefaultSharedCredentialsFilename()
	}
	return AWSFiles{Config: []string{ExpandHome(cfg)}, Credentials: []string{ExpandHome(creds)}}
}

// All returns every file, config files first.
func (f AWSFiles) All() []string {
	return append(append([]string(nil), f.Config...), f.Credentials...)
}

// StampFiles hashes each AWS file's path, length and contents, read with
// the checks of CheckAWSFiles, so a caller can tell whether the files
// changed while it loaded them. A missing file hashes as empty; any other
// problem is returned.
func StampFiles(f AWSFiles) ([32]byte, error) {
	h := sha256.New()
	err := forEachAWSFile(f, func(p string, spec *fileSpec) error {
		b, err := readChecked(p, spec)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", p, len(b))
		h.Write(b)
		return nil
	})
	var out [32]byte
	if err != nil {
		return out, err
	}
	h.Sum(out[:0])
	return out, nil
}

// ProfileKind says how the daemon turns a profile into temporary credentials.
type ProfileKind int

const (
	// KindAssumeRole: the profile has role_arn; the SDK's AssumeRole
	// provider (with its source chain) yields session credentials.
	KindAssumeRole ProfileKind = iota + 1
	// KindSessionToken: the profile holds long-term keys only; the daemon
	// exchanges them with GetSessionToken so they never reach a client.
	KindSessionToken
	// KindProvider: SSO, credential_process, web identity or a
	// credential_source without a role; the SDK's own provider is used (and
	// long-term keys it returns are exchanged with GetSessionToken).
	KindProvider
)

func (k ProfileKind) String() string {
	switch k {
	case KindAssumeRole:
		return "assume-role"
	case KindSessionToken:
		return "session-token"
	case KindProvider:
		return "sdk-provider"
	}
	return "unknown"
}

// Profile is an AWS profile resolved through the SDK's shared-config loader.
type Profile struct {
	Name            string
	Kind            ProfileKind
	RoleARN         string
	Region          string
	MFASerial       string
	ExternalID      string
	RoleSessionName string
	// Duration is duration_seconds; 0 = the STS default.
	Duration time.Duration
	// SourceChain names the profiles credentials come from, outermost
	// first (e.g. ["dev", "base"]).
	SourceChain []string
	// AccountID from aws_account_id or the role ARN; may be empty.
	AccountID string
	// SourceKeyID is the access key id at the end of the source chain, if
	// the chain ends in keys; for messages only (it is not a secret).
	SourceKeyID string
	// SSOCacheFile is the SSO token cache file (~/.aws/sso/cache/...) the
	// chain's SSO link reads, "" without one: the daemon watches it so a
	// sign-in (imdsd login, aws sso login) is picked up at once.
	SSOCacheFile string
	// SSOProfile is the profile of the chain with the SSO settings: the
	// one to sign in for (imdsd login --profile).
	SSOProfile string
	// Keyring names the profile at the root of the source chain when its
	// keys are in imdsd's keyring (the profile itself, or the end of a
	// role's source_profile chain); "" when they are not. The SDK sees it
	// through the keyring overlay (KeyringOverlay), and the broker builds
	// the chain from Hops and the keyring's keys itself.
	Keyring string
	// KeyringShadows: the keyring profile also has plaintext keys in the
	// files, which the keyring's keys override (status warns).
	KeyringShadows bool
	// Hops are the chain's role links, outermost first (a role whose
	// source_profile is a role adds two).
	Hops []RoleHop
	// SSOSession is the [sso-session] it signs in with, "" for a legacy
	// profile (sso_start_url only): `imdsd login --sso-session` names it.
	SSOSession string
	// Fingerprint hashes every effective setting, including the source
	// chain and the source keys, so a reload can tell an unchanged profile
	// (keep its cached credentials) from a changed one (fetch anew).
	Fingerprint string
}

// ProfileNotFoundError means the profile does not exist in the AWS files.
type ProfileNotFoundError struct {
	Profile string
	Files   []string
}

func (e *ProfileNotFoundError) Error() string {
	return fmt.Sprintf("AWS profile %q not found in %s; add a [profile %s] section or serve another profile", e.Profile, strings.Join(e.Files, ", "), e.Profile)
}

// ProfileError is an invalid AWS profile, located in its file when possible.
type ProfileError struct {
	Profile string
	File    string // "" when not located
	Line    int
	Key     string
	Msg     string
}

func (e *ProfileError) Error() string {
	loc := ""
	if e.File != "" {
		loc = e.File
		if e.Line > 0 {
			loc += fmt.Sprintf(":%d", e.Line)
		}
		loc += ": "
	}
	key := ""
	if e.Key != "" {
		key = e.Key + ": "
	}
	return fmt.Sprintf("%sprofile %s: %s%s", loc, e.Profile, key, e.Msg)
}

// ResolveProfile loads one profile with the SDK's loader and checks it is
// something the daemon can turn into temporary credentials. It reads the
// files but starts no network call. Each existing file is checked first
// (CheckAWSFiles), since the SDK reads whatever it is given: a FIFO would
// block it forever and /dev/zero would fill memory.
func ResolveProfile(ctx context.Context, files AWSFiles, name string) (*Profile, error) {
	if err := CheckAWSFiles(files); err != nil {
		return nil, err
	}
	sc, err := awsconfig.LoadSharedConfigProfile(ctx, name, func(o *awsconfig.LoadSharedConfigOptions) {
		o.ConfigFiles = files.Config
		o.CredentialsFiles = files.Credentials
	})
	if err != nil {
		return nil, withTypoHint(files, name, sdkProfileError(files, name, err))
	}
	p := &Profile{Name: name}
	if err := p.fill(files, &sc); err != nil {
		return nil, withTypoHint(files, name, err)
	}
	return p, nil
}

// sdkProfileError explains an error of the SDK's shared-config loader in
// the user's terms, located in the files where possible.
func sdkProfileError(files AWSFiles, name string, err error) error {
	var nf awsconfig.SharedConfigProfileNotExistError
	var are awsconfig.SharedConfigAssumeRoleError
	var needsARN awsconfig.CredentialRequiresARNError
	switch {
	case errors.As(err, &nf) && nf.Profile == name:
		return &ProfileNotFoundError{Profile: name, Files: files.All()}
	case errors.As(err, &nf):
		// A source_profile that does not exist.
		return locate(files, name, "source_profile", fmt.Sprintf("source profile %q does not exist; fix source_profile or add that profile", nf.Profile))
	case errors.As(err, &needsARN):
		return locate(files, needsARN.Profile, needsARN.Type, fmt.Sprintf("needs role_arn in the same profile: add role_arn = arn:aws:iam::<account-id>:role/<name>, or remove %s", needsARN.Type))
	case errors.As(err, &are):
		return locate(files, name, "source_profile", "the source_profile chain loops back, or ends in a profile without credentials; make the last profile in the chain hold keys or a credential_source")
	}
	if _, rest, ok := strings.Cut(err.Error(), "partial credentials found for profile "); ok {
		// The SDK's message, which has no type of its own.
		p := strings.TrimSpace(strings.SplitN(rest, "\n", 2)[0])
		has, lacks := "aws_access_key_id", "aws_secret_access_key"
		if !hasKey(files, p, has) {
			has, lacks = lacks, has
		}
		return locate(files, p, has, fmt.Sprintf("has %s but no %s; add the other half of the key pair, or remove both", has, lacks))
	}
	// The SDK's messages may span lines: keep the error on one.
	return &ProfileError{Profile: name, Msg: strings.Join(strings.Fields(err.Error()), " ")}
}

func (p *Profile) fill(files AWSFiles, sc *awsconfig.SharedConfig) *ProfileError {
	seen := map[*awsconfig.SharedConfig]bool{}
	for c := sc; c != nil; c = c.Source {
		if seen[c] {
			return locate(files, p.Name, "source_profile", "source_profile chain loops; make the last profile in the chain hold keys or a credential_source")
		}
		seen[c] = true
		p.SourceChain = append(p.SourceChain, c.Profile)
		if c.Source == nil && c.CredentialProcess == KeyringProcess {
			p.Keyring, p.KeyringShadows = c.Profile, c.Credentials.HasKeys()
		}
		if c.RoleARN != "" {
			h := RoleHop{Profile: c.Profile, RoleARN: c.RoleARN, ExternalID: c.ExternalID, RoleSessionName: c.RoleSessionName, MFASerial: c.MFASerial}
			if c.RoleDurationSeconds != nil {
				h.Duration = *c.RoleDurationSeconds
			}
			p.Hops = append(p.Hops, h)
		}
		if c.Credentials.AccessKeyID != "" {
			p.SourceKeyID = c.Credentials.AccessKeyID
		}
		if key := ssoCacheKey(c); key != "" {
			// The SDK's own path, so it is the file the SDK will read.
			if path, err := ssocreds.StandardCachedTokenFilepath(key); err == nil {
				p.SSOCacheFile, p.SSOProfile = path, c.Profile
				if c.SSOSession != nil {
					p.SSOSession = c.SSOSession.Name
				}
			}
		}
		if c.RoleARN != "" {
			if err := checkRoleARN(c.RoleARN); err != nil {
				return locate(files, c.Profile, "role_arn", err.Error())
			}
			if !hasRoleSource(c) {
				// The SDK would assume it with whatever the container or
				// instance endpoints give, which may be this very daemon.
				return locate(files, c.Profile, "role_arn", "nothing to assume the role with: add source_profile = <a profile with keys> or credential_source = Environment, Ec2InstanceMetadata or EcsContainer")
			}
		}
	}
	p.RoleARN = sc.RoleARN
	p.Region = sc.Region
	p.MFASerial = sc.MFASerial
	p.ExternalID = sc.ExternalID
	p.RoleSessionName = sc.RoleSessionName
	if sc.RoleDurationSeconds != nil {
		p.Duration = *sc.RoleDurationSeconds
	}
	p.AccountID = sc.Credentials.AccountID
	if a, err := arn.Parse(sc.RoleARN); err == nil {
		p.AccountID = a.AccountID
	}
	switch {
	case sc.RoleARN != "":
		p.Kind = KindAssumeRole
	case p.Keyring != "", sc.Credentials.HasKeys():
		p.Kind = KindSessionToken
	case sc.CredentialProcess != "", sc.WebIdentityTokenFile != "", sc.CredentialSource != "", hasSSO(sc), sc.LoginSession != "":
		p.Kind = KindProvider
	default:
		// Without this check the SDK would fall back to the container or
		// instance endpoints, which may be this very daemon.
		return locate(files, p.Name, "", "has no credentials: add role_arn with source_profile or credential_source, aws_access_key_id/aws_secret_access_key, sso_session, credential_process or web_identity_token_file")
	}
	if p.Duration != 0 && (p.Duration < 15*time.Minute || p.Duration > 12*time.Hour) {
		return locate(files, p.Name, "duration_seconds", fmt.Sprintf("%d is out of range; use 900 to 43200", int(p.Duration.Seconds())))
	}
	p.Fingerprint = fingerprint(sc)
	return nil
}

// hasRoleSource says whether a profile with role_arn names where the
// credentials to assume it come from, as the SDK looks for them: another
// profile, keys or a provider in the same profile, or credential_source.
func hasRoleSource(c *awsconfig.SharedConfig) bool {
	return c.Source != nil || c.Credentials.HasKeys() || c.CredentialSource != "" || c.WebIdentityTokenFile != "" ||
		c.CredentialProcess != "" || hasSSO(c) || c.LoginSession != ""
}

func hasSSO(c *awsconfig.SharedConfig) bool {
	return c.SSOSessionName != "" || c.SSOStartURL != "" || c.SSORoleName != "" || c.SSOAccountID != ""
}

// ssoCacheKey is what the SDK hashes to name a profile's SSO token cache
// file: the sso-session name, or a legacy profile's start URL.
func ssoCacheKey(c *awsconfig.SharedConfig) string {
	switch {
	case c.SSOSession != nil:
		return c.SSOSession.Name
	case c.SSOStartURL != "" && c.SSOSessionName == "":
		return c.SSOStartURL
	}
	return ""
}

func checkRoleARN(s string) error {
	a, err := arn.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not an ARN; use arn:aws:iam::<account-id>:role/<name>", s)
	}
	if a.Service != "iam" || !strings.HasPrefix(a.Resource, "role/") || len(a.Resource) <= len("role/") {
		return fmt.Errorf("%q is not an IAM role ARN; use arn:aws:iam::<account-id>:role/<name>", s)
	}
	if len(a.AccountID) != 12 || strings.Trim(a.AccountID, "0123456789") != "" {
		return fmt.Errorf("%q has account id %q; an account id is 12 digits", s, a.AccountID)
	}
	return nil
}

// fingerprint hashes the settings that decide which credentials a profile
// yields. Secrets are hashed, never stored or printed.
func fingerprint(sc *awsconfig.SharedConfig) string {
	type link struct {
		Profile, AKID, Secret, Token, AccountID          string
		CredentialSource, CredentialProcess, WebIdentity string
		SSOSession, SSORegion, SSOStartURL, SSOAccount   string
		SSORole, RoleARN, ExternalID, MFASerial, Session string
		Duration                                         time.Duration
		Region, BaseEndpoint, CABundle, STSEndpoint      string
		IgnoreEndpoints                                  bool
	}
	var chain []link
	for c := sc; c != nil && len(chain) < 64; c = c.Source {
		l := link{
			Profile: c.Profile, AKID: c.Credentials.AccessKeyID, Secret: c.Credentials.SecretAccessKey,
			Token: c.Credentials.SessionToken, AccountID: c.Credentials.AccountID,
			CredentialSource: c.CredentialSource, CredentialProcess: c.CredentialProcess, WebIdentity: c.WebIdentityTokenFile,
			SSOSession: c.SSOSessionName, SSORegion: c.SSORegion, SSOStartURL: c.SSOStartURL, SSOAccount: c.SSOAccountID,
			SSORole: c.SSORoleName, RoleARN: c.RoleARN, ExternalID: c.ExternalID, MFASerial: c.MFASerial, Session: c.RoleSessionName,
			Region: c.Region, BaseEndpoint: c.BaseEndpoint, CABundle: c.CustomCABundle,
		}
		if c.RoleDurationSeconds != nil {
			l.Duration = *c.RoleDurationSeconds
		}
		if c.IgnoreConfiguredEndpoints != nil {
			l.IgnoreEndpoints = *c.IgnoreConfiguredEndpoints
		}
		if ep, ok := c.Services.ServiceValues["sts"]; ok {
			l.STSEndpoint = ep["endpoint_url"]
		}
		if c.SSOSession != nil {
			l.SSORegion += "|" + c.SSOSession.SSORegion + "|" + c.SSOSession.SSOStartURL
		}
		chain = append(chain, l)
	}
	b, _ := json.Marshal(chain)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// locate builds a ProfileError pointing at the line of key in profile's
// section (the section header when key is "" or not found).
func locate(files AWSFiles, profile, key, msg string) *ProfileError {
	e := &ProfileError{Profile: profile, Key: key, Msg: msg}
	for _, f := range files.All() {
		if line := findKey(f, profile, key); line > 0 {
			e.File, e.Line = f, line
			return e
		}
	}
	return e
}

// findKey returns the 1-based line of key inside the profile's section of
// an INI file, or of the section header when the key is absent; 0 if the
// section is not in the file. Only for error messages: the SDK does the
// parsing.
func findKey(file, profile, key string) int {
	header, keys := profileKeys(file, profile)
	for _, k := range keys {
		if key != "" && k.key == key {
			return k.line
		}
	}
	return header
}

// hasKey says whether the profile sets key in any of the files.
func hasKey(files AWSFiles, profile, key string) bool {
	for _, f := range files.All() {
		_, keys := profileKeys(f, profile)
		if slices.ContainsFunc(keys, func(k keyLine) bool { return k.key == key }) {
			return true
		}
	}
	return false
}

// keyLine is a "key = value" line of a profile, for messages.
type keyLine struct {
	key     string // lower case, as the SDK reads it
	written string // as written
	value   string
	line    int // 1-based
}

// profileKeys returns the line of the profile's first section header in an
// INI file (0 if the file has none) and the key lines of its sections, read
// as the SDK reads them: keys are case-insensitive, "#" and ";" start
// comment lines, and indented lines below a key with an empty value
// ("s3 =") are that key's sub-settings, not the profile's. Only for error
// messages: the SDK does the parsing.
func profileKeys(file, profile string) (header int, keys []keyLine) {
	data, err := readChecked(file, awsConfigSpec)
	if err != nil {
		return 0, nil
	}
	names := map[string]bool{profile: true, "profile " + profile: true}
	sc := bufio.NewScanner(bytes.NewReader(data))
	n, in, nested := 0, false, false
	for sc.Scan() {
		n++
		raw := sc.Text()
		t := strings.TrimSpace(raw)
		if t == "" || t[0] == '#' || t[0] == ';' {
			continue
		}
		if h := strings.TrimSpace(cutAny(t, "#", ";")); strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
			in = names[strings.Join(strings.Fields(h[1:len(h)-1]), " ")]
			nested = false
			if in && header == 0 {
				header = n
			}
			continue
		}
		// "key = value" or, as the SDK also reads it, "key: value".
		t = cutAny(t, " #", " ;", "\t#", "\t;")
		sep := "="
		if e, c := strings.Index(t, "="), strings.Index(t, ":"); e < 0 || c >= 0 && c < e {
			sep = ":"
		}
		k, v, ok := strings.Cut(t, sep)
		if !in || !ok {
			continue
		}
		if indented := raw[0] == ' ' || raw[0] == '\t'; indented && nested {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		keys = append(keys, keyLine{key: strings.ToLower(k), written: k, value: v, line: n})
		nested = v == ""
	}
	return header, keys
}

// cutAny returns s up to the first of the separators.
func cutAny(s string, seps ...string) string {
	for _, sep := range seps {
		s, _, _ = strings.Cut(s, sep)
	}
	return s
}
