package fakests

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// These tests drive the wire protocol by hand, to pin down behaviour the SDK
// client cannot reach: other clients' signing styles, GET/presigned
// requests, tampering, clock skew and the exact XML shapes.

// wireClient bounds raw calls so a hang fails the test instead of stalling.
var wireClient = &http.Client{Timeout: 20 * time.Second}

var aliceCreds = aws.Credentials{AccessKeyID: aliceKey, SecretAccessKey: aliceSecret}

type wireError struct {
	XMLName xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ ErrorResponse"`
	Type    string   `xml:"Error>Type"`
	Code    string   `xml:"Error>Code"`
	Message string   `xml:"Error>Message"`
	ReqID   string   `xml:"RequestId"`
}

func bodyHash(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// signedPost builds a form POST signed the way the SDK signs it (all headers
// present at signing time, including Content-Length).
func signedPost(t *testing.T, u string, creds aws.Credentials, form url.Values, at time.Time) *http.Request {
	t.Helper()
	body := []byte(form.Encode())
	req, err := http.NewRequest(http.MethodPost, u+"/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	if err := v4.NewSigner().SignHTTP(testCtx(t), creds, req, bodyHash(body), "sts", "us-east-1", at); err != nil {
		t.Fatal(err)
	}
	return req
}

func do(t *testing.T, req *http.Request) (int, []byte) {
	t.Helper()
	resp, err := wireClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/xml" {
		t.Errorf("Content-Type = %q", ct)
	}
	if resp.Header.Get("X-Amzn-Requestid") == "" {
		t.Error("missing x-amzn-RequestId header")
	}
	return resp.StatusCode, b
}

func wantWireError(t *testing.T, status int, body []byte, wantStatus int, wantCode string) wireError {
	t.Helper()
	var e wireError
	if err := xml.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body is not an STS ErrorResponse: %v\n%s", err, body)
	}
	if status != wantStatus || e.Code != wantCode {
		t.Fatalf("got %d %s (%s), want %d %s", status, e.Code, e.Message, wantStatus, wantCode)
	}
	wantType := "Sender"
	if wantStatus >= 500 {
		wantType = "Receiver"
	}
	if e.Type != wantType || e.ReqID == "" || e.Message == "" {
		t.Errorf("ErrorResponse = %+v", e)
	}
	return e
}

func gciForm() url.Values {
	return url.Values{"Action": {"GetCallerIdentity"}, "Version": {"2011-06-15"}}
}

func TestWireXMLShapes(t *testing.T) {
	s, u := startFake(t)
	s.AddRole(deployRole, RoleOptions{})

	status, body := do(t, signedPost(t, u, aliceCreds, url.Values{
		"Action": {"AssumeRole"}, "Version": {"2011-06-15"},
		"RoleArn": {deployRole}, "RoleSessionName": {"wire"}, "DurationSeconds": {"900"},
	}, time.Now()))
	if status != 200 {
		t.Fatalf("AssumeRole status %d: %s", status, body)
	}
	var ar struct {
		XMLName xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ AssumeRoleResponse"`
		Key     string   `xml:"AssumeRoleResult>Credentials>AccessKeyId"`
		Secret  string   `xml:"AssumeRoleResult>Credentials>SecretAccessKey"`
		Token   string   `xml:"AssumeRoleResult>Credentials>SessionToken"`
		Exp     string   `xml:"AssumeRoleResult>Credentials>Expiration"`
		Arn     string   `xml:"AssumeRoleResult>AssumedRoleUser>Arn"`
		RoleID  string   `xml:"AssumeRoleResult>AssumedRoleUser>AssumedRoleId"`
		ReqID   string   `xml:"ResponseMetadata>RequestId"`
	}
	if err := xml.Unmarshal(body, &ar); err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
	if !issuedKeyRE.MatchString(ar.Key) || len(ar.Secret) != 40 || ar.Token == "" || ar.ReqID == "" ||
		ar.Arn != "arn:aws:sts::111122223333:assumed-role/deploy/wire" || !strings.HasSuffix(ar.RoleID, ":wire") {
		t.Errorf("AssumeRoleResponse = %+v", ar)
	}
	// AWS's format: whole seconds, UTC, 'Z'.
	if _, err := time.Parse("2006-01-02T15:04:05Z", ar.Exp); err != nil {
		t.Errorf("Expiration %q: %v", ar.Exp, err)
	}

	status, body = do(t, signedPost(t, u, aliceCreds, gciForm(), time.Now()))
	var gci struct {
		XMLName xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ GetCallerIdentityResponse"`
		Arn     string   `xml:"GetCallerIdentityResult>Arn"`
		UserID  string   `xml:"GetCallerIdentityResult>UserId"`
		Account string   `xml:"GetCallerIdentityResult>Account"`
	}
	if err := xml.Unmarshal(body, &gci); err != nil || status != 200 {
		t.Fatalf("%d %v\n%s", status, err, body)
	}
	if gci.Arn != aliceArn || gci.Account != acct || !userIDRE.MatchString(gci.UserID) {
		t.Errorf("GetCallerIdentityResponse = %+v", gci)
	}

	status, body = do(t, signedPost(t, u, aliceCreds, url.Values{"Action": {"GetSessionToken"}, "Version": {"2011-06-15"}}, time.Now()))
	var gst struct {
		XMLName xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ GetSessionTokenResponse"`
		Key     string   `xml:"GetSessionTokenResult>Credentials>AccessKeyId"`
	}
	if err := xml.Unmarshal(body, &gst); err != nil || status != 200 || !issuedKeyRE.MatchString(gst.Key) {
		t.Fatalf("%d %v %+v\n%s", status, err, gst, body)
	}
}

func TestWireActionErrors(t *testing.T) {
	_, u := startFake(t)

	status, body := do(t, signedPost(t, u, aliceCreds, url.Values{"Action": {"DeleteEverything"}, "Version": {"2011-06-15"}}, time.Now()))
	wantWireError(t, status, body, 400, "InvalidAction")

	status, body = do(t, signedPost(t, u, aliceCreds, url.Values{"Version": {"2011-06-15"}}, time.Now()))
	wantWireError(t, status, body, 400, "MissingAction")

	status, body = do(t, signedPost(t, u, aliceCreds, url.Values{"Action": {"GetCallerIdentity"}, "Version": {"2099-01-01"}}, time.Now()))
	wantWireError(t, status, body, 400, "InvalidAction")

	// AssumeRole without its required parameters.
	status, body = do(t, signedPost(t, u, aliceCreds, url.Values{"Action": {"AssumeRole"}, "Version": {"2011-06-15"}}, time.Now()))
	wantWireError(t, status, body, 400, "ValidationError")
}

func TestWireUnsignedAndMalformed(t *testing.T) {
	_, u := startFake(t)
	form := gciForm().Encode()

	req, _ := http.NewRequest(http.MethodPost, u+"/", strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	status, body := do(t, req)
	wantWireError(t, status, body, 403, "MissingAuthenticationToken")

	req, _ = http.NewRequest(http.MethodPost, u+"/", strings.NewReader(form))
	req.Header.Set("Authorization", "AWS "+aliceKey+":c2lnbmF0dXJl")
	status, body = do(t, req)
	wantWireError(t, status, body, 400, "IncompleteSignature")

	// Signed for another service.
	body2 := []byte(form)
	req, _ = http.NewRequest(http.MethodPost, u+"/", bytes.NewReader(body2))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if err := v4.NewSigner().SignHTTP(testCtx(t), aliceCreds, req, bodyHash(body2), "s3", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	status, body = do(t, req)
	wantWireError(t, status, body, 403, "SignatureDoesNotMatch")
}

func TestWireTampering(t *testing.T) {
	s, u := startFake(t)
	s.AddRole(deployRole, RoleOptions{})

	// Body swapped after signing: same length, different role session.
	form := url.Values{"Action": {"AssumeRole"}, "Version": {"2011-06-15"}, "RoleArn": {deployRole}, "RoleSessionName": {"aaaa"}}
	req := signedPost(t, u, aliceCreds, form, time.Now())
	form.Set("RoleSessionName", "bbbb")
	tampered := form.Encode()
	req.Body = io.NopCloser(strings.NewReader(tampered))
	status, body := do(t, req)
	wantWireError(t, status, body, 403, "SignatureDoesNotMatch")

	// A signed header changed after signing.
	req = signedPost(t, u, aliceCreds, gciForm(), time.Now())
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	status, body = do(t, req)
	wantWireError(t, status, body, 403, "SignatureDoesNotMatch")

	// Signed for another region but relabelled: the scope is part of the
	// string to sign, so editing it breaks the signature.
	req = signedPost(t, u, aliceCreds, gciForm(), time.Now())
	req.Header.Set("Authorization", strings.Replace(req.Header.Get("Authorization"), "/us-east-1/", "/eu-west-1/", 1))
	status, body = do(t, req)
	wantWireError(t, status, body, 403, "SignatureDoesNotMatch")

	// Any region is fine when actually signed for it.
	b := []byte(gciForm().Encode())
	req, _ = http.NewRequest(http.MethodPost, u+"/", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if err := v4.NewSigner().SignHTTP(testCtx(t), aliceCreds, req, bodyHash(b), "sts", "eu-west-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if status, body := do(t, req); status != 200 {
		t.Fatalf("eu-west-1 signed: %d %s", status, body)
	}
}

func TestWireClockSkew(t *testing.T) {
	_, u := startFake(t)
	for _, tc := range []struct {
		skew time.Duration
		ok   bool
	}{
		{-14 * time.Minute, true},
		{14 * time.Minute, true},
		{-16 * time.Minute, false},
		{16 * time.Minute, false},
	} {
		status, body := do(t, signedPost(t, u, aliceCreds, gciForm(), time.Now().Add(tc.skew)))
		if tc.ok && status != 200 {
			t.Errorf("skew %v: %d %s", tc.skew, status, body)
		}
		if !tc.ok {
			e := wantWireError(t, status, body, 403, "SignatureDoesNotMatch")
			if !strings.Contains(e.Message, "Signature expired") {
				t.Errorf("skew %v: message %q", tc.skew, e.Message)
			}
		}
	}
}

// TestWireOtherSigningStyles covers how botocore/JS-style signers differ from
// the Go SDK: fewer signed headers (no Content-Length), extra signed
// headers, an unsigned session token, and GET with a query string.
func TestWireOtherSigningStyles(t *testing.T) {
	s, u := startFake(t)
	s.AddRole(deployRole, RoleOptions{})

	// Sign without Content-Length and with a custom header, then send.
	b := []byte(gciForm().Encode())
	req, _ := http.NewRequest(http.MethodPost, u+"/", nil)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Fake-Extra", "  spaced   value ")
	if err := v4.NewSigner().SignHTTP(testCtx(t), aliceCreds, req, bodyHash(b), "sts", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if sh := req.Header.Get("Authorization"); strings.Contains(sh, "content-length") || !strings.Contains(sh, "x-fake-extra") {
		t.Fatalf("test setup: unexpected signed headers in %q", sh)
	}
	req.Body = io.NopCloser(bytes.NewReader(b))
	req.ContentLength = int64(len(b))
	req.Header.Set("User-Agent", "not-signed/1.0") // unsigned headers are ignored
	if status, body := do(t, req); status != 200 {
		t.Fatalf("botocore-style signing: %d %s", status, body)
	}

	// GET with query-string parameters and header auth.
	q := gciForm().Encode()
	req, _ = http.NewRequest(http.MethodGet, u+"/?"+q, nil)
	if err := v4.NewSigner().SignHTTP(testCtx(t), aliceCreds, req, bodyHash(nil), "sts", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if status, body := do(t, req); status != 200 || !strings.Contains(string(body), aliceArn) {
		t.Fatalf("GET query-string call: %d %s", status, body)
	}
	if c := lastCall(t, s); c.Action != "GetCallerIdentity" || c.Caller != aliceArn {
		t.Errorf("GET call = %+v", c)
	}

	// Issued creds with the session token present but left out of the
	// signature (allowed by SigV4) still authenticate; a wrong one does not.
	status, body := do(t, signedPost(t, u, aliceCreds, url.Values{
		"Action": {"AssumeRole"}, "Version": {"2011-06-15"}, "RoleArn": {deployRole}, "RoleSessionName": {"wire"},
	}, time.Now()))
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	var ar struct {
		Key    string `xml:"AssumeRoleResult>Credentials>AccessKeyId"`
		Secret string `xml:"AssumeRoleResult>Credentials>SecretAccessKey"`
		Token  string `xml:"AssumeRoleResult>Credentials>SessionToken"`
	}
	if err := xml.Unmarshal(body, &ar); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{ar.Token, ar.Token + "x"} {
		req := signedPost(t, u, aws.Credentials{AccessKeyID: ar.Key, SecretAccessKey: ar.Secret}, gciForm(), time.Now())
		req.Header.Set("X-Amz-Security-Token", tok)
		status, body := do(t, req)
		if tok == ar.Token && status != 200 {
			t.Errorf("unsigned token header: %d %s", status, body)
		}
		if tok != ar.Token {
			wantWireError(t, status, body, 403, "InvalidClientTokenId")
		}
	}
}

func TestWirePresigned(t *testing.T) {
	s, u := startFake(t)
	s.AddRole(deployRole, RoleOptions{})
	ctx := testCtx(t)

	presign := func(c *sts.Client) string {
		t.Helper()
		p, err := sts.NewPresignClient(c).PresignGetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Method != http.MethodGet {
			t.Fatalf("presigned method %s", p.Method)
		}
		return p.URL
	}
	get := func(raw string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, raw, nil)
		return do(t, req)
	}

	// The EKS-token pattern: presigned GetCallerIdentity fetched as a plain GET.
	alice := newClient(u, aliceKey, aliceSecret, "")
	raw := presign(alice)
	status, body := get(raw)
	if status != 200 || !strings.Contains(string(body), "<Arn>"+aliceArn+"</Arn>") {
		t.Fatalf("presigned GET: %d %s", status, body)
	}
	if c := lastCall(t, s); c.Params.Get("X-Amz-Signature") != "" || c.Params.Get("Action") != "GetCallerIdentity" {
		t.Errorf("presign parameters leaked into Call.Params: %v", c.Params)
	}

	// Presigned with issued session creds: the token rides in the URL.
	out, err := assume(ctx, alice, deployRole, "presign")
	if err != nil {
		t.Fatal(err)
	}
	raw = presign(credClient(u, out.Credentials))
	if !strings.Contains(raw, "X-Amz-Security-Token=") {
		t.Fatal("test setup: presigned URL lacks a session token")
	}
	status, body = get(raw)
	if status != 200 || !strings.Contains(string(body), "assumed-role/deploy/presign") {
		t.Fatalf("presigned GET with session creds: %d %s", status, body)
	}
	for _, p := range s.Calls()[len(s.Calls())-1].Params {
		for _, v := range p {
			if strings.Contains(v, aws.ToString(out.Credentials.SessionToken)) {
				t.Fatal("session token recorded in Call.Params")
			}
		}
	}

	// Tampering with any signed query parameter breaks it.
	pu, _ := url.Parse(raw)
	q := pu.Query()
	q.Set("Action", "GetSessionToken")
	pu.RawQuery = q.Encode()
	status, body = get(pu.String())
	wantWireError(t, status, body, 403, "SignatureDoesNotMatch")

	pu, _ = url.Parse(raw)
	q = pu.Query()
	q.Set("X-Amz-Security-Token", q.Get("X-Amz-Security-Token")+"x")
	pu.RawQuery = q.Encode()
	status, body = get(pu.String())
	wantWireError(t, status, body, 403, "InvalidClientTokenId")
}

func TestHTTPTestServerMount(t *testing.T) {
	s := New()
	s.AddUser(aliceKey, aliceSecret, aliceArn)
	ts := httptest.NewServer(s)
	defer ts.Close()
	defer s.Close() // releases any hang before ts.Close waits on handlers
	if s.URL() != "" {
		t.Errorf("URL() = %q for a server not started by Start", s.URL())
	}
	id, err := newClient(ts.URL, aliceKey, aliceSecret, "").GetCallerIdentity(testCtx(t), &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(id.Arn) != aliceArn {
		t.Fatalf("via httptest: %v %v", id, err)
	}
	s.SetFault(Fault{Mode: FaultDown, Count: 1})
	if _, err := newClient(ts.URL, aliceKey, aliceSecret, "").GetCallerIdentity(testCtx(t), &sts.GetCallerIdentityInput{}); err == nil {
		t.Fatal("FaultDown via httptest: call succeeded")
	}
}
