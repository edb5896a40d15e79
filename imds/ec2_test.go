package imds

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

var timeRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)

// get does a GET with a fresh valid token.
func get(t *testing.T, e *EC2, path string) *httptest.ResponseRecorder {
	t.Helper()
	return serve(e, req("GET", path, map[string]string{tokenHeader: token(t, e, "300")}))
}

func TestEC2Listing(t *testing.T) {
	t.Parallel()
	e, _ := newTestEC2(t, ec2Settings(), nil)
	for _, path := range []string{credsPath, credsPath + "/", credsExtPath, credsExtPath + "/"} {
		w := get(t, e, path)
		if w.Code != 200 || w.Body.String() != "dev" {
			t.Errorf("%s: %d %q, want 200 \"dev\" (no newline)", path, w.Code, w.Body)
		}
		if ct := w.Header().Get("Content-Type"); ct != "text/plain" {
			t.Errorf("%s: Content-Type %q", path, ct)
		}
	}

	s := ec2Settings()
	s.Profile = ""
	noRole, _ := newTestEC2(t, s, nil)
	for _, path := range []string{credsPath, credsPath + "/", credsPath + "/dev", iamInfoPath} {
		if w := get(t, noRole, path); w.Code != 404 {
			t.Errorf("no role, %s: status %d, want 404", path, w.Code)
		}
	}
}

func TestEC2CredentialDocument(t *testing.T) {
	t.Parallel()
	e, _ := newTestEC2(t, ec2Settings(), nil)
	want := testCreds()
	for _, path := range []string{credsPath + "/dev", credsPath + "/dev/"} {
		w := get(t, e, path)
		if w.Code != 200 {
			t.Fatalf("%s: status %d body %q", path, w.Code, w.Body)
		}
		if ct := w.Header().Get("Content-Type"); ct != "text/plain" {
			t.Errorf("Content-Type %q, want text/plain", ct)
		}
		var d ec2Doc
		decodeStrict(t, w.Body.Bytes(), &d)
		if d.Code != "Success" || d.Type != "AWS-HMAC" {
			t.Errorf("Code %q Type %q", d.Code, d.Type)
		}
		if d.AccessKeyID != want.AccessKeyID || d.SecretAccessKey != want.SecretAccessKey || d.Token != want.SessionToken {
			t.Errorf("keys %+v do not match the source's", d)
		}
		// Fractions are dropped, never rounded up past the real expiry.
		if d.Expiration != "2025-03-04T06:06:07Z" || d.LastUpdated != "2025-03-04T05:05:07Z" {
			t.Errorf("Expiration %q LastUpdated %q", d.Expiration, d.LastUpdated)
		}
		if d.AccountID != nil {
			t.Errorf("plain document has AccountId")
		}
	}
}

func TestEC2CredentialTimesUTC(t *testing.T) {
	t.Parallel()
	c := testCreds()
	tz := time.FixedZone("UTC+5", 5*3600)
	c.Expires = c.Expires.In(tz)
	c.LastUpdated = time.Time{} // unknown: reported as now
	e, _ := newTestEC2(t, ec2Settings(), staticSource(c, "dev"))
	var d ec2Doc
	decodeStrict(t, get(t, e, credsPath+"/dev").Body.Bytes(), &d)
	if d.Expiration != "2025-03-04T06:06:07Z" {
		t.Errorf("Expiration %q, want UTC 2025-03-04T06:06:07Z", d.Expiration)
	}
	if d.LastUpdated != "2025-03-04T05:06:07Z" {
		t.Errorf("LastUpdated %q, want the clock's now", d.LastUpdated)
	}
}

func TestEC2ExtendedDocument(t *testing.T) {
	t.Parallel()
	e, _ := newTestEC2(t, ec2Settings(), nil)
	for _, path := range []string{credsExtPath + "/dev", credsExtPath + "/dev/"} {
		var d ec2Doc
		w := get(t, e, path)
		decodeStrict(t, w.Body.Bytes(), &d)
		if w.Code != 200 || d.Code != "Success" || d.AccessKeyID != testCreds().AccessKeyID {
			t.Fatalf("%s: %d %+v", path, w.Code, d)
		}
		if d.AccountID == nil || *d.AccountID != "123456789012" {
			t.Errorf("AccountId %v, want 123456789012", d.AccountID)
		}
		if !timeRE.MatchString(d.Expiration) || !timeRE.MatchString(d.LastUpdated) {
			t.Errorf("times %q %q", d.Expiration, d.LastUpdated)
		}
	}

	c := testCreds()
	c.AccountID = ""
	e, _ = newTestEC2(t, ec2Settings(), staticSource(c, "dev"))
	var m map[string]any
	if err := json.Unmarshal(get(t, e, credsExtPath+"/dev").Body.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if _, ok := m["AccountId"]; ok {
		t.Errorf("AccountId present though unknown: %v", m)
	}
}

func TestEC2UnknownRole(t *testing.T) {
	t.Parallel()
	e, _ := newTestEC2(t, ec2Settings(), nil)
	for _, path := range []string{
		credsPath + "/other", credsPath + "/DEV", credsPath + "/dev//", credsPath + "/dev/x",
		credsPath + "/../security-credentials/dev", credsPath + "//dev", credsExtPath + "/other",
		credsPath + "x", credsPath + "-other/dev",
	} {
		w := get(t, e, path)
		if w.Code != 404 || strings.Contains(w.Body.String(), "Success") {
			t.Errorf("%s: %d %q, want 404", path, w.Code, w.Body)
		}
	}
}

func TestEC2SourceFailures(t *testing.T) {
	t.Parallel()
	expired := testCreds()
	expired.Expires = t0.Add(-time.Second)
	expiresNow := testCreds()
	expiresNow.Expires = t0
	noKey, noSecret, noToken := testCreds(), testCreds(), testCreds()
	noKey.AccessKeyID, noSecret.SecretAccessKey, noToken.SessionToken = "", "", ""
	unavailable := &UnavailableError{Profile: "dev", Message: "MFA code needed: run imdsd unlock"}

	tests := []struct {
		name     string
		src      Source
		want     int
		wantBody string
	}{
		{"unknown profile", errSource(ErrUnknownProfile), 404, ""},
		{"wrapped unknown profile", errSource(fmt.Errorf("lookup: %w", ErrUnknownProfile)), 404, ""},
		{"unavailable", errSource(unavailable), 503, "MFA code needed: run imdsd unlock"},
		{"wrapped unavailable", errSource(fmt.Errorf("x: %w", unavailable)), 503, "MFA code needed"},
		{"other error", errSource(errors.New("sts: throttled")), 503, "sts: throttled"},
		{"deadline", errSource(context.DeadlineExceeded), 503, "not ready"},
		{"expired", staticSource(expired, "dev"), 503, "expired"},
		{"expires now", staticSource(expiresNow, "dev"), 503, "expired"},
		{"no access key", staticSource(noKey, "dev"), 503, "incomplete"},
		{"no secret", staticSource(noSecret, "dev"), 503, "incomplete"},
		{"no session token", staticSource(noToken, "dev"), 503, "incomplete"},
	}
	for _, tt := range tests {
		for _, path := range []string{credsPath + "/dev", credsExtPath + "/dev"} {
			t.Run(tt.name+path, func(t *testing.T) {
				var vends atomic.Int32
				e := NewEC2(tt.src, ec2Settings(), Options{Logger: quietOpts.Logger,
					OnVend: func(*http.Request, string, Credentials, time.Time) { vends.Add(1) }})
				e.now = newClock().Now
				w := get(t, e, path)
				body := w.Body.String()
				if w.Code != tt.want {
					t.Fatalf("status %d, want %d (body %q)", w.Code, tt.want, body)
				}
				if ct := w.Header().Get("Content-Type"); ct != "text/plain" {
					t.Errorf("Content-Type %q", ct)
				}
				if !strings.Contains(body, tt.wantBody) {
					t.Errorf("body %q does not say %q", body, tt.wantBody)
				}
				for _, leak := range []string{"Success", "AccessKeyId", testCreds().SecretAccessKey} {
					if strings.Contains(body, leak) {
						t.Errorf("failure body %q contains %q", body, leak)
					}
				}
				if vends.Load() != 0 {
					t.Errorf("OnVend called for a failed request")
				}
			})
		}
	}
}

func TestEC2CredentialRotation(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	cur := testCreds()
	src := SourceFunc(func(context.Context, string, time.Time) (Credentials, error) {
		mu.Lock()
		defer mu.Unlock()
		return cur, nil
	})
	e, _ := newTestEC2(t, ec2Settings(), src)
	var d ec2Doc
	decodeStrict(t, get(t, e, credsPath+"/dev").Body.Bytes(), &d)
	if d.AccessKeyID != "ASIATESTACCESSKEY001" {
		t.Fatalf("first key %q", d.AccessKeyID)
	}
	mu.Lock()
	cur.AccessKeyID = "ASIATESTACCESSKEY002"
	cur.SessionToken = "rotated"
	cur.Expires = cur.Expires.Add(time.Hour)
	mu.Unlock()
	for _, path := range []string{credsPath + "/dev", credsExtPath + "/dev"} {
		d = ec2Doc{}
		decodeStrict(t, get(t, e, path).Body.Bytes(), &d)
		if d.AccessKeyID != "ASIATESTACCESSKEY002" || d.Token != "rotated" || d.Expiration != "2025-03-04T07:06:07Z" {
			t.Fatalf("%s after rotation: %+v", path, d)
		}
	}
}

func TestEC2OnVend(t *testing.T) {
	t.Parallel()
	type vend struct {
		profile string
		key     string
	}
	var mu sync.Mutex
	var got []vend
	e := NewEC2(staticSource(testCreds(), "dev"), ec2Settings(), Options{Logger: quietOpts.Logger,
		OnVend: func(r *http.Request, profile string, c Credentials, _ time.Time) {
			mu.Lock()
			got = append(got, vend{profile, c.AccessKeyID})
			mu.Unlock()
		}})
	e.now = newClock().Now
	tok := token(t, e, "300")
	h := map[string]string{tokenHeader: tok}
	for _, r := range []*http.Request{
		req("GET", credsPath+"/dev", h), req("GET", credsExtPath+"/dev/", h),
		req("HEAD", credsPath+"/dev", h), req("GET", credsPath+"/", h), req("GET", iamInfoPath, h),
	} {
		if w := serve(e, r); w.Code != 200 {
			t.Fatalf("%s %s: %d", r.Method, r.URL.Path, w.Code)
		}
	}
	want := []vend{{"dev", "ASIATESTACCESSKEY001"}, {"dev", "ASIATESTACCESSKEY001"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("vends %v, want %v (documents sent by GET only)", got, want)
	}
}

func TestEC2MethodNotAllowed(t *testing.T) {
	t.Parallel()
	e, _ := newTestEC2(t, ec2Settings(), nil)
	tok := token(t, e, "300")
	for _, path := range []string{credsPath + "/dev", credsPath + "/", metaPath + "/", metaPath + "/instance-id", "/latest/nope"} {
		for _, m := range []string{"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "FOO"} {
			w := serve(e, req(m, path, map[string]string{tokenHeader: tok, ttlHeader: "300"}))
			if w.Code != 405 || w.Header().Get("Allow") != "GET, HEAD" {
				t.Errorf("%s %s: %d Allow %q, want 405 with Allow GET, HEAD", m, path, w.Code, w.Header().Get("Allow"))
			}
			if strings.Contains(w.Body.String(), "Success") {
				t.Errorf("%s %s: body %q", m, path, w.Body)
			}
		}
	}
}

func TestEC2HEAD(t *testing.T) {
	t.Parallel()
	e, _ := newTestEC2(t, ec2Settings(), nil)
	for _, path := range []string{credsPath + "/dev", credsPath, metaPath + "/", placementPath + "/region"} {
		tok := token(t, e, "300")
		g := serve(e, req("GET", path, map[string]string{tokenHeader: tok}))
		h := serve(e, req("HEAD", path, map[string]string{tokenHeader: tok}))
		if h.Code != 200 || h.Body.Len() != 0 {
			t.Errorf("HEAD %s: %d with %d body bytes", path, h.Code, h.Body.Len())
		}
		if h.Header().Get("Content-Length") != fmt.Sprint(g.Body.Len()) || h.Header().Get("Content-Type") != g.Header().Get("Content-Type") {
			t.Errorf("HEAD %s headers %v differ from GET's %v", path, h.Header(), g.Header())
		}
	}
}

func TestEC2Metadata(t *testing.T) {
	t.Parallel()
	e, _ := newTestEC2(t, ec2Settings(), nil)
	tests := map[string]string{
		metaPath + "/instance-id":             "i-0123456789abcdef0",
		metaPath + "/instance-id/":            "i-0123456789abcdef0",
		placementPath + "/region":             "eu-west-1",
		placementPath + "/region/":            "eu-west-1",
		placementPath + "/availability-zone":  "eu-west-1a",
		placementPath + "/availability-zone/": "eu-west-1a",
		metaPath:                              "iam/\ninstance-id\nplacement/",
		metaPath + "/":                        "iam/\ninstance-id\nplacement/",
		iamPath + "/":                         "info\nsecurity-credentials/",
		iamPath:                               "info\nsecurity-credentials/",
		placementPath + "/":                   "availability-zone\nregion",
		"/":                                   "latest",
		"/latest":                             "dynamic\nmeta-data",
		"/latest/":                            "dynamic\nmeta-data",
		dynamicPath + "/":                     "instance-identity/",
		identityPath + "/":                    "document",
		credsPath + "/":                       "dev",
		credsExtPath:                          "dev",
	}
	for path, want := range tests {
		w := get(t, e, path)
		if w.Code != 200 || w.Body.String() != want {
			t.Errorf("%s: %d %q, want 200 %q", path, w.Code, w.Body, want)
		}
		if ct := w.Header().Get("Content-Type"); ct != "text/plain" {
			t.Errorf("%s: Content-Type %q", path, ct)
		}
	}
	for _, path := range []string{
		metaPath + "/nope", "/latest/user-data", "//latest/meta-data/instance-id", metaPath + "/instance-id/x",
		metaPath + "/instance-idx", "/latest/meta-data/../meta-data/instance-id", "/latest/api/token/",
		"/latest/dynamic/instance-identity/document/", "/latest/meta-data/iam/info/x",
	} {
		w := get(t, e, path)
		if w.Code != 404 || w.Header().Get("Content-Type") != "text/plain" {
			t.Errorf("%s: %d %q, want 404 text/plain", path, w.Code, w.Header().Get("Content-Type"))
		}
	}
}

// Every entry of every listing must lead somewhere: clients walk the tree.
func TestEC2ListingsAreServed(t *testing.T) {
	t.Parallel()
	e, _ := newTestEC2(t, ec2Settings(), nil)
	seen := map[string]bool{}
	var walk func(dir string)
	walk = func(dir string) {
		w := get(t, e, dir)
		if w.Code != 200 {
			t.Errorf("listed %s: status %d", dir, w.Code)
			return
		}
		if !strings.HasSuffix(dir, "/") {
			return
		}
		for _, entry := range strings.Split(w.Body.String(), "\n") {
			if entry == "" || strings.TrimSpace(entry) != entry {
				t.Errorf("%s: bad entry %q", dir, entry)
				continue
			}
			next := dir + entry
			// As on EC2, the two top levels list directories without "/".
			if !strings.HasSuffix(entry, "/") && (dir == "/" || dir == "/latest/") {
				next += "/"
			}
			if !seen[next] {
				seen[next] = true
				walk(next)
			}
		}
	}
	walk("/")
	for _, must := range []string{"/latest/meta-data/iam/info", "/latest/meta-data/placement/region", "/latest/dynamic/instance-identity/document"} {
		if !seen[must] {
			t.Errorf("%s is not reachable from the listings (saw %v)", must, seen)
		}
	}
}

func TestEC2IdentityDocument(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		src      Source
		wantAcct string
	}{
		"known account":    {nil, "123456789012"},
		"source fails":     {errSource(&UnavailableError{Profile: "dev", Message: "locked"}), "000000000000"},
		"unknown profile":  {errSource(ErrUnknownProfile), "000000000000"},
		"account from arn": {staticSource(Credentials{RoleArn: "arn:aws:iam::210987654321:role/x"}, "dev"), "210987654321"},
	} {
		t.Run(name, func(t *testing.T) {
			e, _ := newTestEC2(t, ec2Settings(), tc.src)
			w := get(t, e, identityPath+"/document")
			if w.Code != 200 {
				t.Fatalf("status %d", w.Code)
			}
			var doc map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
				t.Fatalf("%v in %q", err, w.Body)
			}
			want := map[string]string{
				"region": "eu-west-1", "accountId": tc.wantAcct, "instanceId": "i-0123456789abcdef0",
				"availabilityZone": "eu-west-1a", "version": "2017-09-30", "privateIp": "127.0.0.1",
			}
			for k, v := range want {
				if doc[k] != v {
					t.Errorf("%s = %v, want %q", k, doc[k], v)
				}
			}
			for _, k := range []string{"architecture", "imageId", "instanceType"} {
				if s, _ := doc[k].(string); s == "" {
					t.Errorf("%s missing", k)
				}
			}
			if s, _ := doc["pendingTime"].(string); !timeRE.MatchString(s) {
				t.Errorf("pendingTime %q", s)
			}
			if s, _ := doc["imageId"].(string); !strings.HasPrefix(s, "ami-") {
				t.Errorf("imageId %q", s)
			}
		})
	}
}

func TestEC2IAMInfo(t *testing.T) {
	t.Parallel()
	noAcct := testCreds()
	noAcct.AccountID = ""
	for name, tc := range map[string]struct {
		src      Source
		wantAcct string
	}{
		"known account":    {nil, "123456789012"},
		"account from arn": {staticSource(Credentials{RoleArn: "arn:aws:iam::210987654321:role/x"}, "dev"), "210987654321"},
		"bad arn":          {staticSource(Credentials{RoleArn: "arn:aws:iam::12:role/x"}, "dev"), "000000000000"},
		"unavailable":      {errSource(&UnavailableError{Profile: "dev", Message: "locked"}), "000000000000"},
	} {
		t.Run(name, func(t *testing.T) {
			e, _ := newTestEC2(t, ec2Settings(), tc.src)
			for _, path := range []string{iamInfoPath, iamInfoPath + "/"} {
				w := get(t, e, path)
				var info struct {
					Code, LastUpdated, InstanceProfileArn, InstanceProfileId string
				}
				decodeStrict(t, w.Body.Bytes(), &info)
				if w.Code != 200 || info.Code != "Success" || !timeRE.MatchString(info.LastUpdated) {
					t.Fatalf("%d %+v", w.Code, info)
				}
				if want := "arn:aws:iam::" + tc.wantAcct + ":instance-profile/dev"; info.InstanceProfileArn != want {
					t.Errorf("InstanceProfileArn %q, want %q", info.InstanceProfileArn, want)
				}
				if !regexp.MustCompile(`^AIPA[A-Z0-9]{17}$`).MatchString(info.InstanceProfileId) {
					t.Errorf("InstanceProfileId %q", info.InstanceProfileId)
				}
			}
		})
	}
}

// A Source stuck waiting for STS must not hold up pages that do not need
// credentials: they wait accountWait at most. In a synctest bubble the
// clock is the bubble's, so the bound is checked exactly and at no cost.
func TestEC2IdentityDoesNotBlock(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		block := SourceFunc(func(ctx context.Context, _ string, _ time.Time) (Credentials, error) {
			<-ctx.Done()
			return Credentials{}, ctx.Err()
		})
		e, _ := newTestEC2(t, ec2Settings(), block)
		for _, path := range []string{identityPath + "/document", iamInfoPath} {
			start := time.Now()
			w := get(t, e, path)
			if waited := time.Since(start); w.Code != 200 || waited > accountWait {
				t.Errorf("%s: %d after %v, want 200 within %v", path, w.Code, waited, accountWait)
			}
		}
		// The credential document itself waits for the request's context.
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		r := req("GET", credsPath+"/dev", map[string]string{tokenHeader: token(t, e, "300")}).WithContext(ctx)
		start := time.Now()
		if w := serve(e, r); w.Code != 503 || time.Since(start) != 50*time.Millisecond {
			t.Errorf("credential GET with a cancelled wait: %d after %v, want 503 after 50ms", w.Code, time.Since(start))
		}
	})
}

func TestEC2Update(t *testing.T) {
	t.Parallel()
	e, _ := newTestEC2(t, ec2Settings(), staticSource(testCreds(), "dev", "prod"))
	e.Update(EC2Settings{Profile: "prod", Region: "ap-south-1", InstanceID: "i-new", TokensRequired: false})
	for path, want := range map[string]string{
		credsPath:                 "prod",
		placementPath + "/region": "ap-south-1",
		metaPath + "/instance-id": "i-new",
	} {
		// Tokens are now optional: no token at all.
		w := serve(e, req("GET", path, nil))
		if w.Code != 200 || w.Body.String() != want {
			t.Errorf("%s: %d %q, want %q", path, w.Code, w.Body, want)
		}
	}
	if w := serve(e, req("GET", credsPath+"/dev", nil)); w.Code != 404 {
		t.Errorf("old role after Update: %d, want 404", w.Code)
	}
	if w := serve(e, req("GET", credsPath+"/prod", nil)); w.Code != 200 {
		t.Errorf("new role after Update: %d, want 200", w.Code)
	}
}

// Updates race with requests; run with -race. The updater runs until the
// readers are done, so every read overlaps updates.
func TestEC2ConcurrentUpdate(t *testing.T) {
	t.Parallel()
	e, _ := newTestEC2(t, ec2Settings(), staticSource(testCreds(), "dev", "prod"))
	tok := token(t, e, "300")
	stop := make(chan struct{})
	updated := make(chan struct{})
	go func() {
		defer close(updated)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			s := ec2Settings()
			if i%2 == 1 {
				s.Profile = "prod"
			}
			e.Update(s)
		}
	}()
	var readers sync.WaitGroup
	for range 4 {
		readers.Go(func() {
			for range 300 {
				w := serve(e, req("GET", credsPath+"/dev", map[string]string{tokenHeader: tok}))
				if w.Code != 200 && w.Code != 404 {
					t.Errorf("status %d during updates", w.Code)
					return
				}
			}
		})
	}
	readers.Wait()
	close(stop)
	<-updated
}

// Real IMDS always sends Content-Length; so must we, over real HTTP, for
// small and large documents and for HEAD.
func TestEC2ContentLength(t *testing.T) {
	t.Parallel()
	for _, size := range []int{10, 1900, 2100, 8000} {
		c := liveCreds("ASIALENGTH0000000001")
		c.SessionToken = strings.Repeat("t", size)
		e := NewEC2(staticSource(c, "dev"), ec2Settings(), quietOpts)
		srv := httptest.NewServer(e)
		tok := e.tokens.mint(time.Now(), 300)
		for _, method := range []string{"GET", "HEAD"} {
			r, _ := http.NewRequest(method, srv.URL+credsPath+"/dev", nil)
			r.Header.Set(tokenHeader, tok)
			resp, err := srv.Client().Do(r)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			want := len(renderEC2(c, time.Now()))
			if resp.StatusCode != 200 || resp.ContentLength != int64(want) || len(resp.TransferEncoding) != 0 {
				t.Errorf("%s with a %d-byte token: status %d, Content-Length %d (want %d), Transfer-Encoding %v",
					method, size, resp.StatusCode, resp.ContentLength, want, resp.TransferEncoding)
			}
			if method == "GET" && len(body) != want {
				t.Errorf("GET body %d bytes, want %d", len(body), want)
			}
		}
		srv.Close()
	}
}

// A role replaced by a reload keeps answering (unlisted) while it is in
// Also, with its own credentials.
func TestEC2AlsoRoles(t *testing.T) {
	t.Parallel()
	src := SourceFunc(func(_ context.Context, p string, _ time.Time) (Credentials, error) {
		c := testCreds()
		switch p {
		case "old":
			c.AccessKeyID = "ASIAOLDROLEKEY000001"
		case "dev":
		default:
			return Credentials{}, ErrUnknownProfile
		}
		return c, nil
	})
	s := ec2Settings()
	also := []string{"old"}
	s.Also = also
	e, _ := newTestEC2(t, s, src)
	also[0] = "dev2" // Update must not keep the caller's slice
	if w := get(t, e, credsPath+"/"); w.Body.String() != "dev" {
		t.Errorf("listing %q, want only the served role", w.Body)
	}
	for path, key := range map[string]string{
		credsPath + "/old": "ASIAOLDROLEKEY000001", credsPath + "/old/": "ASIAOLDROLEKEY000001",
		credsExtPath + "/old": "ASIAOLDROLEKEY000001", credsPath + "/dev": "ASIATESTACCESSKEY001",
		credsExtPath + "/dev": "ASIATESTACCESSKEY001",
	} {
		var d ec2Doc
		w := get(t, e, path)
		decodeStrict(t, w.Body.Bytes(), &d)
		if w.Code != 200 || d.AccessKeyID != key {
			t.Errorf("%s: %d key %q, want %q", path, w.Code, d.AccessKeyID, key)
		}
	}
	if w := get(t, e, credsPath+"/dev2"); w.Code != 404 {
		t.Errorf("role outside Also: %d", w.Code)
	}
	s.Also = nil
	e.Update(s)
	if w := get(t, e, credsPath+"/old"); w.Code != 404 {
		t.Errorf("old role after its grace period: %d, want 404", w.Code)
	}
}
