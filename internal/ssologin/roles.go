package ssologin

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/ssocreds"
	"github.com/aws/aws-sdk-go-v2/service/sso"
	"github.com/aws/aws-sdk-go-v2/service/ssooidc"

	"github.com/imdsd/imdsd/config"
)

// Role is one account role the signed-in user may take. No secret.
type Role struct {
	AccountID   string
	AccountName string
	RoleName    string
}

// Roles lists the account roles the sign-in of o (a profile or an
// sso-session, as for Login) gives, from the portal, with the cached
// token: for `imdsd sso profiles`. It never signs in itself.
func Roles(ctx context.Context, o Options) ([]Role, *Result, error) {
	if (o.Profile == "") == (o.SSOSession == "") {
		return nil, nil, errEither
	}
	if err := config.CheckAWSFiles(o.Files); err != nil {
		return nil, nil, err
	}
	t, cleanup, err := resolve(ctx, o)
	if err != nil {
		return nil, nil, err
	}
	defer cleanup()
	res := &Result{Session: t.session, StartURL: t.startURL, Region: t.region}
	key := t.session
	if key == "" {
		key = t.startURL
	}
	if res.CacheFile, err = ssocreds.StandardCachedTokenFilepath(key); err != nil {
		return nil, nil, err
	}
	cfg, err := loadSSOConfig(ctx, o, t)
	if err != nil {
		return nil, nil, err
	}
	// The SDK's token provider reads the cache, and renews an expired
	// token with its refresh token as the SDK's SSO provider would.
	if err := config.CheckSSOTokenFile(res.CacheFile); err != nil {
		return nil, nil, err
	}
	bt, err := ssocreds.NewSSOTokenProvider(ssooidc.NewFromConfig(cfg), res.CacheFile).RetrieveBearerToken(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("no valid SSO sign-in for %s: run `imdsd login %s` first (%w)", t.startURL, loginArgs(o), err)
	}
	token := bt.Value
	c := sso.NewFromConfig(cfg)
	var out []Role
	accounts := sso.NewListAccountsPaginator(c, &sso.ListAccountsInput{AccessToken: &token})
	for accounts.HasMorePages() {
		page, err := accounts.NextPage(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("listing the accounts of %s: %w", t.startURL, err)
		}
		for _, a := range page.AccountList {
			roles := sso.NewListAccountRolesPaginator(c, &sso.ListAccountRolesInput{AccessToken: &token, AccountId: a.AccountId})
			for roles.HasMorePages() {
				rp, err := roles.NextPage(ctx)
				if err != nil {
					return nil, nil, fmt.Errorf("listing the roles of account %s: %w", aws.ToString(a.AccountId), err)
				}
				for _, r := range rp.RoleList {
					out = append(out, Role{AccountID: aws.ToString(a.AccountId), AccountName: aws.ToString(a.AccountName), RoleName: aws.ToString(r.RoleName)})
				}
			}
		}
	}
	return out, res, nil
}

func loginArgs(o Options) string {
	if o.SSOSession != "" {
		return "--sso-session " + o.SSOSession
	}
	return "--profile " + o.Profile
}

var unsafeName = regexp.MustCompile(`[^a-z0-9_.-]+`)

// ProfileSections renders a config-file profile per role, for the user to
// paste into ~/.aws/config.
func ProfileSections(roles []Role, res *Result) string {
	var b strings.Builder
	for _, s := range ProfileSectionList(roles, res) {
		b.WriteString(s.Text + "\n")
	}
	return b.String()
}

// ProfileSectionList is one section per role, named <account>-<role>, for
// `imdsd sso profiles --write` to append.
func ProfileSectionList(roles []Role, res *Result) []config.Section {
	var out []config.Section
	for _, r := range roles {
		name := strings.Trim(unsafeName.ReplaceAllString(strings.ToLower(r.AccountName), "-"), "-")
		if name == "" {
			name = r.AccountID
		}
		var b strings.Builder
		profile := name + "-" + r.RoleName
		fmt.Fprintf(&b, "[profile %s]\n", profile)
		if res.Session != "" {
			fmt.Fprintf(&b, "sso_session = %s\n", res.Session)
		} else {
			fmt.Fprintf(&b, "sso_start_url = %s\nsso_region = %s\n", res.StartURL, res.Region)
		}
		fmt.Fprintf(&b, "sso_account_id = %s\nsso_role_name = %s\n", r.AccountID, r.RoleName)
		out = append(out, config.Section{Profile: profile, Text: b.String()})
	}
	return out
}
