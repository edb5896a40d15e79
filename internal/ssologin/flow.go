package ssologin

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssooidc"
	oidctypes "github.com/aws/aws-sdk-go-v2/service/ssooidc/types"
)

const (
	grantDevice  = "urn:ietf:params:oauth:grant-type:device_code"
	grantCode    = "authorization_code"
	grantRefresh = "refresh_token"
	// callbackPath is the loopback redirect's path; the registered URI has
	// no port, the real one a free port (RFC 8252 loopback redirects).
	callbackPath = "/oauth/callback"
)

type flow struct {
	o        Options
	t        target
	c        *ssooidc.Client
	authBase string
	scopes   []string
}

func (f *flow) clientName() string {
	if f.t.session != "" {
		return "imdsd-" + f.t.session
	}
	return "imdsd"
}

func (f *flow) register(ctx context.Context, grants []string, redirects []string) (*ssooidc.RegisterClientOutput, error) {
	if len(grants) > 0 && len(f.scopes) == 0 {
		grants = grants[:1] // no refresh token without scopes: do not ask for the grant
	}
	reg, err := f.c.RegisterClient(ctx, &ssooidc.RegisterClientInput{
		ClientName: aws.String(f.clientName()), ClientType: aws.String("public"),
		Scopes: f.scopes, GrantTypes: grants, RedirectUris: redirects, IssuerUrl: aws.String(f.t.startURL),
	})
	if err != nil {
		return nil, fmt.Errorf("registering with IAM Identity Center in %s: %w", f.t.region, err)
	}
	return reg, nil
}

// callback is what the browser brought back to the loopback listener.
type callback struct {
	code string
	err  error
}

// pkce is the authorization-code flow with PKCE: the browser signs in and
// is redirected to a listener on 127.0.0.1 with a code that only the
// holder of the verifier can exchange.
func (f *flow) pkce(ctx context.Context) (*token, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	redirect := fmt.Sprintf("http://%s%s", ln.Addr(), callbackPath)
	state, verifier := randURL(32), randURL(64)
	got := make(chan callback, 1)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.URL.Path != callbackPath || q.Get("state") != state {
			// Another page or a forged redirect: not ours to answer.
			http.Error(w, "unexpected request", http.StatusBadRequest)
			return
		}
		cb := callback{code: q.Get("code")}
		msg := "Signed in. You can close this tab and return to imdsd."
		if e := q.Get("error"); e != "" || cb.code == "" {
			cb.err = fmt.Errorf("sign-in failed in the browser: %s %s", e, q.Get("error_description"))
			msg = "Sign-in failed: " + e + ". Return to imdsd."
		}
		select {
		case got <- cb:
		default: // only the first answer counts
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><title>imdsd login</title><p>%s</p>", html.EscapeString(msg))
	})}
	go srv.Serve(ln)
	defer srv.Close()

	reg, err := f.register(ctx, []string{grantCode, grantRefresh}, []string{"http://127.0.0.1" + callbackPath})
	if err != nil {
		return nil, err
	}
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {aws.ToString(reg.ClientId)},
		"redirect_uri":          {redirect},
		"state":                 {state},
		"code_challenge_method": {"S256"},
		"code_challenge":        {s256(verifier)},
	}
	if len(f.scopes) > 0 {
		q.Set("scopes", strings.Join(f.scopes, ","))
	}
	authURL := strings.TrimSuffix(f.authBase, "/") + "/authorize?" + q.Encode()
	if err := f.o.OpenBrowser(authURL); err != nil {
		if errors.Is(err, ErrNoBrowser) {
			return nil, ErrNoBrowser
		}
		fmt.Fprintf(f.o.Out, "Could not open the browser (%v).\n", err)
	}
	fmt.Fprintf(f.o.Out, "Sign in to %s in your browser. If it did not open, open this URL on this machine:\n\n  %s\n\nWaiting for the browser...\n", f.t.startURL, authURL)
	var cb callback
	select {
	case cb = <-got:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for the browser: %w", ctx.Err())
	}
	if cb.err != nil {
		return nil, cb.err
	}
	now := time.Now()
	out, err := f.c.CreateToken(ctx, &ssooidc.CreateTokenInput{
		ClientId: reg.ClientId, ClientSecret: reg.ClientSecret, GrantType: aws.String(grantCode),
		Code: aws.String(cb.code), CodeVerifier: aws.String(verifier), RedirectUri: aws.String(redirect),
	})
	if err != nil {
		return nil, tokenError(err)
	}
	return tokenFrom(out, reg, now), nil
}

// device is the device-code flow: the user opens a URL anywhere and
// confirms the code; imdsd polls until they have.
func (f *flow) device(ctx context.Context) (*token, error) {
	reg, err := f.register(ctx, []string{grantDevice, grantRefresh}, nil)
	if err != nil {
		return nil, err
	}
	da, err := f.c.StartDeviceAuthorization(ctx, &ssooidc.StartDeviceAuthorizationInput{
		ClientId: reg.ClientId, ClientSecret: reg.ClientSecret, StartUrl: aws.String(f.t.startURL),
	})
	if err != nil {
		return nil, fmt.Errorf("starting the device sign-in: %w", err)
	}
	uri := aws.ToString(da.VerificationUriComplete)
	if uri == "" {
		uri = aws.ToString(da.VerificationUri)
	}
	fmt.Fprintf(f.o.Out, "To sign in to %s, open this URL in a browser on any device:\n\n  %s\n\nand confirm the code: %s\n\nWaiting for the sign-in...\n", f.t.startURL, uri, aws.ToString(da.UserCode))
	interval := time.Duration(da.Interval) * time.Second
	if interval <= 0 {
		interval = 5 * time.Second
	}
	for {
		now := time.Now()
		out, err := f.c.CreateToken(ctx, &ssooidc.CreateTokenInput{
			ClientId: reg.ClientId, ClientSecret: reg.ClientSecret, GrantType: aws.String(grantDevice), DeviceCode: da.DeviceCode,
		})
		if err == nil {
			return tokenFrom(out, reg, now), nil
		}
		var pending *oidctypes.AuthorizationPendingException
		var slow *oidctypes.SlowDownException
		switch {
		case errors.As(err, &pending):
		case errors.As(err, &slow):
			interval += 5 * time.Second // RFC 8628: slow_down adds 5 s
		default:
			return nil, tokenError(err)
		}
		if err := f.o.Wait(ctx, interval); err != nil {
			return nil, fmt.Errorf("waiting for the sign-in: %w", err)
		}
	}
}

// tokenError says what a failed CreateToken means for the user.
func tokenError(err error) error {
	var (
		expired *oidctypes.ExpiredTokenException
		denied  *oidctypes.AccessDeniedException
		grant   *oidctypes.InvalidGrantException
	)
	switch {
	case errors.As(err, &expired):
		return errors.New("the sign-in code expired before it was confirmed: run imdsd login again")
	case errors.As(err, &denied):
		return errors.New("the sign-in was denied")
	case errors.As(err, &grant):
		return fmt.Errorf("IAM Identity Center refused the sign-in (invalid grant): run imdsd login again: %w", err)
	}
	return fmt.Errorf("getting the SSO token: %w", err)
}
