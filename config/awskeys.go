package config

import (
	"fmt"
	"slices"
)

// awsProfileKeys are the keys of a profile in the AWS shared config and
// credentials files that the AWS SDKs or the AWS CLI read. A key close to
// one of these but not one of them is most likely a typo; other unknown keys
// (those of aws-vault, granted, saml2aws...) are left alone.
var awsProfileKeys = []string{
	// Credentials.
	"aws_access_key_id", "aws_secret_access_key", "aws_session_token", "aws_security_token",
	"aws_account_id",
	"role_arn", "source_profile", "credential_source", "external_id", "role_session_name",
	"duration_seconds", "mfa_serial",
	"credential_process", "web_identity_token_file", "login_session",
	"sso_session", "sso_start_url", "sso_region", "sso_account_id", "sso_role_name", "sso_registration_scopes",
	// Where and how clients call AWS.
	"region", "output", "ca_bundle", "endpoint_url", "ignore_configured_endpoint_urls", "services",
	"sts_regional_endpoints", "s3_us_east_1_regional_endpoint", "retry_mode", "max_attempts",
	"defaults_mode", "use_fips_endpoint", "use_dualstack_endpoint", "endpoint_discovery_enabled",
	"account_id_endpoint_mode", "auth_scheme_preference", "sigv4a_signing_region_set",
	"request_checksum_calculation", "response_checksum_validation",
	"disable_request_compression", "request_min_compression_size_bytes",
	"disable_clock_skew_correction", "sdk_ua_app_id", "parameter_validation", "tcp_keepalive",
	"api_versions",
	"proxy_ca_bundle", "proxy_client_cert", "proxy_use_forwarding_for_https",
	"metadata_service_timeout", "metadata_service_num_attempts", "imds_use_ipv6",
	"ec2_metadata_service_endpoint", "ec2_metadata_service_endpoint_mode", "ec2_metadata_v1_disabled",
	"csm_enabled", "csm_host", "csm_port", "csm_client_id",
	// Per service settings (indented below "s3 =").
	"s3", "dynamodb", "s3_use_arn_region", "s3_disable_multiregion_access_points", "s3_disable_express_session_auth",
	// The AWS CLI.
	"cli_pager", "cli_timestamp_format", "cli_follow_urlparam", "cli_binary_format", "cli_auto_prompt",
	"cli_history",
}

// credentialKeys are the keys whose absence leaves a profile without a way
// to get credentials: a typo of one of them explains a profile that does
// not resolve.
var credentialKeys = []string{
	"aws_access_key_id", "aws_secret_access_key", "aws_session_token",
	"role_arn", "source_profile", "credential_source",
	"credential_process", "web_identity_token_file", "login_session",
	"sso_session", "sso_start_url", "sso_region", "sso_account_id", "sso_role_name",
}

// keyTypo is a key of a profile that is not an AWS setting but close to one.
type keyTypo struct {
	file, profile string
	line          int
	key, suggest  string
}

// profileTypos returns the misspelt keys of profile and of the profiles its
// source_profile chain names, in that order, config files before
// credentials files.
func profileTypos(files AWSFiles, profile string) []keyTypo {
	var typos []keyTypo
	seen := map[string]bool{}
	for name := profile; name != "" && !seen[name] && len(seen) < 64; {
		seen[name] = true
		next := ""
		for _, f := range files.All() {
			_, keys := profileKeys(f, name)
			for _, k := range keys {
				if k.key == "source_profile" && next == "" {
					next = k.value
				}
				if slices.Contains(awsProfileKeys, k.key) {
					continue
				}
				if s := closestKey(k.key, awsProfileKeys); s != "" {
					typos = append(typos, keyTypo{file: f, profile: name, line: k.line, key: k.written, suggest: s})
				}
			}
		}
		name = next
	}
	return typos
}

// withTypoHint points a profile that does not resolve at the typo that most
// likely explains it: a misspelt credential key in its chain becomes the
// error, located at its line, with the failure as the SDK saw it; a typo of
// another key is added to the error as a note.
func withTypoHint(files AWSFiles, profile string, e error) error {
	err, ok := e.(*ProfileError)
	if !ok {
		return e
	}
	typos := profileTypos(files, profile)
	if len(typos) == 0 {
		return err
	}
	for _, t := range typos {
		if slices.Contains(credentialKeys, t.suggest) {
			// What the SDK made of the profile without the key.
			asWritten := "the profile " + err.Msg
			switch {
			case err.Profile != t.profile && err.Key != "":
				asWritten = "profile " + err.Profile + ": " + err.Key + ": " + err.Msg
			case err.Profile != t.profile:
				asWritten = "profile " + err.Profile + " " + err.Msg
			case err.Key != "":
				asWritten = err.Key + ": " + err.Msg
			}
			return &ProfileError{Profile: t.profile, File: t.file, Line: t.line, Key: t.key,
				Msg: fmt.Sprintf("unknown key; did you mean %s? (as written, %s)", t.suggest, asWritten)}
		}
	}
	t := typos[0]
	out := *err
	out.Msg += fmt.Sprintf(" (also %s:%d: %s is not an AWS setting; did you mean %s?)", t.file, t.line, t.key, t.suggest)
	return &out
}
