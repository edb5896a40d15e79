// Package fakests is an in-process fake of AWS STS for tests and end-to-end
// suites. It speaks the AWS Query protocol (form-encoded POST or query-string
// GET, XML responses) and verifies every SigV4 signature for real, so a test
// that passes against it exercises the same signing and credential plumbing
// that real STS would. It only ever listens on loopback.
//
// Supported STS actions: AssumeRole, GetSessionToken, GetCallerIdentity,
// GetAccessKeyInfo. It serves a sliver of IAM's Query API on the same
// address (iam.go), told apart by the SigV4 signing service: inline role
// policies, enough to revoke a role's older sessions as the console does,
// and a user's access keys.
package fakests

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// FaultMode selects an injected failure (see Fault).
type FaultMode int

const (
	// FaultNone answers normally (Fault.Delay still applies).
	FaultNone FaultMode = iota
	// Fault500 answers 500 InternalFailure.
	Fault500
	// FaultThrottle answers 400 Throttling.
	FaultThrottle
	// FaultHang never answers; the handler blocks until the client gives up
	// (request context done) or the server is closed, then drops the
	// connection.
	FaultHang
	// FaultDown drops the connection without writing a response, which is
	// what a client sees when STS is unreachable mid-flight.
	FaultDown
	// FaultAccessDenied answers 403 AccessDenied.
	FaultAccessDenied
	// FaultExpiredToken answers 403 ExpiredToken.
	FaultExpiredToken
	// FaultInvalidToken answers 403 InvalidClientTokenId, as a service
	// answers a key it does not know (yet: IAM propagates new keys to each
	// service in its own time).
	FaultInvalidToken
)

func (m FaultMode) String() string {
	switch m {
	case FaultNone:
		return "none"
	case Fault500:
		return "500"
	case FaultThrottle:
		return "throttle"
	case FaultHang:
		return "hang"
	case FaultDown:
		return "down"
	case FaultAccessDenied:
		return "accessdenied"
	case FaultExpiredToken:
		return "expiredtoken"
	case FaultInvalidToken:
		return "invalidtoken"
	}
	return fmt.Sprintf("FaultMode(%d)", int(m))
}

// Fault describes failures injected into subsequent calls. Faults are applied
// after the request has been read and recorded but before authentication, so
// they affect every caller alike.
type Fault struct {
	Mode FaultMode
	// Delay is added latency before the call is answered (or before the
	// fault takes effect). Waiting stops early if the client goes away.
	Delay time.Duration
	// Count, if > 0, limits the fault to the next Count calls; after that the
	// server behaves normally again. 0 means every call until SetFault is
	// called again.
	Count int
}

// RoleOptions controls who may assume a role registered with AddRole.
type RoleOptions struct {
	// TrustedPrincipals lists principals allowed to assume the role. Entries
	// are ARNs and may use '*' and '?' wildcards (e.g.
	// "arn:aws:sts::111122223333:assumed-role/ROLE/*"). As in IAM trust
	// policies, "arn:aws:iam::ACCT:root" or a bare 12-digit account id trusts
	// every principal of that account, "*" trusts anyone, and a role ARN
	// ("arn:aws:iam::ACCT:role/ROLE") trusts every session of that role.
	// Empty means any authenticated caller.
	TrustedPrincipals []string
	// ExternalID, if non-empty, must be presented as ExternalId.
	ExternalID string
	// RequireMFA requires the caller to be MFA-authenticated: either its
	// credentials came from an MFA GetSessionToken (or an MFA role session),
	// or the call passes a valid SerialNumber+TokenCode.
	RequireMFA bool
	// MaxSessionDuration bounds DurationSeconds. Default 1h.
	MaxSessionDuration time.Duration
	// IAMActions are the IAM actions sessions of this role may call
	// ("iam:PutRolePolicy", "iam:*"); nothing by default, as IAM denies
	// what no policy allows.
	IAMActions []string
}

// UserOptions are an IAM user's permissions (see AddUserWith).
type UserOptions struct {
	// IAMActions are the IAM actions the user (and its GetSessionToken
	// sessions made with MFA) may call; nothing by default.
	IAMActions []string
}

// Call is one request received by the server, whether or not it succeeded.
type Call struct {
	Action      string
	AccessKeyID string // from the signature's credential scope, even if unknown
	// Caller is the ARN of the authenticated signer; "" when authentication
	// failed or never happened (e.g. an injected fault).
	Caller string
	// Params are the Query parameters (form body and query string) minus
	// SigV4 presigning parameters (X-Amz-*), so no session token lands here.
	Params url.Values
	// Status is the HTTP status sent; 0 means no response was written
	// (FaultHang, FaultDown, or the client went away first).
	Status int
	Time   time.Time
}

// Issued describes credentials the server handed out.
type Issued struct {
	AccessKeyID    string
	RoleArn        string // "" for GetSessionToken credentials
	AssumedRoleArn string // "" for GetSessionToken credentials
	Account        string
	Expires        time.Time
	// SourceAccessKeyID is the access key that signed the issuing request.
	SourceAccessKeyID string
	MFA               bool
	Policy            string
	PolicyArns        []string

	// IssuedAt is when the server issued them (its clock, see SetClock):
	// what aws:TokenIssueTime compares.
	IssuedAt time.Time

	// Additions beyond the original brief, useful for assertions.
	Action      string // "AssumeRole" or "GetSessionToken"
	SessionName string // RoleSessionName; "" for GetSessionToken
	Caller      string // ARN of the principal that requested the credentials
}

type user struct {
	secret  string
	arn     string
	created time.Time
	// usableAt: before it (on the fake's clock) the key is refused with
	// InvalidClientTokenId, as IAM refuses a new key until it propagates.
	usableAt time.Time
}

type role struct {
	arn  string
	opts RoleOptions
	// policies are its inline policies by name, as put (PutRolePolicy).
	policies map[string]inlinePolicy
}

// issuedCred is the server-side record of an issued credential set; the
// secret and token never leave the server except in the issuing response.
type issuedCred struct {
	info   Issued
	secret string
	token  string
	// principal used when these credentials sign a request.
	arn    string
	userID string
	role   bool // role session (AssumeRole) vs GetSessionToken session
}

// Server is a fake STS endpoint. The zero value is not usable; use New.
type Server struct {
	mu        sync.Mutex
	users     map[string]user        // by access key id
	userOpts  map[string]UserOptions // by user ARN
	roles     map[string]role
	mfa       map[string]string
	issued    map[string]*issuedCred
	lifetime  time.Duration
	now       func() time.Time
	fault     Fault
	faultLeft int
	// actionFaults are faults for one action only (SetActionFault).
	actionFaults map[string]*actionFault
	// propagation delays new access keys' first use (SetKeyPropagation).
	propagation time.Duration
	calls       []Call
	logf        func(format string, args ...any)

	srv *http.Server
	url string

	stop      chan struct{} // closed by Close; releases hanging handlers
	closeOnce sync.Once
}

// New returns a server that is not listening yet; call Start, or mount it
// with httptest.NewServer(s).
func New() *Server {
	return &Server{
		users:    make(map[string]user),
		userOpts: make(map[string]UserOptions),
		roles:    make(map[string]role),
		mfa:      make(map[string]string),
		issued:   make(map[string]*issuedCred),
		now:      time.Now,

		actionFaults: make(map[string]*actionFault),
		stop:         make(chan struct{}),
	}
}

// Start listens on 127.0.0.1 on a random port and returns the base URL,
// e.g. "http://127.0.0.1:43121".
func (s *Server) Start() (string, error) {
	return s.StartOn("127.0.0.1:0")
}

// StartOn is Start on a chosen address. Only loopback and IPv4 link-local
// (169.254.0.0/16) addresses are accepted ("localhost" means 127.0.0.1), so
// a fake is never exposed on a network: link-local addresses are never
// routed off their link, and the container tests need one (held on lo,
// like the metadata addresses) that their containers can reach.
func (s *Server) StartOn(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("fakests: bad listen address %q: %w", addr, err)
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	ip := net.ParseIP(host)
	if ip == nil || !(ip.IsLoopback() || ip.To4() != nil && ip.IsLinkLocalUnicast()) {
		return "", fmt.Errorf("fakests: refusing to listen on %q: only loopback or 169.254.x.x addresses", addr)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return "", errors.New("fakests: already started")
	}
	select {
	case <-s.stop:
		return "", errors.New("fakests: server closed")
	default:
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		return "", fmt.Errorf("fakests: listen: %w", err)
	}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	s.url = "http://" + ln.Addr().String()
	go func(srv *http.Server) { _ = srv.Serve(ln) }(s.srv)
	return s.url, nil
}

// URL returns the base URL set by Start ("" if not started by Start).
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.url
}

// Close stops the listener, drops open connections and releases hanging
// handlers. Safe to call more than once, and on a server mounted in httptest.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.stop) })
	s.mu.Lock()
	srv := s.srv
	s.mu.Unlock()
	if srv != nil {
		// Close, not Shutdown: hanging handlers must not hold up teardown.
		_ = srv.Close()
	}
}

// AddUser registers long-term IAM user keys, e.g. arn:aws:iam::111122223333:user/alice.
// The user's options (AddUserWith) are left as they are.
func (s *Server) AddUser(accessKeyID, secret, arn string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[accessKeyID] = user{secret: secret, arn: arn, created: s.now()}
}

// AddUserWith is AddUser that also sets the user's options (replacing
// earlier ones), e.g. to grant it IAM actions.
func (s *Server) AddUserWith(accessKeyID, secret, arn string, opts UserOptions) {
	opts.IAMActions = append([]string(nil), opts.IAMActions...)
	s.AddUser(accessKeyID, secret, arn)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.userOpts[arn] = opts
}

// AddRole registers (or replaces) an assumable role.
func (s *Server) AddRole(roleArn string, opts RoleOptions) {
	opts.TrustedPrincipals = append([]string(nil), opts.TrustedPrincipals...)
	opts.IAMActions = append([]string(nil), opts.IAMActions...)
	if opts.MaxSessionDuration <= 0 {
		opts.MaxSessionDuration = time.Hour
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.roles[roleArn] = role{arn: roleArn, opts: opts, policies: map[string]inlinePolicy{}}
}

// SetMFA makes code the valid one-time code for the MFA device serial.
func (s *Server) SetMFA(serial, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mfa[serial] = code
}

// SetCredentialLifetime forces credentials issued from now on to expire d
// after issue, regardless of DurationSeconds (which is still validated).
// 0 restores honouring the request.
func (s *Server) SetCredentialLifetime(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lifetime = d
}

// SetClock replaces the clock used to stamp and expire issued credentials
// (nil restores time.Now). The SigV4 clock-skew check always uses the real
// clock, because clients sign with the real clock.
func (s *Server) SetClock(now func() time.Time) {
	if now == nil {
		now = time.Now
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// SetLogf installs a logger for one line per call (action, access key id,
// caller, status — never secrets or tokens). nil disables logging.
func (s *Server) SetLogf(logf func(format string, args ...any)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logf = logf
}

// SetFault injects f into subsequent calls; SetFault(Fault{}) clears it.
func (s *Server) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
	s.faultLeft = f.Count
}

// SetActionFault injects f into subsequent calls of one action only (e.g.
// "DeleteAccessKey"), so a test can fail one step of a sequence; a zero
// Fault clears it. A fault set by SetFault applies as well.
func (s *Server) SetActionFault(action string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Mode == FaultNone && f.Delay == 0 {
		delete(s.actionFaults, action)
		return
	}
	s.actionFaults[action] = &actionFault{f: f, left: f.Count}
}

// SetKeyPropagation makes access keys created by CreateAccessKey from now
// on unusable for d after their creation on the fake's clock (SetClock):
// until then they get InvalidClientTokenId, as a new IAM key does until
// it has propagated. 0 (the default) makes them usable at once.
func (s *Server) SetKeyPropagation(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.propagation = d
}

// Calls returns a copy of every call received, in arrival order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Call, len(s.calls))
	for i, c := range s.calls {
		c.Params = cloneValues(c.Params)
		out[i] = c
	}
	return out
}

// CallCount counts calls of action ("" counts all), including rejected ones.
func (s *Server) CallCount(action string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if action == "" {
		return len(s.calls)
	}
	n := 0
	for _, c := range s.calls {
		if c.Action == action {
			n++
		}
	}
	return n
}

// Issued reports what the server issued under accessKeyID.
func (s *Server) Issued(accessKeyID string) (Issued, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ic, ok := s.issued[accessKeyID]
	if !ok {
		return Issued{}, false
	}
	out := ic.info
	out.PolicyArns = append([]string(nil), out.PolicyArns...)
	return out, true
}
