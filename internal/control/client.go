package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"syscall"
	"time"

	"github.com/imdsd/imdsd/config"
	"github.com/imdsd/imdsd/internal/audit"
)

// Client talks to a running daemon over its control socket.
type Client struct {
	Socket string
	hc     *http.Client
	// hold has no overall timeout: an exec request lasts as long as its
	// command.
	hold *http.Client
}

// SocketFor finds the socket the CLI should use: $IMDSD_SOCKET, else
// the control_socket of the config file (configPath, or the default one),
// else the default path.
func SocketFor(configPath string) string {
	if s := os.Getenv("IMDSD_SOCKET"); s != "" {
		return s
	}
	if cfg, err := config.Load(configPath); err == nil && cfg.ControlSocket != "" {
		return cfg.ControlSocket
	}
	return config.DefaultControlSocket()
}

// NewClient returns a client for the socket at path.
func NewClient(path string) *Client {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "unix", path)
		if err != nil {
			return nil, err
		}
		// Nothing is sent (an MFA code, a request for credentials)
		// before the kernel says who listens: a socket planted by
		// another user must get nothing and be believed in nothing.
		if uid, err := peerUID(c); err != nil || (uid >= 0 && !trustedUID(uid)) {
			c.Close()
			if err != nil {
				return nil, fmt.Errorf("cannot tell who serves %s: %w", path, err)
			}
			return nil, &untrustedServerError{path: path, uid: uid}
		}
		return c, nil
	}}
	return &Client{Socket: path, hc: &http.Client{Timeout: 30 * time.Second, Transport: tr}, hold: &http.Client{Transport: tr}}
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	resp, err := c.send(ctx, c.hc, method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// Exec asks the daemon to serve profile for a command; the profile stays
// served until hold is closed (or this process ends).
func (c *Client) Exec(ctx context.Context, profile string) (s ExecSession, hold io.Closer, err error) {
	resp, err := c.send(ctx, c.hold, http.MethodPost, "/v1/exec", map[string]string{"profile": profile})
	if err != nil {
		return ExecSession{}, nil, err
	}
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		resp.Body.Close()
		return ExecSession{}, nil, fmt.Errorf("reading imdsd's answer: %w", err)
	}
	return s, resp.Body, nil
}

// send makes one request; a non-200 answer becomes its error.
func (c *Client) send(ctx context.Context, hc *http.Client, method, path string, in any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://imdsd"+path, body)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, &NotRunningError{Socket: c.Socket}
		}
		var ue *untrustedServerError
		if errors.As(err, &ue) {
			return nil, ue
		}
		if errors.Is(err, syscall.EACCES) {
			return nil, fmt.Errorf("cannot open %s: the control socket belongs to the user the daemon runs as; run this command as that user", c.Socket)
		}
		return nil, fmt.Errorf("talking to imdsd at %s: %w", c.Socket, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		var e apiError
		if json.NewDecoder(resp.Body).Decode(&e) == nil && e.Error != "" {
			return nil, errors.New(e.Error)
		}
		return nil, fmt.Errorf("imdsd answered %s", resp.Status)
	}
	return resp, nil
}

// Status fetches the daemon's status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var s Status
	return s, c.do(ctx, http.MethodGet, "/v1/status", nil, &s)
}

// Reload asks the daemon to re-read its files.
func (c *Client) Reload(ctx context.Context) (Status, error) {
	var s Status
	return s, c.do(ctx, http.MethodPost, "/v1/reload", nil, &s)
}

// Refresh has every profile fetch new credentials now and returns each
// outcome.
func (c *Client) Refresh(ctx context.Context) ([]ProfileRefresh, error) {
	var out []ProfileRefresh
	return out, c.do(ctx, http.MethodPost, "/v1/refresh", nil, &out)
}

// Lock drops every credential and stops serving.
func (c *Client) Lock(ctx context.Context) (Status, error) {
	var s Status
	return s, c.do(ctx, http.MethodPost, "/v1/lock", nil, &s)
}

// LockRevoke locks, then revokes at AWS the sessions of the roles that
// were served; each role's outcome is in the results.
func (c *Client) LockRevoke(ctx context.Context) ([]RevokeResult, error) {
	var out []RevokeResult
	return out, c.do(ctx, http.MethodPost, "/v1/lock", map[string]bool{"revoke": true}, &out)
}

// Revoke invalidates at AWS the sessions of profile's role issued until
// now, and has the daemon serve new credentials.
func (c *Client) Revoke(ctx context.Context, profile string) (RevokeResult, error) {
	var r RevokeResult
	return r, c.do(ctx, http.MethodPost, "/v1/revoke", map[string]string{"profile": profile}, &r)
}

// Unlock serves again.
func (c *Client) Unlock(ctx context.Context) (Status, error) {
	return c.UnlockWith(ctx, "")
}

// UnlockWith serves again and gives the daemon the file keyring's
// passphrase ("" = none).
func (c *Client) UnlockWith(ctx context.Context, passphrase string) (Status, error) {
	var s Status
	var in any
	if passphrase != "" {
		in = map[string]string{"passphrase": passphrase}
	}
	return s, c.do(ctx, http.MethodPost, "/v1/unlock", in, &s)
}

// Use switches (and persists) the profile IMDS serves.
func (c *Client) Use(ctx context.Context, profile string) (Status, error) {
	var s Status
	return s, c.do(ctx, http.MethodPost, "/v1/use", map[string]string{"profile": profile}, &s)
}

// MFA starts an MFA session with a code.
func (c *Client) MFA(ctx context.Context, profile, code string) (MFAResult, error) {
	var r MFAResult
	return r, c.do(ctx, http.MethodPost, "/v1/mfa", map[string]string{"profile": profile, "code": code}, &r)
}

// Creds returns credentials in the credential_process format.
func (c *Client) Creds(ctx context.Context, profile string) (CredentialProcessOutput, error) {
	var o CredentialProcessOutput
	return o, c.do(ctx, http.MethodGet, "/v1/creds?profile="+url.QueryEscape(profile), nil, &o)
}

// Sessions summarises recent consumers per profile.
func (c *Client) Sessions(ctx context.Context) ([]audit.Consumer, error) {
	var s []audit.Consumer
	return s, c.do(ctx, http.MethodGet, "/v1/sessions", nil, &s)
}

// untrustedServerError: the control socket is served by another user.
type untrustedServerError struct {
	path string
	uid  int
}

// NotRunningError: nothing answers at the control socket.
type NotRunningError struct{ Socket string }

func (e *NotRunningError) Error() string {
	return fmt.Sprintf("imdsd is not running (nothing answers at %s): start it with `imdsd serve`, or `imdsd service start` if it is installed as a service", e.Socket)
}

func (e *untrustedServerError) Error() string {
	return fmt.Sprintf("refusing to talk to %s: it is served by uid %d, not by you (uid %d) or root, so it is not your imdsd; nothing was sent. Remove it if it is stale, or check IMDSD_SOCKET and control_socket", e.path, e.uid, os.Geteuid())
}
