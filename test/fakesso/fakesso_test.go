package fakesso

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sso"
	"github.com/aws/aws-sdk-go-v2/service/ssooidc"
	oidctypes "github.com/aws/aws-sdk-go-v2/service/ssooidc/types"
)

const (
	account = "111122223333"
	role    = "Dev"
	start   = "https://example.awsapps.com/start"
)

// env is a started fake and the SDK's own clients pointed at it.
type env struct {
	s    *Server
	oidc *ssooidc.Client
	sso  *sso.Client
	now  *clock
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

func startFake(t *testing.T) *env {
	t.Helper()
	s := New()
	ck := &clock{t: time.Now()}
	s.SetClock(ck.Now)
	s.AddRole(account, role)
	u, err := s.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return &env{
		s:    s,
		now:  ck,
		oidc: ssooidc.New(ssooidc.Options{Region: "eu-west-1", BaseEndpoint: aws.String(u)}),
		sso:  sso.New(sso.Options{Region: "eu-west-1", BaseEndpoint: aws.String(u)}),
	}
}

func (e *env) register(t *testing.T, scopes []string, grants ...string) *ssooidc.RegisterClientOutput {
	t.Helper()
	in := &ssooidc.RegisterClientInput{ClientName: aws.String("test"), ClientType: aws.String("public"), Scopes: scopes, GrantTypes: grants}
	if len(grants) > 0 && grants[0] == GrantAuthCode {
		in.RedirectUris = []string{"http://127.0.0.1/oauth/callback"}
	}
	out, err := e.oidc.RegisterClient(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// device runs StartDeviceAuthorization and returns the device code.
func (e *env) device(t *testing.T, c *ssooidc.RegisterClientOutput) *ssooidc.StartDeviceAuthorizationOutput {
	t.Helper()
	out, err := e.oidc.StartDeviceAuthorization(context.Background(), &ssooidc.StartDeviceAuthorizationInput{ClientId: c.ClientId, ClientSecret: c.ClientSecret, StartUrl: aws.String(start)})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (e *env) deviceToken(c *ssooidc.RegisterClientOutput, d *ssooidc.StartDeviceAuthorizationOutput) (*ssooidc.CreateTokenOutput, error) {
	return e.oidc.CreateToken(context.Background(), &ssooidc.CreateTokenInput{ClientId: c.ClientId, ClientSecret: c.ClientSecret, GrantType: aws.String(GrantDeviceCode), DeviceCode: d.DeviceCode})
}

func TestDeviceFlow(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(e *env, userCode string)
		wantErr any // pointer to the SDK's exception type, nil for success
	}{
		{"pending", func(*env, string) {}, new(*oidctypes.AuthorizationPendingException)},
		{"approved", func(e *env, u string) { e.s.DecideDevice(u, Approve) }, nil},
		{"denied", func(e *env, u string) { e.s.DecideDevice(u, Deny) }, new(*oidctypes.AccessDeniedException)},
		{"expired", func(e *env, u string) { e.s.DecideDevice(u, Approve); e.now.Add(11 * time.Minute) }, new(*oidctypes.ExpiredTokenException)},
		{"slow down", func(e *env, u string) { e.s.FailCreateToken("slow_down") }, new(*oidctypes.SlowDownException)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := startFake(t)
			c := e.register(t, []string{RefreshScope})
			d := e.device(t, c)
			if got := e.s.PendingUserCodes(); len(got) != 1 || got[0] != *d.UserCode {
				t.Fatalf("pending user codes %v, want [%s]", got, *d.UserCode)
			}
			tt.prepare(e, *d.UserCode)
			out, err := e.deviceToken(c, d)
			if tt.wantErr != nil {
				if !errors.As(err, tt.wantErr) {
					t.Fatalf("err %v, want %T", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if aws.ToString(out.AccessToken) == "" || aws.ToString(out.RefreshToken) == "" || out.ExpiresIn != 3600 {
				t.Fatalf("token %+v: want an access and a refresh token for 1h", out)
			}
			// A device code is good for one token.
			if _, err := e.deviceToken(c, d); !errors.As(err, new(*oidctypes.InvalidGrantException)) {
				t.Fatalf("second use: %v, want invalid_grant", err)
			}
		})
	}
}

func TestRefreshTokenOnlyWithScope(t *testing.T) {
	for _, tt := range []struct {
		scopes      []string
		wantRefresh bool
	}{{nil, false}, {[]string{"openid"}, false}, {[]string{RefreshScope}, true}} {
		e := startFake(t)
		c := e.register(t, tt.scopes)
		d := e.device(t, c)
		e.s.DecideDevice(*d.UserCode, Approve)
		out, err := e.deviceToken(c, d)
		if err != nil {
			t.Fatal(err)
		}
		if got := out.RefreshToken != nil; got != tt.wantRefresh {
			t.Errorf("scopes %v: refresh token %v, want %v", tt.scopes, got, tt.wantRefresh)
		}
	}
}

func TestRefreshGrant(t *testing.T) {
	e := startFake(t)
	e.s.SetTokenTTL(time.Minute)
	c := e.register(t, []string{RefreshScope})
	d := e.device(t, c)
	e.s.DecideDevice(*d.UserCode, Approve)
	first, err := e.deviceToken(c, d)
	if err != nil {
		t.Fatal(err)
	}
	e.now.Add(2 * time.Minute)
	if e.s.TokenValid(*first.AccessToken) {
		t.Fatal("access token valid past its TTL")
	}
	refresh := func(rt *string) (*ssooidc.CreateTokenOutput, error) {
		return e.oidc.CreateToken(context.Background(), &ssooidc.CreateTokenInput{ClientId: c.ClientId, ClientSecret: c.ClientSecret, GrantType: aws.String(GrantRefreshToken), RefreshToken: rt})
	}
	second, err := refresh(first.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if !e.s.TokenValid(*second.AccessToken) || *second.RefreshToken == *first.RefreshToken {
		t.Fatal("refresh: want a valid new access token and a rotated refresh token")
	}
	if _, err := refresh(first.RefreshToken); !errors.As(err, new(*oidctypes.InvalidGrantException)) {
		t.Fatalf("reused refresh token: %v, want invalid_grant", err)
	}
	bad := *c.ClientSecret + "x"
	_, err = e.oidc.CreateToken(context.Background(), &ssooidc.CreateTokenInput{ClientId: c.ClientId, ClientSecret: &bad, GrantType: aws.String(GrantRefreshToken), RefreshToken: second.RefreshToken})
	if !errors.As(err, new(*oidctypes.InvalidClientException)) {
		t.Fatalf("wrong secret: %v, want invalid_client", err)
	}
	if got := e.s.Calls("CreateToken"); got != 4 {
		t.Errorf("CreateToken calls %d, want 4", got)
	}
}

// noRedirect is the "browser": it GETs /authorize and returns where the
// fake sends it, without following.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func authorizeURL(e *env, c *ssooidc.RegisterClientOutput, redirect, challenge string) string {
	q := url.Values{"response_type": {"code"}, "client_id": {*c.ClientId}, "redirect_uri": {redirect}, "state": {"st8"},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}, "scopes": {RefreshScope}}
	return e.s.URL() + "/authorize?" + q.Encode()
}

func TestPKCE(t *testing.T) {
	const verifier = "a-verifier-of-enough-length-for-the-test-0123456789"
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	const redirect = "http://127.0.0.1:4711/oauth/callback"
	tests := []struct {
		name      string
		decision  Decision
		redirect  string
		verifier  string
		wantState int    // HTTP status of /authorize
		wantQuery string // "code" or "error=..."
		wantErr   any
	}{
		{"approved", Approve, redirect, verifier, http.StatusFound, "code", nil},
		{"wrong verifier", Approve, redirect, verifier + "x", http.StatusFound, "code", new(*oidctypes.InvalidGrantException)},
		{"denied", Deny, redirect, verifier, http.StatusFound, "error=access_denied", nil},
		{"pending", Pending, redirect, verifier, http.StatusOK, "", nil},
		{"foreign redirect", Approve, "http://evil.example/oauth/callback", verifier, http.StatusBadRequest, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := startFake(t)
			e.s.SetBrowser(tt.decision)
			c := e.register(t, []string{RefreshScope}, GrantAuthCode, GrantRefreshToken)
			resp, err := noRedirect.Get(authorizeURL(e, c, tt.redirect, challenge))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.wantState {
				t.Fatalf("/authorize status %d, want %d", resp.StatusCode, tt.wantState)
			}
			if tt.wantQuery == "" {
				return
			}
			loc, err := url.Parse(resp.Header.Get("Location"))
			if err != nil || loc.Host != "127.0.0.1:4711" || loc.Query().Get("state") != "st8" {
				t.Fatalf("redirect %q: want the callback with the state", resp.Header.Get("Location"))
			}
			if tt.wantQuery != "code" {
				if "error="+loc.Query().Get("error") != tt.wantQuery {
					t.Fatalf("redirect %q, want %s", loc, tt.wantQuery)
				}
				return
			}
			out, err := e.oidc.CreateToken(context.Background(), &ssooidc.CreateTokenInput{
				ClientId: c.ClientId, ClientSecret: c.ClientSecret, GrantType: aws.String(GrantAuthCode),
				Code: aws.String(loc.Query().Get("code")), CodeVerifier: aws.String(tt.verifier), RedirectUri: aws.String(tt.redirect),
			})
			if tt.wantErr != nil {
				if !errors.As(err, tt.wantErr) {
					t.Fatalf("err %v, want %T", err, tt.wantErr)
				}
				return
			}
			if err != nil || out.RefreshToken == nil {
				t.Fatalf("CreateToken: %v, %+v", err, out)
			}
		})
	}
}

func TestPortal(t *testing.T) {
	e := startFake(t)
	e.s.SetCredentialTTL(15 * time.Minute)
	c := e.register(t, nil)
	d := e.device(t, c)
	e.s.DecideDevice(*d.UserCode, Approve)
	tok, err := e.deviceToken(c, d)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tests := []struct {
		name    string
		token   string
		role    string
		wantErr bool
	}{
		{"assigned role", *tok.AccessToken, role, false},
		{"other role", *tok.AccessToken, "Admin", true},
		{"bad token", "nope", role, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := e.sso.GetRoleCredentials(ctx, &sso.GetRoleCredentialsInput{AccessToken: aws.String(tt.token), AccountId: aws.String(account), RoleName: aws.String(tt.role)})
			if tt.wantErr {
				if err == nil {
					t.Fatal("want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			rc := out.RoleCredentials
			got, ok := e.s.Issued(aws.ToString(rc.AccessKeyId))
			if !ok || got.SecretAccessKey != aws.ToString(rc.SecretAccessKey) || got.Expires.UnixMilli() != rc.Expiration {
				t.Fatalf("credentials %+v do not match what the fake issued", rc)
			}
			if life := time.UnixMilli(rc.Expiration).Sub(e.now.Now()); life < 14*time.Minute || life > 15*time.Minute {
				t.Fatalf("credentials live %v, want 15m", life)
			}
		})
	}
	accts, err := e.sso.ListAccounts(ctx, &sso.ListAccountsInput{AccessToken: tok.AccessToken})
	if err != nil || len(accts.AccountList) != 1 || *accts.AccountList[0].AccountId != account {
		t.Fatalf("ListAccounts: %v %+v", err, accts)
	}
	roles, err := e.sso.ListAccountRoles(ctx, &sso.ListAccountRolesInput{AccessToken: tok.AccessToken, AccountId: aws.String(account)})
	if err != nil || len(roles.RoleList) != 1 || *roles.RoleList[0].RoleName != role {
		t.Fatalf("ListAccountRoles: %v %+v", err, roles)
	}
	if _, err := e.sso.Logout(ctx, &sso.LogoutInput{AccessToken: tok.AccessToken}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sso.ListAccounts(ctx, &sso.ListAccountsInput{AccessToken: tok.AccessToken}); err == nil {
		t.Fatal("token still accepted after Logout")
	}
	for action, want := range map[string]int{"GetRoleCredentials": 3, "ListAccounts": 2, "ListAccountRoles": 1, "Logout": 1} {
		if got := e.s.Calls(action); got != want {
			t.Errorf("%s calls %d, want %d", action, got, want)
		}
	}
}
