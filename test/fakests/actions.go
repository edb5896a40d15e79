package fakests

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

const (
	stsNamespace = "https://sts.amazonaws.com/doc/2011-06-15/"
	apiVersion   = "2011-06-15"

	minDuration         = 900
	maxAssumeRoleParam  = 43200  // AssumeRole DurationSeconds API limit
	maxSessionTokenDur  = 129600 // GetSessionToken limit for IAM users
	defaultSessionToken = 43200
	chainedSessionLimit = 3600 // AWS caps role-chained sessions at 1h
	maxPolicyLength     = 2048
	maxPolicyArns       = 10
)

// principal is an authenticated signer.
type principal struct {
	arn         string
	userID      string
	account     string
	accessKeyID string
	session     bool // signed with issued (temporary) credentials
	roleSession bool // ... from AssumeRole, i.e. further AssumeRole is chaining
	roleArn     string
	mfa         bool
	expires     time.Time
	issuedAt    time.Time // of session credentials
}

// apiError is an STS error response.
type apiError struct {
	status  int
	code    string
	message string
}

func errIncomplete(msg string) *apiError {
	return &apiError{http.StatusBadRequest, "IncompleteSignature", msg}
}

func errSignature(msg string) *apiError {
	return &apiError{http.StatusForbidden, "SignatureDoesNotMatch", msg}
}

func errInvalidToken() *apiError {
	return &apiError{http.StatusForbidden, "InvalidClientTokenId", "The security token included in the request is invalid."}
}

func errExpiredToken() *apiError {
	return &apiError{http.StatusForbidden, "ExpiredToken", "The security token included in the request is expired"}
}

func errInternal() *apiError {
	return &apiError{http.StatusInternalServerError, "InternalFailure", "An internal error occurred."}
}

func errValidation(msg string) *apiError {
	return &apiError{http.StatusBadRequest, "ValidationError", msg}
}

func errNotAuthorized(caller, action, resource string) *apiError {
	return &apiError{http.StatusForbidden, "AccessDenied",
		fmt.Sprintf("User: %s is not authorized to perform: sts:%s on resource: %s", caller, action, resource)}
}

func (s *Server) dispatch(reqID string, p *principal, params map[string][]string) (any, *apiError) {
	get := func(k string) string {
		if v := params[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	action := get("Action")
	if v := get("Version"); v != "" && v != apiVersion {
		return nil, &apiError{http.StatusBadRequest, "InvalidAction",
			fmt.Sprintf("Could not find operation %s for version %s", action, v)}
	}
	// A revoked session may still ask who it is, as in AWS; nothing else.
	if action != "GetCallerIdentity" && action != "" {
		resource := "*"
		if action == "AssumeRole" {
			resource = get("RoleArn")
		}
		if aerr := s.explicitDeny(p, "sts:"+action, resource); aerr != nil {
			return nil, aerr
		}
	}
	switch action {
	case "":
		return nil, &apiError{http.StatusBadRequest, "MissingAction", "Missing Action"}
	case "AssumeRole":
		return s.assumeRole(reqID, p, params, get)
	case "GetSessionToken":
		return s.getSessionToken(reqID, p, get)
	case "GetCallerIdentity":
		return getCallerIdentity(reqID, p), nil
	case "GetAccessKeyInfo":
		return s.getAccessKeyInfo(reqID, get("AccessKeyId"))
	}
	return nil, &apiError{http.StatusBadRequest, "InvalidAction",
		fmt.Sprintf("Could not find operation %s for version %s", action, apiVersion)}
}

var sessionNameRE = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)

func (s *Server) assumeRole(reqID string, p *principal, params map[string][]string, get func(string) string) (any, *apiError) {
	roleArn := get("RoleArn")
	sessionName := get("RoleSessionName")
	externalID := get("ExternalId")
	serial, code := get("SerialNumber"), get("TokenCode")
	policy := get("Policy")

	// Syntactic validation first, as AWS does, before any authorization.
	if roleArn == "" {
		return nil, errValidation("1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null")
	}
	if len(roleArn) < 20 || len(roleArn) > 2048 {
		return nil, errValidation(fmt.Sprintf("1 validation error detected: Value '%s' at 'roleArn' failed to satisfy constraint: Member must have length between 20 and 2048", roleArn))
	}
	if sessionName == "" {
		return nil, errValidation("1 validation error detected: Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null")
	}
	if !sessionNameRE.MatchString(sessionName) {
		return nil, errValidation(fmt.Sprintf("1 validation error detected: Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]* and have length between 2 and 64", sessionName))
	}
	duration, hasDuration, aerr := durationParam(get("DurationSeconds"), maxAssumeRoleParam)
	if aerr != nil {
		return nil, aerr
	}
	if externalID != "" && (len(externalID) < 2 || len(externalID) > 1224) {
		return nil, errValidation("1 validation error detected: Value at 'externalId' failed to satisfy constraint: Member must have length between 2 and 1224")
	}
	policyArns, aerr := policyArnsParam(params)
	if aerr != nil {
		return nil, aerr
	}
	if policy != "" {
		if len(policy) > maxPolicyLength {
			return nil, errValidation(fmt.Sprintf("1 validation error detected: Value at 'policy' failed to satisfy constraint: Member must have length less than or equal to %d", maxPolicyLength))
		}
		if !json.Valid([]byte(policy)) {
			return nil, &apiError{http.StatusBadRequest, "MalformedPolicyDocument", "The policy is not in the valid JSON format."}
		}
	}

	roleName, partition, account, ok := parseRoleArn(roleArn)
	if !ok {
		return nil, errValidation(fmt.Sprintf("%s is invalid", roleArn))
	}

	s.mu.Lock()
	rl, known := s.roles[roleArn]
	wantCode, knownSerial := s.mfa[serial]
	s.mu.Unlock()

	// Unknown roles and untrusted callers look the same, as in AWS.
	if !known || !trusts(rl.opts.TrustedPrincipals, p) {
		return nil, errNotAuthorized(p.arn, "AssumeRole", roleArn)
	}
	if rl.opts.ExternalID != "" && externalID != rl.opts.ExternalID {
		return nil, errNotAuthorized(p.arn, "AssumeRole", roleArn)
	}
	mfa := p.mfa
	if serial != "" || code != "" {
		if serial == "" || code == "" {
			return nil, &apiError{http.StatusForbidden, "AccessDenied", "MultiFactorAuthentication failed, must provide both MFA serial number and one time pass code."}
		}
		if !knownSerial || code != wantCode {
			return nil, &apiError{http.StatusForbidden, "AccessDenied", "MultiFactorAuthentication failed with invalid MFA one time pass code."}
		}
		mfa = true
	}
	if rl.opts.RequireMFA && !mfa {
		return nil, errNotAuthorized(p.arn, "AssumeRole", roleArn)
	}

	maxDur := int(rl.opts.MaxSessionDuration / time.Second)
	if !hasDuration {
		duration = min(3600, maxDur)
	}
	if duration > maxDur {
		return nil, errValidation("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
	}
	if p.roleSession && duration > chainedSessionLimit {
		return nil, errValidation("The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.")
	}

	assumedArn := fmt.Sprintf("arn:%s:sts::%s:assumed-role/%s/%s", partition, account, roleName, sessionName)
	roleID := stableID("AROA", roleArn)
	ic := &issuedCred{
		info: Issued{
			RoleArn:           roleArn,
			AssumedRoleArn:    assumedArn,
			Account:           account,
			SourceAccessKeyID: p.accessKeyID,
			MFA:               mfa,
			Policy:            policy,
			PolicyArns:        policyArns,
			Action:            "AssumeRole",
			SessionName:       sessionName,
			Caller:            p.arn,
		},
		arn:    assumedArn,
		userID: roleID + ":" + sessionName,
		role:   true,
	}
	s.issue(ic, duration)

	resp := &assumeRoleResponse{}
	resp.Result.Credentials = xmlCreds(ic)
	resp.Result.AssumedRoleUser.Arn = assumedArn
	resp.Result.AssumedRoleUser.AssumedRoleID = ic.userID
	resp.Metadata.RequestID = reqID
	return resp, nil
}

func (s *Server) getSessionToken(reqID string, p *principal, get func(string) string) (any, *apiError) {
	duration, hasDuration, aerr := durationParam(get("DurationSeconds"), maxSessionTokenDur)
	if aerr != nil {
		return nil, aerr
	}
	if !hasDuration {
		duration = defaultSessionToken
	}
	if p.session {
		return nil, &apiError{http.StatusForbidden, "AccessDenied", "Cannot call GetSessionToken with session credentials"}
	}
	serial, code := get("SerialNumber"), get("TokenCode")
	mfa := false
	if serial != "" || code != "" {
		if serial == "" || code == "" {
			return nil, &apiError{http.StatusForbidden, "AccessDenied", "MultiFactorAuthentication failed, must provide both MFA serial number and one time pass code."}
		}
		s.mu.Lock()
		want, ok := s.mfa[serial]
		s.mu.Unlock()
		if !ok || code != want {
			return nil, &apiError{http.StatusForbidden, "AccessDenied", "MultiFactorAuthentication failed with invalid MFA one time pass code."}
		}
		mfa = true
	}
	ic := &issuedCred{
		info: Issued{
			Account:           p.account,
			SourceAccessKeyID: p.accessKeyID,
			MFA:               mfa,
			Action:            "GetSessionToken",
			Caller:            p.arn,
		},
		// Session credentials act as the user they were issued to.
		arn:    p.arn,
		userID: p.userID,
	}
	s.issue(ic, duration)

	resp := &getSessionTokenResponse{}
	resp.Result.Credentials = xmlCreds(ic)
	resp.Metadata.RequestID = reqID
	return resp, nil
}

func getCallerIdentity(reqID string, p *principal) any {
	resp := &getCallerIdentityResponse{}
	resp.Result.Arn = p.arn
	resp.Result.UserID = p.userID
	resp.Result.Account = p.account
	resp.Metadata.RequestID = reqID
	return resp
}

// issue fills in keys and expiry and stores the credentials.
func (s *Server) issue(ic *issuedCred, durationSeconds int) {
	ic.secret = randString(secretAlphabet, 40)
	ic.token = "FakeSTSToken/" + base64.StdEncoding.EncodeToString(randBytes(192))

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	ic.info.IssuedAt = now
	if s.lifetime > 0 {
		// Millisecond precision so sub-second soak-test lifetimes survive
		// the trip through the XML timestamp.
		ic.info.Expires = now.Add(s.lifetime).UTC().Truncate(time.Millisecond)
	} else {
		// AWS reports whole seconds; truncate so the client and the
		// server agree exactly on the expiry.
		ic.info.Expires = now.Add(time.Duration(durationSeconds) * time.Second).UTC().Truncate(time.Second)
	}
	for {
		id := "ASIA" + randString(idAlphabet, 16)
		if _, taken := s.issued[id]; taken {
			continue
		}
		if _, taken := s.users[id]; taken {
			continue
		}
		ic.info.AccessKeyID = id
		break
	}
	s.issued[ic.info.AccessKeyID] = ic
}

func durationParam(v string, maxSeconds int) (int, bool, *apiError) {
	if v == "" {
		return 0, false, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, false, errValidation(fmt.Sprintf("1 validation error detected: Value '%s' at 'durationSeconds' failed to satisfy constraint: Member must be a number", v))
	}
	if n < minDuration {
		return 0, false, errValidation(fmt.Sprintf("1 validation error detected: Value '%d' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to %d", n, minDuration))
	}
	if n > maxSeconds {
		return 0, false, errValidation(fmt.Sprintf("1 validation error detected: Value '%d' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to %d", n, maxSeconds))
	}
	return n, true, nil
}

// policyArnsParam collects PolicyArns.member.N.arn in N order.
func policyArnsParam(params map[string][]string) ([]string, *apiError) {
	type member struct {
		n   int
		arn string
	}
	var ms []member
	for k, v := range params {
		rest, ok := strings.CutPrefix(k, "PolicyArns.member.")
		if !ok || len(v) == 0 {
			continue
		}
		num, ok := strings.CutSuffix(rest, ".arn")
		n, err := strconv.Atoi(num)
		if !ok || err != nil || n < 1 {
			continue
		}
		ms = append(ms, member{n, v[0]})
	}
	if len(ms) > maxPolicyArns {
		return nil, errValidation(fmt.Sprintf("1 validation error detected: Value at 'policyArns' failed to satisfy constraint: Member must have length less than or equal to %d", maxPolicyArns))
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].n < ms[j].n })
	var out []string
	for _, m := range ms {
		if len(m.arn) < 20 {
			return nil, errValidation(fmt.Sprintf("1 validation error detected: Value '%s' at 'policyArns.%d.member.arn' failed to satisfy constraint: Member must have length greater than or equal to 20", m.arn, m.n))
		}
		out = append(out, m.arn)
	}
	return out, nil
}
