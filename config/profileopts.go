package config

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/arn"
)

// profileSchema lists the keys of a [profiles.<name>] table.
var profileSchema = []string{"mfa_process", "mfa_duration", "policy", "policy_arns", "duration"}

// profileTables parses the [profiles.<name>] tables.
func (p *cfgParser) profileTables(v any) map[string]ProfileOptions {
	t, ok := v.(map[string]any)
	if !ok {
		p.fail("profiles", "must be tables written [profiles.<name>], e.g. [profiles.dev]")
		return nil
	}
	out := map[string]ProfileOptions{}
	for name, tv := range t {
		key := "profiles." + name
		if msg := profileNameProblem(name); msg != "" {
			p.fail(key, "%q %s", name, msg)
			continue
		}
		pt, ok := tv.(map[string]any)
		if !ok {
			p.fail(key, "must be a table: write [profiles.%s] on its own line and its settings below it", name)
			continue
		}
		var o ProfileOptions
		if v, ok := pt["mfa_process"]; ok {
			if s, ok := p.str(key+".mfa_process", v, `"ykman oath accounts code -s my-aws"`); ok {
				if strings.TrimSpace(s) == "" {
					p.fail(key+".mfa_process", "is empty; give a command that prints the MFA code, or remove the line")
				}
				o.MFAProcess = s
			}
		}
		o.MFADuration = p.duration(key+".mfa_duration", pt["mfa_duration"], 15*time.Minute, 36*time.Hour, `"12h"`)
		o.Duration = p.duration(key+".duration", pt["duration"], 15*time.Minute, 12*time.Hour, `"1h"`)
		if v, ok := pt["policy"]; ok {
			if s, ok := p.str(key+".policy", v, `'{"Version":"2012-10-17","Statement":[...]}'`); ok {
				if !json.Valid([]byte(s)) {
					p.fail(key+".policy", "is not valid JSON; write the session policy document in single quotes, e.g. policy = '{\"Version\":\"2012-10-17\",...}'")
				}
				o.Policy = s
			}
		}
		if v, ok := pt["policy_arns"]; ok {
			list, idx, _ := p.strList(key+".policy_arns", v, `"arn:aws:iam::aws:policy/ReadOnlyAccess"`)
			for i, s := range list {
				if a, err := arn.Parse(s); err != nil || a.Service != "iam" || !strings.HasPrefix(a.Resource, "policy/") {
					p.fail(elemKey(key+".policy_arns", idx[i]), "%q is not an IAM policy ARN; use e.g. \"arn:aws:iam::aws:policy/ReadOnlyAccess\"", s)
					continue
				}
				o.PolicyARNs = append(o.PolicyARNs, s)
			}
		}
		out[name] = o
	}
	return out
}

// duration parses an optional duration value within [lo, hi]; 0 if absent
// or invalid (the error is recorded).
func (p *cfgParser) duration(key string, v any, lo, hi time.Duration, example string) time.Duration {
	if v == nil {
		return 0
	}
	s, ok := p.str(key, v, example)
	if !ok {
		return 0
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		p.fail(key, "%q is not a duration; write it like %s", s, example)
	case d < lo || d > hi:
		p.fail(key, "%q is out of range; use %v to %v", s, lo, hi)
	default:
		return d
	}
	return 0
}

// boolean requires true or false.
func (p *cfgParser) boolean(key string, v any) bool {
	b, ok := v.(bool)
	if !ok {
		p.fail(key, "must be true or false (without quotes), not %s", tomlTypeName(v))
	}
	return b
}
