// Package fakesso is a fake AWS IAM Identity Center on loopback for tests:
// the OIDC API (RegisterClient, StartDeviceAuthorization, CreateToken with
// the device_code, authorization_code with PKCE and refresh_token grants),
// the browser's /authorize step, and the portal API (GetRoleCredentials,
// ListAccounts, ListAccountRoles, Logout). It speaks the REST-JSON wire
// format aws-sdk-go-v2's service/ssooidc and service/sso send, so the SDK's
// own clients and ssocreds provider run against it unchanged. Point them at
// it with AWS_ENDPOINT_URL_SSO_OIDC and AWS_ENDPOINT_URL_SSO (one server
// answers both: their paths do not overlap).
package fakesso

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// Grant types as the OIDC API names them.
const (
	GrantDeviceCode   = "urn:ietf:params:oauth:grant-type:device_code"
	GrantAuthCode     = "authorization_code"
	GrantRefreshToken = "refresh_token"
)

// RefreshScope is the registration scope that earns a refresh token, as in
// the real service.
const RefreshScope = "sso:account:access"

// Decision is what the fake "user" answers in the browser.
type Decision int

const (
	// Pending: /authorize shows a sign-in page and redirects nowhere;
	// device codes stay authorization_pending.
	Pending Decision = iota
	// Approve: /authorize redirects with a code; device codes get tokens.
	Approve
	// Deny: /authorize redirects with error=access_denied; device codes
	// get access_denied.
	Deny
)

// Server is the fake. The zero value is not usable: call New.
type Server struct {
	mu       sync.Mutex
	srv      *http.Server
	url      string
	now      func() time.Time
	tokenTTL time.Duration
	credTTL  time.Duration
	devTTL   time.Duration
	browser  Decision
	clients  map[string]*client     // by client id
	devices  map[string]*device     // by device code
	codes    map[string]*authCode   // by authorization code
	access   map[string]*grant      // by access token
	refresh  map[string]*grant      // by refresh token
	roles    map[string][]string    // account id -> role names
	accounts []string               // account ids in insertion order
	creds    map[string]Credentials // by access key id
	calls    map[string]int         // by action
	faults   []string               // queued CreateToken error codes
}

type client struct {
	id, secret   string
	scopes       []string
	grantTypes   []string
	redirectURIs []string
	expires      time.Time
}

type device struct {
	clientID, userCode string
	expires            time.Time
	decision           Decision
	used               bool
}

type authCode struct {
	clientID, redirectURI, challenge string
	scopes                           []string
	used                             bool
}

type grant struct {
	clientID string
	scopes   []string
	expires  time.Time
}

// Credentials are role credentials the portal issued.
type Credentials struct {
	AccountID, RoleName                        string
	AccessKeyID, SecretAccessKey, SessionToken string
	Expires                                    time.Time
}

// New returns a fake that is not listening yet: call Start. Access tokens
// live 1 h, role credentials 1 h, device codes 10 min unless set otherwise.
func New() *Server {
	return &Server{
		now:      time.Now,
		tokenTTL: time.Hour,
		credTTL:  time.Hour,
		devTTL:   10 * time.Minute,
		clients:  map[string]*client{},
		devices:  map[string]*device{},
		codes:    map[string]*authCode{},
		access:   map[string]*grant{},
		refresh:  map[string]*grant{},
		roles:    map[string][]string{},
		creds:    map[string]Credentials{},
		calls:    map[string]int{},
	}
}

// Start listens on a random 127.0.0.1 port (loopback only, so the fake is
// never reachable off the machine) and returns the base URL.
func (s *Server) Start() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return "", errors.New("fakesso: already started")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("fakesso: listen: %w", err)
	}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	s.url = "http://" + ln.Addr().String()
	go func(srv *http.Server) { _ = srv.Serve(ln) }(s.srv)
	return s.url, nil
}

// URL is the base URL Start returned.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.url
}

// Close stops the server. Safe to call more than once.
func (s *Server) Close() {
	s.mu.Lock()
	srv := s.srv
	s.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// SetClock replaces time.Now for every expiry the fake decides.
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// SetTokenTTL sets the life of access tokens issued from now on.
func (s *Server) SetTokenTTL(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokenTTL = d
}

// SetCredentialTTL sets the life of role credentials issued from now on.
func (s *Server) SetCredentialTTL(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.credTTL = d
}

// SetDeviceTTL sets the life of device codes issued from now on.
func (s *Server) SetDeviceTTL(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.devTTL = d
}

// AddRole assigns a role of an account to the signed-in user.
func (s *Server) AddRole(accountID, roleName string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.roles[accountID]; !ok {
		s.accounts = append(s.accounts, accountID)
	}
	s.roles[accountID] = append(s.roles[accountID], roleName)
}

// SetBrowser sets what the user answers on /authorize from now on.
func (s *Server) SetBrowser(d Decision) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.browser = d
}

// DecideDevice is the user entering a user code and answering: it reports
// whether the code belongs to a live device authorization.
func (s *Server) DecideDevice(userCode string, d Decision) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, dev := range s.devices {
		if dev.userCode == userCode && !dev.used {
			dev.decision = d
			return true
		}
	}
	return false
}

// PendingUserCodes lists the user codes of device authorizations nobody
// has answered yet, so a test can approve the one its login started.
func (s *Server) PendingUserCodes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, dev := range s.devices {
		if dev.decision == Pending && !dev.used {
			out = append(out, dev.userCode)
		}
	}
	return out
}

// FailCreateToken queues an error for the next CreateToken calls, one per
// call, by its OAuth code: "slow_down", "authorization_pending",
// "expired_token", "invalid_grant", "access_denied", ...
func (s *Server) FailCreateToken(codes ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, codes...)
}

// Calls returns how many times an action was called ("RegisterClient",
// "StartDeviceAuthorization", "CreateToken", "Authorize",
// "GetRoleCredentials", "ListAccounts", "ListAccountRoles", "Logout").
func (s *Server) Calls(action string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[action]
}

// Issued looks up role credentials the portal handed out.
func (s *Server) Issued(accessKeyID string) (Credentials, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.creds[accessKeyID]
	return c, ok
}

// TokenValid says whether an access token would be accepted now.
func (s *Server) TokenValid(accessToken string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.access[accessToken]
	return ok && s.now().Before(g.expires)
}

func randID(prefix string, n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// EndSessions ends every sign-in, as IAM Identity Center does when the
// session's duration runs out or an administrator revokes it: its access
// tokens and refresh tokens stop working (a refresh gets invalid_grant).
func (s *Server) EndSessions() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.access = map[string]*grant{}
	s.refresh = map[string]*grant{}
}
