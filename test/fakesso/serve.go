package fakesso

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// apiError is an error as the REST-JSON protocol carries it: the SDK takes
// the exception type from X-Amzn-Errortype (and __type), and OIDC errors
// also carry the OAuth error code.
type apiError struct {
	status int
	typ    string
	code   string // OAuth error code (OIDC only)
	msg    string
}

func oidcErr(typ, code, msg string) *apiError {
	st := http.StatusBadRequest
	if typ == "InvalidClientException" {
		st = http.StatusUnauthorized
	}
	return &apiError{st, typ, code, msg}
}

// errByCode maps the OAuth codes FailCreateToken takes to exceptions.
var errByCode = map[string]string{
	"authorization_pending":  "AuthorizationPendingException",
	"slow_down":              "SlowDownException",
	"expired_token":          "ExpiredTokenException",
	"invalid_grant":          "InvalidGrantException",
	"access_denied":          "AccessDeniedException",
	"invalid_client":         "InvalidClientException",
	"invalid_request":        "InvalidRequestException",
	"unsupported_grant_type": "UnsupportedGrantTypeException",
	"invalid_scope":          "InvalidScopeException",
}

func oauth(code, msg string) *apiError { return oidcErr(errByCode[code], code, msg) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

func writeErr(w http.ResponseWriter, e *apiError) {
	w.Header().Set("X-Amzn-Errortype", e.typ)
	body := map[string]string{"__type": e.typ, "message": e.msg}
	if e.code != "" {
		body = map[string]string{"__type": e.typ, "error": e.code, "error_description": e.msg}
	}
	writeJSON(w, e.status, body)
}

// ServeHTTP routes by method and path, as the SDK's operations are bound.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	type route struct {
		action string
		fn     func(*http.Request) (any, *apiError)
	}
	routes := map[string]route{
		"POST /client/register":       {"RegisterClient", s.registerClient},
		"POST /device_authorization":  {"StartDeviceAuthorization", s.startDevice},
		"POST /token":                 {"CreateToken", s.createToken},
		"GET /federation/credentials": {"GetRoleCredentials", s.getRoleCredentials},
		"GET /assignment/accounts":    {"ListAccounts", s.listAccounts},
		"GET /assignment/roles":       {"ListAccountRoles", s.listAccountRoles},
		"POST /logout":                {"Logout", s.logout},
	}
	if r.Method == http.MethodGet && r.URL.Path == "/authorize" {
		s.count("Authorize")
		s.authorize(w, r)
		return
	}
	rt, ok := routes[r.Method+" "+r.URL.Path]
	if !ok {
		writeErr(w, &apiError{http.StatusNotFound, "UnknownOperationException", "", "no such operation"})
		return
	}
	s.count(rt.action)
	out, e := rt.fn(r)
	if e != nil {
		writeErr(w, e)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) count(action string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[action]++
}

func decode(r *http.Request, v any) *apiError {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || json.Unmarshal(body, v) != nil {
		return oauth("invalid_request", "the body is not the expected JSON")
	}
	return nil
}

func (s *Server) registerClient(r *http.Request) (any, *apiError) {
	var in struct {
		ClientName   string   `json:"clientName"`
		ClientType   string   `json:"clientType"`
		Scopes       []string `json:"scopes"`
		GrantTypes   []string `json:"grantTypes"`
		RedirectURIs []string `json:"redirectUris"`
		IssuerURL    string   `json:"issuerUrl"`
	}
	if e := decode(r, &in); e != nil {
		return nil, e
	}
	if in.ClientName == "" || in.ClientType != "public" {
		return nil, oidcErr("InvalidClientMetadataException", "invalid_client_metadata", "clientName and clientType public are required")
	}
	if slices.Contains(in.GrantTypes, GrantAuthCode) && len(in.RedirectURIs) == 0 {
		return nil, oidcErr("InvalidRedirectUriException", "invalid_redirect_uri", "authorization_code needs redirectUris")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	c := &client{
		id: randID("client-", 8), secret: randID("secret-", 16),
		scopes: in.Scopes, grantTypes: in.GrantTypes, redirectURIs: in.RedirectURIs,
		expires: now.Add(90 * 24 * time.Hour),
	}
	s.clients[c.id] = c
	return map[string]any{
		"clientId": c.id, "clientSecret": c.secret,
		"clientIdIssuedAt": now.Unix(), "clientSecretExpiresAt": c.expires.Unix(),
		"authorizationEndpoint": s.url + "/authorize", "tokenEndpoint": s.url + "/token",
	}, nil
}

// clientFor checks a client id and secret; s.mu held.
func (s *Server) clientFor(id, secret string) (*client, *apiError) {
	c, ok := s.clients[id]
	if !ok || c.secret != secret {
		return nil, oauth("invalid_client", "unknown client or wrong secret")
	}
	if !s.now().Before(c.expires) {
		return nil, oauth("invalid_client", "the client registration expired")
	}
	return c, nil
}

func (s *Server) startDevice(r *http.Request) (any, *apiError) {
	var in struct {
		ClientID     string `json:"clientId"`
		ClientSecret string `json:"clientSecret"`
		StartURL     string `json:"startUrl"`
	}
	if e := decode(r, &in); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, e := s.clientFor(in.ClientID, in.ClientSecret); e != nil {
		return nil, e
	}
	if in.StartURL == "" {
		return nil, oauth("invalid_request", "startUrl is required")
	}
	code := randID("device-", 16)
	user := strings.ToUpper(randID("", 2) + "-" + randID("", 2))
	s.devices[code] = &device{clientID: in.ClientID, userCode: user, expires: s.now().Add(s.devTTL)}
	verify := s.url + "/device"
	return map[string]any{
		"deviceCode": code, "userCode": user, "expiresIn": int(s.devTTL / time.Second), "interval": 1,
		"verificationUri": verify, "verificationUriComplete": verify + "?user_code=" + user,
	}, nil
}

func (s *Server) createToken(r *http.Request) (any, *apiError) {
	var in struct {
		ClientID     string `json:"clientId"`
		ClientSecret string `json:"clientSecret"`
		GrantType    string `json:"grantType"`
		DeviceCode   string `json:"deviceCode"`
		Code         string `json:"code"`
		CodeVerifier string `json:"codeVerifier"`
		RedirectURI  string `json:"redirectUri"`
		RefreshToken string `json:"refreshToken"`
	}
	if e := decode(r, &in); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.faults) > 0 {
		code := s.faults[0]
		s.faults = s.faults[1:]
		return nil, oauth(code, "injected")
	}
	c, e := s.clientFor(in.ClientID, in.ClientSecret)
	if e != nil {
		return nil, e
	}
	if len(c.grantTypes) > 0 && !slices.Contains(c.grantTypes, in.GrantType) {
		return nil, oidcErr("UnauthorizedClientException", "unauthorized_client", "the client did not register this grant type")
	}
	switch in.GrantType {
	case GrantDeviceCode:
		d, ok := s.devices[in.DeviceCode]
		switch {
		case !ok || d.clientID != c.id || d.used:
			return nil, oauth("invalid_grant", "unknown device code")
		case !s.now().Before(d.expires):
			return nil, oauth("expired_token", "the device code expired")
		case d.decision == Deny:
			d.used = true
			return nil, oauth("access_denied", "the user denied the request")
		case d.decision == Pending:
			return nil, oauth("authorization_pending", "the user has not approved yet")
		}
		d.used = true
		return s.issueToken(c, c.scopes), nil
	case GrantAuthCode:
		a, ok := s.codes[in.Code]
		if !ok || a.used || a.clientID != c.id || a.redirectURI != in.RedirectURI {
			return nil, oauth("invalid_grant", "unknown or used code, or another redirect_uri")
		}
		a.used = true // one attempt per code, as OAuth requires
		sum := sha256.Sum256([]byte(in.CodeVerifier))
		if in.CodeVerifier == "" || base64.RawURLEncoding.EncodeToString(sum[:]) != a.challenge {
			return nil, oauth("invalid_grant", "code_verifier does not match the code_challenge")
		}
		return s.issueToken(c, a.scopes), nil
	case GrantRefreshToken:
		g, ok := s.refresh[in.RefreshToken]
		if !ok || g.clientID != c.id {
			return nil, oauth("invalid_grant", "unknown refresh token")
		}
		delete(s.refresh, in.RefreshToken) // rotated: each is good once
		return s.issueToken(c, g.scopes), nil
	}
	return nil, oauth("unsupported_grant_type", "grant type "+in.GrantType)
}

// issueToken mints an access token, and a refresh token only when the
// client registered the scope that earns one; s.mu held.
func (s *Server) issueToken(c *client, scopes []string) map[string]any {
	at := randID("at-", 24)
	s.access[at] = &grant{clientID: c.id, scopes: scopes, expires: s.now().Add(s.tokenTTL)}
	out := map[string]any{"accessToken": at, "tokenType": "Bearer", "expiresIn": int(s.tokenTTL / time.Second)}
	if slices.Contains(c.scopes, RefreshScope) {
		rt := randID("rt-", 24)
		s.refresh[rt] = &grant{clientID: c.id, scopes: scopes}
		out["refreshToken"] = rt
	}
	return out
}

// authorize is the browser's step of the PKCE flow: with the user's
// decision it redirects to the client's loopback redirect_uri.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[q.Get("client_id")]
	redir, err := url.Parse(q.Get("redirect_uri"))
	if !ok || err != nil || !s.redirectAllowed(c, redir) {
		// Never redirect to an address the client did not register.
		http.Error(w, "invalid client_id or redirect_uri", http.StatusBadRequest)
		return
	}
	back := redir.Query()
	back.Set("state", q.Get("state"))
	switch {
	case q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "":
		back.Set("error", "invalid_request")
	case s.browser == Pending:
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "<html><body>Sign in to continue.</body></html>")
		return
	case s.browser == Deny:
		back.Set("error", "access_denied")
	default:
		code := randID("code-", 16)
		scopes := strings.Fields(strings.ReplaceAll(q.Get("scopes"), ",", " "))
		s.codes[code] = &authCode{clientID: c.id, redirectURI: redir.String(), challenge: q.Get("code_challenge"), scopes: scopes}
		back.Set("code", code)
	}
	redir.RawQuery = back.Encode()
	http.Redirect(w, r, redir.String(), http.StatusFound)
}

// redirectAllowed: a registered redirect URI, on loopback; the port may
// differ, as RFC 8252 allows native apps; s.mu held.
func (s *Server) redirectAllowed(c *client, u *url.URL) bool {
	if u.Scheme != "http" || u.RawQuery != "" {
		return false
	}
	if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
		return false
	}
	for _, reg := range c.redirectURIs {
		ru, err := url.Parse(reg)
		if err == nil && ru.Hostname() == u.Hostname() && ru.Path == u.Path {
			return true
		}
	}
	return false
}

// bearer checks the portal's bearer token; s.mu held.
func (s *Server) bearer(r *http.Request) (*grant, *apiError) {
	g, ok := s.access[r.Header.Get("X-Amz-Sso_bearer_token")]
	if !ok || !s.now().Before(g.expires) {
		return nil, &apiError{http.StatusUnauthorized, "UnauthorizedException", "", "Session token not found or invalid"}
	}
	return g, nil
}

func (s *Server) getRoleCredentials(r *http.Request) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, e := s.bearer(r); e != nil {
		return nil, e
	}
	acct, role := r.URL.Query().Get("account_id"), r.URL.Query().Get("role_name")
	if !slices.Contains(s.roles[acct], role) {
		return nil, &apiError{http.StatusForbidden, "ForbiddenException", "", "No access"}
	}
	c := Credentials{
		AccountID: acct, RoleName: role,
		AccessKeyID: "ASIA" + strings.ToUpper(randID("", 8)), SecretAccessKey: randID("", 20), SessionToken: randID("st-", 32),
		Expires: s.now().Add(s.credTTL).Truncate(time.Millisecond),
	}
	s.creds[c.AccessKeyID] = c
	return map[string]any{"roleCredentials": map[string]any{
		"accessKeyId": c.AccessKeyID, "secretAccessKey": c.SecretAccessKey, "sessionToken": c.SessionToken,
		"expiration": c.Expires.UnixMilli(), // epoch milliseconds on this API
	}}, nil
}

func (s *Server) listAccounts(r *http.Request) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, e := s.bearer(r); e != nil {
		return nil, e
	}
	list := []map[string]string{}
	for _, a := range s.accounts {
		list = append(list, map[string]string{"accountId": a, "accountName": "account-" + a, "emailAddress": "aws+" + a + "@example.com"})
	}
	return map[string]any{"accountList": list}, nil
}

func (s *Server) listAccountRoles(r *http.Request) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, e := s.bearer(r); e != nil {
		return nil, e
	}
	acct := r.URL.Query().Get("account_id")
	if _, err := strconv.ParseUint(acct, 10, 64); err != nil {
		return nil, &apiError{http.StatusBadRequest, "InvalidRequestException", "", "account_id is required"}
	}
	list := []map[string]string{}
	for _, role := range s.roles[acct] {
		list = append(list, map[string]string{"accountId": acct, "roleName": role})
	}
	return map[string]any{"roleList": list}, nil
}

func (s *Server) logout(r *http.Request) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, e := s.bearer(r); e != nil {
		return nil, e
	}
	delete(s.access, r.Header.Get("X-Amz-Sso_bearer_token"))
	return nil, nil
}
