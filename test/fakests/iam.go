package fakests

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// The IAM side of the fake: what the SDK's IAM client posts (Query API,
// Version 2010-05-08, signed for service "iam") to the same address.
// Inline role policies are evaluated for one thing only, the console's
// "Revoke active sessions": Deny statements conditioned on
// aws:TokenIssueTime (explicitDeny). Allows come from RoleOptions and
// UserOptions IAMActions, not from policies.

const (
	iamNamespace  = "https://iam.amazonaws.com/doc/2010-05-08/"
	iamAPIVersion = "2010-05-08"
	// maxAccessKeys is IAM's quota of access keys per user.
	maxAccessKeys = 2
	// RevokePolicyName is the inline policy the IAM console puts on a role
	// to revoke its older sessions.
	RevokePolicyName = "AWSRevokeOlderSessions"
)

func namespaceFor(service string) string {
	if service == iamServiceName {
		return iamNamespace
	}
	return stsNamespace
}

// inlinePolicy is a put policy document and the deny rules it holds.
type inlinePolicy struct {
	document string
	denies   []denyRule
}

// denyRule denies actions matching any of actions to sessions issued
// before issuedBefore (a Deny with DateLessThan aws:TokenIssueTime).
type denyRule struct {
	actions      []string
	issuedBefore time.Time
}

// parsePolicy checks a document is a policy and extracts its session
// deny rules; statements with other conditions are kept but not enforced.
func parsePolicy(doc string) (inlinePolicy, *apiError) {
	malformed := func(msg string) *apiError {
		return &apiError{http.StatusBadRequest, "MalformedPolicyDocument", msg}
	}
	var raw struct {
		Version   string
		Statement json.RawMessage
	}
	if err := json.Unmarshal([]byte(doc), &raw); err != nil {
		return inlinePolicy{}, malformed("Syntax errors in policy.")
	}
	if raw.Version != "2012-10-17" && raw.Version != "2008-10-17" {
		return inlinePolicy{}, malformed("The policy must contain a valid version string")
	}
	type statement struct {
		Effect    string
		Action    stringList
		Resource  stringList
		Condition map[string]map[string]stringList
	}
	var sts []statement
	if err := json.Unmarshal(raw.Statement, &sts); err != nil {
		var one statement
		if err := json.Unmarshal(raw.Statement, &one); err != nil {
			return inlinePolicy{}, malformed("Syntax errors in policy.")
		}
		sts = []statement{one}
	}
	p := inlinePolicy{document: doc}
	for _, st := range sts {
		if st.Effect != "Allow" && st.Effect != "Deny" {
			return inlinePolicy{}, malformed("Policy statement must contain a valid Effect")
		}
		if len(st.Action) == 0 {
			return inlinePolicy{}, malformed("Policy statement must contain actions.")
		}
		if st.Effect != "Deny" || !slices.Contains(st.Resource, "*") || len(st.Condition) != 1 {
			continue
		}
		times := st.Condition["DateLessThan"]["aws:TokenIssueTime"]
		if len(st.Condition["DateLessThan"]) != 1 || len(times) != 1 {
			continue
		}
		t, err := time.Parse(time.RFC3339, times[0])
		if err != nil {
			return inlinePolicy{}, malformed("Invalid date for aws:TokenIssueTime: " + times[0])
		}
		p.denies = append(p.denies, denyRule{actions: st.Action, issuedBefore: t})
	}
	return p, nil
}

// stringList is a policy field that is one string or a list of them.
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*l = stringList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*l = many
	return nil
}

// actionMatch matches IAM action patterns, which are case-insensitive.
func actionMatch(patterns []string, action string) bool {
	for _, p := range patterns {
		if globMatch(strings.ToLower(p), strings.ToLower(action)) {
			return true
		}
	}
	return false
}

// explicitDeny applies the inline policies of a role session's role: a
// session issued before a revocation's cut-off is denied action.
func (s *Server) explicitDeny(p *principal, action, resource string) *apiError {
	if !p.roleSession {
		return nil
	}
	s.mu.Lock()
	rl := s.roles[p.roleArn]
	var denied bool
	for _, pol := range rl.policies {
		for _, d := range pol.denies {
			if p.issuedAt.Before(d.issuedBefore) && actionMatch(d.actions, action) {
				denied = true
			}
		}
	}
	s.mu.Unlock()
	if !denied {
		return nil
	}
	return &apiError{http.StatusForbidden, "AccessDenied",
		fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %s with an explicit deny in an identity-based policy", p.arn, action, resource)}
}

// allowIAM says whether p may call action on resource: an explicit deny
// wins, then what RoleOptions/UserOptions grant; the rest is denied.
func (s *Server) allowIAM(p *principal, action, resource string) *apiError {
	if aerr := s.explicitDeny(p, action, resource); aerr != nil {
		return aerr
	}
	s.mu.Lock()
	var granted []string
	switch {
	case p.roleSession:
		granted = s.roles[p.roleArn].opts.IAMActions
	case p.session && !p.mfa:
		// As in AWS: GetSessionToken credentials call IAM only with MFA.
		s.mu.Unlock()
		return &apiError{http.StatusForbidden, "AccessDenied",
			fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %s because no MFA authentication information was included in the GetSessionToken request", p.arn, action, resource)}
	default:
		granted = s.userOpts[p.arn].IAMActions
	}
	s.mu.Unlock()
	if actionMatch(granted, action) {
		return nil
	}
	return &apiError{http.StatusForbidden, "AccessDenied",
		fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %s because no identity-based policy allows the %s action", p.arn, action, resource, action)}
}

func errNoSuchEntity(msg string) *apiError {
	return &apiError{http.StatusNotFound, "NoSuchEntity", msg}
}

func (s *Server) dispatchIAM(reqID string, p *principal, params map[string][]string) (any, *apiError) {
	get := func(k string) string {
		if v := params[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	action := get("Action")
	if v := get("Version"); v != iamAPIVersion {
		return nil, &apiError{http.StatusBadRequest, "InvalidAction",
			fmt.Sprintf("Could not find operation %s for version %s", action, v)}
	}
	switch action {
	case "":
		return nil, &apiError{http.StatusBadRequest, "MissingAction", "Missing Action"}
	case "PutRolePolicy", "GetRolePolicy", "DeleteRolePolicy":
		return s.rolePolicy(reqID, p, action, get)
	case "CreateAccessKey", "DeleteAccessKey", "ListAccessKeys":
		return s.accessKeys(reqID, p, action, get)
	}
	return nil, &apiError{http.StatusBadRequest, "InvalidAction",
		fmt.Sprintf("Could not find operation %s for version %s", action, iamAPIVersion)}
}

// findRole finds a role by name in the caller's account (IAM names are
// per account), returning its ARN.
func (s *Server) findRole(account, name string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for arn := range s.roles {
		if n, _, acct, ok := parseRoleArn(arn); ok && n == name && acct == account {
			return arn, true
		}
	}
	return "", false
}

func (s *Server) rolePolicy(reqID string, p *principal, action string, get func(string) string) (any, *apiError) {
	roleName, policyName, doc := get("RoleName"), get("PolicyName"), get("PolicyDocument")
	if roleName == "" || policyName == "" || (action == "PutRolePolicy" && doc == "") {
		return nil, errValidation("RoleName, PolicyName (and PolicyDocument for PutRolePolicy) are required")
	}
	roleArn, ok := s.findRole(p.account, roleName)
	resource := fmt.Sprintf("arn:%s:iam::%s:role/%s", arnPartition(p.arn), p.account, roleName)
	if ok {
		resource = roleArn
	}
	// Authorization before existence, as in AWS: a denied caller does not
	// learn whether the role exists.
	if aerr := s.allowIAM(p, "iam:"+action, resource); aerr != nil {
		return nil, aerr
	}
	if !ok {
		return nil, errNoSuchEntity(fmt.Sprintf("The role with name %s cannot be found.", roleName))
	}
	var pol inlinePolicy
	if action == "PutRolePolicy" {
		var aerr *apiError
		if pol, aerr = parsePolicy(doc); aerr != nil {
			return nil, aerr
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rl := s.roles[roleArn]
	old, had := rl.policies[policyName]
	switch action {
	case "PutRolePolicy":
		rl.policies[policyName] = pol
		return &iamEmptyResponse{XMLName: xml.Name{Space: iamNamespace, Local: "PutRolePolicyResponse"}, Metadata: responseMetadata{reqID}}, nil
	case "DeleteRolePolicy":
		if !had {
			return nil, errNoSuchEntity(fmt.Sprintf("The role policy with name %s cannot be found.", policyName))
		}
		delete(rl.policies, policyName)
		return &iamEmptyResponse{XMLName: xml.Name{Space: iamNamespace, Local: "DeleteRolePolicyResponse"}, Metadata: responseMetadata{reqID}}, nil
	}
	if !had {
		return nil, errNoSuchEntity(fmt.Sprintf("The role policy with name %s cannot be found.", policyName))
	}
	resp := &getRolePolicyResponse{Metadata: responseMetadata{reqID}}
	resp.Result.RoleName, resp.Result.PolicyName = roleName, policyName
	// IAM returns documents URL-encoded (RFC 3986); clients decode them.
	resp.Result.PolicyDocument = strings.ReplaceAll(url.QueryEscape(old.document), "+", "%20")
	return resp, nil
}

// RolePolicy returns an inline policy of a role as put, for assertions.
func (s *Server) RolePolicy(roleArn, name string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pol, ok := s.roles[roleArn].policies[name]
	return pol.document, ok
}

func (s *Server) accessKeys(reqID string, p *principal, action string, get func(string) string) (any, *apiError) {
	name := get("UserName")
	userArn := p.arn
	switch {
	case name == "" && (p.roleSession || !strings.Contains(p.arn, ":user/")):
		return nil, errValidation("Must specify userName when calling with non-User credentials")
	case name == "":
		name = userArn[strings.LastIndex(userArn, "/")+1:]
	default:
		userArn = ""
	}
	s.mu.Lock()
	if userArn == "" {
		userArn = s.userByName(p.account, name)
	}
	s.mu.Unlock()
	resource := userArn
	if resource == "" {
		resource = fmt.Sprintf("arn:%s:iam::%s:user/%s", arnPartition(p.arn), p.account, name)
	}
	if aerr := s.allowIAM(p, "iam:"+action, resource); aerr != nil {
		return nil, aerr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.userByName(p.account, name) == "" {
		return nil, errNoSuchEntity(fmt.Sprintf("The user with name %s cannot be found.", name))
	}
	keys := s.keysOf(userArn)
	switch action {
	case "CreateAccessKey":
		if len(keys) >= maxAccessKeys {
			return nil, &apiError{http.StatusConflict, "LimitExceeded", fmt.Sprintf("Cannot exceed quota for AccessKeysPerUser: %d", maxAccessKeys)}
		}
		var id string
		for {
			id = "AKIA" + randString(idAlphabet, 16)
			_, a := s.users[id]
			_, b := s.issued[id]
			if !a && !b {
				break
			}
		}
		u := user{secret: randString(secretAlphabet, 40), arn: userArn, created: s.now()}
		u.usableAt = u.created.Add(s.propagation)
		s.users[id] = u
		resp := &createAccessKeyResponse{Metadata: responseMetadata{reqID}}
		resp.Result.AccessKey = xmlAccessKey{UserName: name, AccessKeyID: id, Status: "Active", SecretAccessKey: u.secret, CreateDate: u.created.UTC().Format(time.RFC3339)}
		return resp, nil
	case "DeleteAccessKey":
		id := get("AccessKeyId")
		if !slices.Contains(keys, id) {
			return nil, errNoSuchEntity(fmt.Sprintf("The Access Key with id %s cannot be found.", id))
		}
		delete(s.users, id)
		return &iamEmptyResponse{XMLName: xml.Name{Space: iamNamespace, Local: "DeleteAccessKeyResponse"}, Metadata: responseMetadata{reqID}}, nil
	}
	resp := &listAccessKeysResponse{Metadata: responseMetadata{reqID}}
	for _, id := range keys {
		resp.Result.Members = append(resp.Result.Members, xmlAccessKey{UserName: name, AccessKeyID: id, Status: "Active", CreateDate: s.users[id].created.UTC().Format(time.RFC3339)})
	}
	return resp, nil
}

// userByName finds a user with keys by name in an account. Called with
// s.mu held.
func (s *Server) userByName(account, name string) string {
	for _, u := range s.users {
		if arnAccount(u.arn) == account && u.arn[strings.LastIndex(u.arn, "/")+1:] == name {
			return u.arn
		}
	}
	for arn := range s.userOpts {
		if arnAccount(arn) == account && arn[strings.LastIndex(arn, "/")+1:] == name {
			return arn
		}
	}
	return ""
}

// keysOf lists a user's access key ids, oldest first. Called with s.mu held.
func (s *Server) keysOf(userArn string) []string {
	var ids []string
	for id, u := range s.users {
		if u.arn == userArn {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(a, b string) int {
		if c := s.users[a].created.Compare(s.users[b].created); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	return ids
}

// getAccessKeyInfo names the account of a key: a harmless STS call that,
// unlike GetCallerIdentity, a revoked session is denied.
func (s *Server) getAccessKeyInfo(reqID, id string) (any, *apiError) {
	if len(id) < 16 {
		return nil, errValidation("1 validation error detected: Value at 'accessKeyId' failed to satisfy constraint: Member must have length greater than or equal to 16")
	}
	s.mu.Lock()
	acct := ""
	if u, ok := s.users[id]; ok {
		acct = arnAccount(u.arn)
	} else if ic, ok := s.issued[id]; ok {
		acct = ic.info.Account
	}
	s.mu.Unlock()
	if acct == "" {
		return nil, errInvalidToken()
	}
	resp := &getAccessKeyInfoResponse{}
	resp.Result.Account = acct
	resp.Metadata.RequestID = reqID
	return resp, nil
}

type iamEmptyResponse struct {
	XMLName  xml.Name
	Metadata responseMetadata `xml:"ResponseMetadata"`
}

type getRolePolicyResponse struct {
	XMLName xml.Name `xml:"https://iam.amazonaws.com/doc/2010-05-08/ GetRolePolicyResponse"`
	Result  struct {
		RoleName       string `xml:"RoleName"`
		PolicyName     string `xml:"PolicyName"`
		PolicyDocument string `xml:"PolicyDocument"`
	} `xml:"GetRolePolicyResult"`
	Metadata responseMetadata `xml:"ResponseMetadata"`
}

type xmlAccessKey struct {
	UserName        string `xml:"UserName"`
	AccessKeyID     string `xml:"AccessKeyId"`
	Status          string `xml:"Status"`
	SecretAccessKey string `xml:"SecretAccessKey,omitempty"`
	CreateDate      string `xml:"CreateDate"`
}

type createAccessKeyResponse struct {
	XMLName xml.Name `xml:"https://iam.amazonaws.com/doc/2010-05-08/ CreateAccessKeyResponse"`
	Result  struct {
		AccessKey xmlAccessKey `xml:"AccessKey"`
	} `xml:"CreateAccessKeyResult"`
	Metadata responseMetadata `xml:"ResponseMetadata"`
}

type listAccessKeysResponse struct {
	XMLName xml.Name `xml:"https://iam.amazonaws.com/doc/2010-05-08/ ListAccessKeysResponse"`
	Result  struct {
		Members     []xmlAccessKey `xml:"AccessKeyMetadata>member"`
		IsTruncated bool           `xml:"IsTruncated"`
	} `xml:"ListAccessKeysResult"`
	Metadata responseMetadata `xml:"ResponseMetadata"`
}
