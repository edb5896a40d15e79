package imds

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

const ecsToken = "s3cr3t-ecs-token-0123456789abcdefghijklmnop"

func ecsSettings() ECSSettings {
	return ECSSettings{DefaultProfile: "dev", Profiles: []string{"prod", "ci"}, Token: ecsToken}
}

// perProfileSource gives each profile its own access key so tests can tell
// which profile was served.
func perProfileSource(profiles ...string) Source {
	return SourceFunc(func(_ context.Context, p string, _ time.Time) (Credentials, error) {
		for _, q := range profiles {
			if p == q {
				c := testCreds()
				c.AccessKeyID = "ASIA" + strings.ToUpper(p)
				return c, nil
			}
		}
		return Credentials{}, ErrUnknownProfile
	})
}

func newTestECS(t testing.TB, s ECSSettings, src Source) *ECS {
	t.Helper()
	if src == nil {
		src = perProfileSource("dev", "prod", "ci")
	}
	e := NewECS(src, s, quietOpts)
	e.now = newClock().Now
	return e
}

func ecsReq(method, path, auth string) *http.Request {
	r := req(method, path, nil)
	r.Host = "169.254.170.2"
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	return r
}

type ecsDoc struct {
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string
	Token           string
	Expiration      string
	RoleArn         *string
	AccountID       *string `json:"AccountId"`
}

func TestECSCredentials(t *testing.T) {
	t.Parallel()
	e := newTestECS(t, ecsSettings(), nil)
	for path, wantKey := range map[string]string{
		"/creds": "ASIADEV", "/role/dev": "ASIADEV", "/role/prod": "ASIAPROD", "/role/ci": "ASIACI",
	} {
		w := serve(e, ecsReq("GET", path, ecsToken))
		if w.Code != 200 {
			t.Fatalf("%s: %d %q", path, w.Code, w.Body)
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", path, ct)
		}
		var d ecsDoc
		decodeStrict(t, w.Body.Bytes(), &d)
		c := testCreds()
		if d.AccessKeyID != wantKey || d.SecretAccessKey != c.SecretAccessKey || d.Token != c.SessionToken {
			t.Errorf("%s: %+v", path, d)
		}
		if d.Expiration != "2025-03-04T06:06:07Z" {
			t.Errorf("%s: Expiration %q", path, d.Expiration)
		}
		if d.RoleArn == nil || *d.RoleArn != c.RoleArn || d.AccountID == nil || *d.AccountID != c.AccountID {
			t.Errorf("%s: RoleArn %v AccountId %v", path, d.RoleArn, d.AccountID)
		}
	}

	c := testCreds()
	c.RoleArn, c.AccountID = "", ""
	e = newTestECS(t, ecsSettings(), staticSource(c, "dev"))
	var m map[string]any
	if err := json.Unmarshal(serve(e, ecsReq("GET", "/creds", ecsToken)).Body.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"RoleArn", "AccountId"} {
		if _, ok := m[k]; ok {
			t.Errorf("%s present though empty: %v", k, m)
		}
	}
}

// checkECSError asserts the error shape both Go v2 and JS can read.
func checkECSError(t *testing.T, w *httptest.ResponseRecorder, status int) map[string]string {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d (body %q)", w.Code, status, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want exactly application/json", ct)
	}
	var m map[string]string
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("error body %q: %v", w.Body, err)
	}
	for _, k := range []string{"code", "message", "Code", "Message"} {
		if m[k] == "" {
			t.Errorf("error body lacks %q: %v", k, m)
		}
	}
	if m["code"] != m["Code"] || m["message"] != m["Message"] {
		t.Errorf("spellings disagree: %v", m)
	}
	for _, leak := range []string{"AccessKeyId", testCreds().SecretAccessKey, ecsToken} {
		if strings.Contains(w.Body.String(), leak) {
			t.Errorf("error body contains %q", leak)
		}
	}
	return m
}

func TestECSUnauthorized(t *testing.T) {
	t.Parallel()
	e := newTestECS(t, ecsSettings(), nil)
	for name, auth := range map[string]string{
		"missing":   "",
		"wrong":     "nope",
		"bearer":    "Bearer " + ecsToken,
		"prefix":    ecsToken[:len(ecsToken)-1],
		"suffix":    ecsToken + "x",
		"case":      strings.ToUpper(ecsToken),
		"spaces":    " " + ecsToken + "x",
		"very long": strings.Repeat("A", 7000),
	} {
		// Unknown profiles too: no token, no hint of what exists.
		for _, path := range []string{"/creds", "/role/dev", "/role/unknown", "/role/a/b"} {
			t.Run(name+path, func(t *testing.T) {
				checkECSError(t, serve(e, ecsReq("GET", path, auth)), 401)
			})
		}
	}

	r := ecsReq("GET", "/creds", ecsToken)
	r.Header.Add("Authorization", ecsToken)
	t.Run("duplicate header", func(t *testing.T) { checkECSError(t, serve(e, r), 401) })

	s := ecsSettings()
	s.Token = ""
	empty := newTestECS(t, s, nil)
	r = ecsReq("GET", "/creds", "")
	r.Header["Authorization"] = []string{""}
	t.Run("no token configured", func(t *testing.T) { checkECSError(t, serve(empty, r), 401) })
	t.Run("no token configured, none sent", func(t *testing.T) {
		checkECSError(t, serve(empty, ecsReq("GET", "/creds", "")), 401)
	})
}

func TestECSNotFound(t *testing.T) {
	t.Parallel()
	e := newTestECS(t, ecsSettings(), nil)
	for _, path := range []string{"/role/unknown", "/role/", "/role/dev/", "/role/DEV", "/role/dev/x", "/role/../creds"} {
		m := checkECSError(t, serve(e, ecsReq("GET", path, ecsToken)), 404)
		if path == "/role/unknown" && !strings.Contains(m["message"], "unknown") {
			t.Errorf("message %q does not name the profile", m["message"])
		}
	}
	for _, path := range []string{"/", "/creds/", "/role", "/credsx", "/latest/meta-data/", "//creds"} {
		checkECSError(t, serve(e, ecsReq("GET", path, ecsToken)), 404)
	}
	// A configured profile that the Source does not know.
	e = newTestECS(t, ecsSettings(), perProfileSource("dev"))
	checkECSError(t, serve(e, ecsReq("GET", "/role/prod", ecsToken)), 404)
	// No default profile: /creds has nothing to serve.
	s := ecsSettings()
	s.DefaultProfile = ""
	e = newTestECS(t, s, nil)
	checkECSError(t, serve(e, ecsReq("GET", "/creds", ecsToken)), 404)
	if w := serve(e, ecsReq("GET", "/role/prod", ecsToken)); w.Code != 200 {
		t.Errorf("/role/prod without default: %d", w.Code)
	}
}

func TestECSMethodNotAllowed(t *testing.T) {
	t.Parallel()
	e := newTestECS(t, ecsSettings(), nil)
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"} {
		for _, path := range []string{"/creds", "/role/dev"} {
			w := serve(e, ecsReq(m, path, ecsToken))
			if w.Code != 405 || w.Header().Get("Allow") != "GET" {
				t.Errorf("%s %s: %d Allow %q", m, path, w.Code, w.Header().Get("Allow"))
			}
			if m != "HEAD" {
				checkECSError(t, w, 405)
			}
		}
	}
}

func TestECSSourceFailures(t *testing.T) {
	t.Parallel()
	expired := testCreds()
	expired.Expires = t0.Add(-time.Minute)
	noToken := testCreds()
	noToken.SessionToken = ""
	for name, tc := range map[string]struct {
		src  Source
		want string
	}{
		"unavailable": {errSource(&UnavailableError{Profile: "dev", Message: "run imdsd unlock"}), "run imdsd unlock"},
		"other":       {errSource(errors.New("sts: throttled")), "sts: throttled"},
		"expired":     {staticSource(expired, "dev"), "expired"},
		"no token":    {staticSource(noToken, "dev"), "incomplete"},
	} {
		t.Run(name, func(t *testing.T) {
			vended := false
			e := NewECS(tc.src, ecsSettings(), Options{Logger: quietOpts.Logger,
				OnVend: func(*http.Request, string, Credentials, time.Time) { vended = true }})
			e.now = newClock().Now
			m := checkECSError(t, serve(e, ecsReq("GET", "/creds", ecsToken)), 503)
			if !strings.Contains(m["message"], tc.want) {
				t.Errorf("message %q does not say %q", m["message"], tc.want)
			}
			if vended {
				t.Error("OnVend called for a failure")
			}
		})
	}
}

func TestECSOnVendAndUpdate(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var vends []string
	e := NewECS(perProfileSource("dev", "prod", "ci", "new"), ecsSettings(), Options{Logger: quietOpts.Logger,
		OnVend: func(_ *http.Request, p string, c Credentials, _ time.Time) {
			mu.Lock()
			vends = append(vends, p+"="+c.AccessKeyID)
			mu.Unlock()
		}})
	e.now = newClock().Now
	serve(e, ecsReq("GET", "/creds", ecsToken))
	serve(e, ecsReq("GET", "/role/prod", ecsToken))
	if got := strings.Join(vends, ","); got != "dev=ASIADEV,prod=ASIAPROD" {
		t.Errorf("vends %q", got)
	}

	profiles := []string{"new"}
	e.Update(ECSSettings{DefaultProfile: "ci", Profiles: profiles, Token: "t2"})
	profiles[0] = "dev" // Update must not keep the caller's slice
	if w := serve(e, ecsReq("GET", "/creds", ecsToken)); w.Code != 401 {
		t.Errorf("old token after Update: %d", w.Code)
	}
	for path, want := range map[string]int{"/creds": 200, "/role/new": 200, "/role/prod": 404, "/role/dev": 404} {
		if w := serve(e, ecsReq("GET", path, "t2")); w.Code != want {
			t.Errorf("%s after Update: %d, want %d", path, w.Code, want)
		}
	}
}
