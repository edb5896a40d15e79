package fakests

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	sigAlgorithm   = "AWS4-HMAC-SHA256"
	amzDateFormat  = "20060102T150405Z"
	maxClockSkew   = 15 * time.Minute
	emptySHA256    = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	unsignedHash   = "UNSIGNED-PAYLOAD"
	stsServiceName = "sts"
	iamServiceName = "iam"
)

// sigInfo is what a request claims about its signature, before verification.
type sigInfo struct {
	accessKeyID   string
	scopeDate     string
	region        string
	service       string
	signedHeaders []string
	signature     string
	amzDate       time.Time
	token         string
	presigned     bool
	expires       time.Duration // X-Amz-Expires for presigned URLs; 0 if absent
}

// parseSignature extracts the SigV4 fields from the Authorization header or,
// for presigned URLs, the query string. The returned sigInfo carries the
// access key id whenever it could be found, so rejected calls still record it.
func parseSignature(r *http.Request) (sigInfo, *apiError) {
	var si sigInfo
	var credential, signedHeaders, date string

	q := r.URL.Query()
	auth := r.Header.Get("Authorization")
	switch {
	case auth != "":
		rest, ok := strings.CutPrefix(auth, sigAlgorithm+" ")
		if !ok {
			return si, errIncomplete("Unsupported authorization type; only " + sigAlgorithm + " is accepted")
		}
		for part := range strings.SplitSeq(rest, ",") {
			k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
			switch k {
			case "Credential":
				credential = v
			case "SignedHeaders":
				signedHeaders = v
			case "Signature":
				si.signature = v
			}
		}
		date = r.Header.Get("X-Amz-Date")
		si.token = r.Header.Get("X-Amz-Security-Token")
	case q.Get("X-Amz-Signature") != "" || q.Get("X-Amz-Algorithm") != "":
		si.presigned = true
		if q.Get("X-Amz-Algorithm") != sigAlgorithm {
			return si, errIncomplete("X-Amz-Algorithm must be " + sigAlgorithm)
		}
		credential = q.Get("X-Amz-Credential")
		signedHeaders = q.Get("X-Amz-SignedHeaders")
		si.signature = q.Get("X-Amz-Signature")
		date = q.Get("X-Amz-Date")
		si.token = q.Get("X-Amz-Security-Token")
		if e := q.Get("X-Amz-Expires"); e != "" {
			n, err := strconv.Atoi(e)
			if err != nil || n <= 0 || n > 604800 {
				return si, errIncomplete("X-Amz-Expires must be between 1 and 604800 seconds")
			}
			si.expires = time.Duration(n) * time.Second
		}
	default:
		return si, &apiError{http.StatusForbidden, "MissingAuthenticationToken", "Request is missing Authentication Token"}
	}

	scope := strings.Split(credential, "/")
	if len(scope) > 0 {
		si.accessKeyID = scope[0]
	}
	if len(scope) != 5 || scope[0] == "" {
		return si, errIncomplete("Credential must have the form AKID/YYYYMMDD/REGION/SERVICE/aws4_request")
	}
	si.scopeDate, si.region, si.service = scope[1], scope[2], scope[3]
	if si.signature == "" || signedHeaders == "" {
		return si, errIncomplete("Authorization must contain Credential, SignedHeaders and Signature")
	}
	si.signedHeaders = strings.Split(strings.ToLower(signedHeaders), ";")

	if date == "" {
		// The SDK signer always uses X-Amz-Date; the legacy Date header
		// variant is not supported by this fake.
		return si, errIncomplete("Request must contain an X-Amz-Date header or parameter")
	}
	t, err := time.Parse(amzDateFormat, date)
	if err != nil {
		return si, errIncomplete(fmt.Sprintf("Invalid X-Amz-Date %q", date))
	}
	si.amzDate = t

	switch {
	case scope[4] != "aws4_request":
		return si, errSignature("Credential should be scoped with a valid terminator: 'aws4_request', not '" + scope[4] + "'.")
	case si.service != stsServiceName && si.service != iamServiceName:
		// One address serves both; the scope says which API is meant.
		return si, errSignature("Credential should be scoped to correct service: 'sts' or 'iam'.")
	case si.region == "":
		return si, errSignature("Credential should be scoped to a valid region.")
	case si.scopeDate != t.Format("20060102"):
		return si, errSignature("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '" +
			si.scopeDate + "' != '" + t.Format("20060102") + "', from '" + date + "'.")
	}
	if !si.presigned && (!contains(si.signedHeaders, "host") || !contains(si.signedHeaders, "x-amz-date")) {
		return si, errSignature("'Host' and 'X-Amz-Date' must be SignedHeaders in the AWS Authorization.")
	}
	if si.presigned && !contains(si.signedHeaders, "host") {
		return si, errSignature("'Host' must be a SignedHeader in the AWS Authorization.")
	}
	return si, nil
}

// checkTime enforces the 15 minute skew window (and X-Amz-Expires for
// presigned URLs) against the real clock, which is what clients sign with.
func checkTime(si sigInfo, now time.Time) *apiError {
	earliest := si.amzDate.Add(-maxClockSkew)
	latest := si.amzDate.Add(maxClockSkew)
	if si.presigned && si.expires > 0 {
		latest = si.amzDate.Add(si.expires)
	}
	if now.Before(earliest) || now.After(latest) {
		return errSignature(fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - 15 min.)",
			si.amzDate.UTC().Format(amzDateFormat), now.UTC().Add(-maxClockSkew).Format(amzDateFormat), now.UTC().Format(amzDateFormat)))
	}
	return nil
}

// verifySignature recomputes the signature with aws-sdk-go-v2's own SigV4
// signer and compares it with the one presented.
//
// The SDK signer signs every header on the request it is given (minus a few
// it always ignores), so we hand it a fresh request carrying exactly the
// headers the client listed in SignedHeaders, plus the same method, host,
// path, query, payload hash, region and signing time. If the client signed
// the same canonical request with the same secret, the signatures match.
func verifySignature(ctx context.Context, r *http.Request, body []byte, si sigInfo, secret string) (bool, error) {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	q := r.URL.Query()
	q.Del("X-Amz-Signature")
	u := &url.URL{Scheme: scheme, Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: q.Encode()}
	req, err := http.NewRequestWithContext(ctx, r.Method, u.String(), nil)
	if err != nil {
		return false, err
	}
	req.Host = r.Host

	creds := aws.Credentials{AccessKeyID: si.accessKeyID, SecretAccessKey: secret}
	for _, h := range si.signedHeaders {
		switch h {
		case "host":
			// Taken from req.Host by the signer.
		case "content-length":
			// The signer derives this from ContentLength, never the header.
			req.ContentLength = r.ContentLength
		case "x-amz-date":
			// Set by the signer from the signing time.
		case "x-amz-security-token":
			if si.presigned {
				// Already in the query string being re-signed.
				continue
			}
			// The signer sets the header from the credentials.
			creds.SessionToken = si.token
		case "authorization", "user-agent", "x-amzn-trace-id", "expect", "transfer-encoding":
			// The SDK signer refuses to sign these, so a signature over
			// them cannot be reproduced. Mainstream SDKs never sign them.
			return false, fmt.Errorf("fakests cannot verify signatures covering the %q header", h)
		default:
			vals := r.Header.Values(h)
			if len(vals) == 0 {
				return false, nil // signed a header it did not send
			}
			req.Header[textproto.CanonicalMIMEHeaderKey(h)] = vals
		}
	}

	signer := v4.NewSigner()
	for _, payloadHash := range payloadHashes(r, body, si) {
		var got string
		if si.presigned {
			signed, _, err := signer.PresignHTTP(ctx, creds, req, payloadHash, si.service, si.region, si.amzDate,
				func(o *v4.SignerOptions) { o.DisableHeaderHoisting = true })
			if err != nil {
				return false, err
			}
			su, err := url.Parse(signed)
			if err != nil {
				return false, err
			}
			got = su.Query().Get("X-Amz-Signature")
		} else {
			attempt := req.Clone(ctx)
			if err := signer.SignHTTP(ctx, creds, attempt, payloadHash, si.service, si.region, si.amzDate); err != nil {
				return false, err
			}
			got = authSignature(attempt.Header.Get("Authorization"))
		}
		if got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(strings.ToLower(si.signature))) == 1 {
			return true, nil
		}
	}
	return false, nil
}

// payloadHashes lists the payload hashes a legitimate client may have signed
// with. The real body hash comes first, so a body tampered with after signing
// never verifies.
func payloadHashes(r *http.Request, body []byte, si sigInfo) []string {
	sum := sha256.Sum256(body)
	actual := hex.EncodeToString(sum[:])
	switch {
	case r.Header.Get("X-Amz-Content-Sha256") == unsignedHash:
		return []string{unsignedHash}
	case si.presigned && actual == emptySHA256:
		// Presigners differ: the Go SDK hashes the empty body, some others
		// use UNSIGNED-PAYLOAD for query-string auth.
		return []string{actual, unsignedHash}
	}
	return []string{actual}
}

func authSignature(auth string) string {
	_, sig, ok := strings.Cut(auth, "Signature=")
	if !ok {
		return ""
	}
	sig, _, _ = strings.Cut(sig, ",")
	return strings.TrimSpace(sig)
}

// authenticate resolves the signing key, checks session tokens, expiry and
// the signature, and returns the principal the request acts as.
func (s *Server) authenticate(r *http.Request, body []byte, si sigInfo) (*principal, *apiError) {
	if aerr := checkTime(si, time.Now()); aerr != nil {
		return nil, aerr
	}

	s.mu.Lock()
	now := s.now()
	var (
		p      principal
		secret string
		token  string
		known  bool
	)
	propagating := false
	if u, ok := s.users[si.accessKeyID]; ok {
		known, secret = true, u.secret
		propagating = now.Before(u.usableAt)
		p = principal{arn: u.arn, userID: userIDFor(u.arn), account: arnAccount(u.arn), accessKeyID: si.accessKeyID}
	} else if ic, ok := s.issued[si.accessKeyID]; ok {
		known, secret, token = true, ic.secret, ic.token
		p = principal{
			arn: ic.arn, userID: ic.userID, account: ic.info.Account, accessKeyID: si.accessKeyID,
			session: true, roleSession: ic.role, roleArn: ic.info.RoleArn, mfa: ic.info.MFA, expires: ic.info.Expires,
			issuedAt: ic.info.IssuedAt,
		}
	}
	s.mu.Unlock()

	if !known || propagating {
		return nil, errInvalidToken()
	}
	// Long-term keys carry no token; issued keys must carry exactly theirs.
	if token == "" && si.token != "" {
		return nil, errInvalidToken()
	}
	if token != "" && !hmac.Equal([]byte(token), []byte(si.token)) {
		return nil, errInvalidToken()
	}
	ok, err := verifySignature(r.Context(), r, body, si, secret)
	if err != nil {
		return nil, errSignature(err.Error())
	}
	if !ok {
		return nil, errSignature("The request signature we calculated does not match the signature you provided. " +
			"Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
	}
	if p.session && !now.Before(p.expires) {
		return nil, errExpiredToken()
	}
	return &p, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
