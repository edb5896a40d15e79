package config

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
)

// ListProfiles names every profile in the AWS files, config file first,
// in the order they appear. Only the section headers are read here, to
// know what to ask for; each profile's settings come from the SDK's loader
// (DescribeProfile).
func ListProfiles(files AWSFiles) ([]string, error) {
	if err := CheckAWSFiles(files); err != nil {
		return nil, err
	}
	var out []string
	add := func(n string) {
		if n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	for _, f := range files.Config {
		for _, h := range sectionHeaders(f) {
			// The config file names profiles "profile x" (and "default");
			// its other sections (sso-session, services) are not profiles.
			if n, ok := strings.CutPrefix(h, "profile "); ok {
				add(strings.TrimSpace(n))
			} else if h == "default" {
				add(h)
			}
		}
	}
	for _, f := range files.Credentials {
		for _, h := range sectionHeaders(f) {
			add(h)
		}
	}
	return out, nil
}

func sectionHeaders(file string) []string {
	data, err := readChecked(file, awsConfigSpec)
	if err != nil {
		return nil
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		t := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(t, "[") && strings.HasSuffix(t, "]") {
			out = append(out, strings.Join(strings.Fields(strings.Trim(t, "[]")), " "))
		}
	}
	return out
}

// ProfileInfo describes one profile for `imdsd profiles`. No secret.
type ProfileInfo struct {
	Name   string `json:"name"`
	Kind   string `json:"kind,omitempty"`
	Role   string `json:"role_arn,omitempty"`
	Source string `json:"source,omitempty"` // the profile credentials come from
	MFA    string `json:"mfa_serial,omitempty"`
	Region string `json:"region,omitempty"`
	// ServedAt says where imdsd's config serves it ("imds", "ecs /creds",
	// "ecs /role/NAME"); empty when it does not.
	ServedAt []string `json:"served_at,omitempty"`
	// Error says why imdsd could not serve it.
	Error string `json:"error,omitempty"`
}

// DescribeProfiles resolves every profile of the AWS files with the SDK's
// loader and says where cfg serves each.
func DescribeProfiles(ctx context.Context, files AWSFiles, cfg *Config) ([]ProfileInfo, error) {
	names, err := ListProfiles(files)
	if err != nil {
		return nil, err
	}
	out := make([]ProfileInfo, 0, len(names))
	for _, n := range names {
		pi := ProfileInfo{Name: n}
		p, err := ResolveProfile(ctx, files, n)
		var nf *ProfileNotFoundError
		switch {
		case errors.As(err, &nf):
			continue // a credentials-file section the SDK does not see as a profile
		case err != nil:
			pi.Error = err.Error()
		default:
			pi.Kind, pi.Role, pi.MFA, pi.Region = kindOf(ctx, files, n), p.RoleARN, p.MFASerial, p.Region
			switch {
			case p.Keyring == n:
				pi.Kind, pi.Source = "keys", "keyring"
			case len(p.SourceChain) > 1:
				pi.Source = p.SourceChain[1]
			}
		}
		if cfg != nil {
			if n == cfg.Profile {
				pi.ServedAt = append(pi.ServedAt, "imds", "ecs /creds")
			}
			if n == cfg.Profile || slices.Contains(cfg.ECS.Profiles, n) {
				pi.ServedAt = append(pi.ServedAt, "ecs /role/"+n)
			}
		}
		out = append(out, pi)
	}
	return out, nil
}

// kindOf names where a profile's credentials come from, in the words of
// the AWS docs: role, sso, process, web-identity, keys, credential-source.
func kindOf(ctx context.Context, files AWSFiles, name string) string {
	sc, err := awsconfig.LoadSharedConfigProfile(ctx, name, func(o *awsconfig.LoadSharedConfigOptions) {
		o.ConfigFiles = files.Config
		o.CredentialsFiles = files.Credentials
	})
	switch {
	case err != nil:
		return "unknown"
	case sc.RoleARN != "":
		return "role"
	case sc.SSOSessionName != "" || sc.SSOStartURL != "":
		return "sso"
	case sc.CredentialProcess != "":
		return "process"
	case sc.WebIdentityTokenFile != "":
		return "web-identity"
	case sc.Credentials.HasKeys():
		return "keys"
	case sc.CredentialSource != "":
		return "credential-source"
	}
	return "unknown"
}
