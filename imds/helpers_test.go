package imds

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"
	"time"
)

// t0 is the fixed start of the test clock.
var t0 = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

// clock is a settable clock for token and expiry tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: t0} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testCreds are the credentials the fake source hands out.
func testCreds() Credentials {
	return Credentials{
		AccessKeyID:     "ASIATESTACCESSKEY001",
		SecretAccessKey: "secret/with+chars=",
		SessionToken:    "FwoGZXIvYXdzE\"quoted\"\\back+slash/token==",
		Expires:         t0.Add(time.Hour + 500*time.Millisecond),
		LastUpdated:     t0.Add(-time.Minute),
		AccountID:       "123456789012",
		RoleArn:         "arn:aws:iam::123456789012:role/dev",
	}
}

// staticSource serves c for the profiles listed, ErrUnknownProfile otherwise.
func staticSource(c Credentials, profiles ...string) Source {
	return SourceFunc(func(_ context.Context, profile string, _ time.Time) (Credentials, error) {
		for _, p := range profiles {
			if p == profile {
				return c, nil
			}
		}
		return Credentials{}, ErrUnknownProfile
	})
}

func errSource(err error) Source {
	return SourceFunc(func(context.Context, string, time.Time) (Credentials, error) { return Credentials{}, err })
}

var quietOpts = Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}

func ec2Settings() EC2Settings {
	return EC2Settings{Profile: "dev", Region: "eu-west-1", TokensRequired: true, InstanceID: "i-0123456789abcdef0"}
}

// newTestEC2 returns an EC2 face on the test clock serving testCreds as "dev".
func newTestEC2(t testing.TB, s EC2Settings, src Source) (*EC2, *clock) {
	t.Helper()
	if src == nil {
		src = staticSource(testCreds(), "dev")
	}
	e := NewEC2(src, s, quietOpts)
	c := newClock()
	e.now = c.Now
	return e, c
}

// req builds a request from a loopback client to the IMDS address.
func req(method, target string, hdr map[string]string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	r.RemoteAddr = "127.0.0.1:40000"
	r.Host = "169.254.169.254"
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	return r
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// token gets a token from e through its PUT endpoint.
func token(t testing.TB, e http.Handler, ttl string) string {
	t.Helper()
	w := serve(e, req(http.MethodPut, tokenPath, map[string]string{ttlHeader: ttl}))
	if w.Code != http.StatusOK {
		t.Fatalf("token PUT: status %d, body %q", w.Code, w.Body)
	}
	return w.Body.String()
}

// ec2Doc is the EC2 credential document as clients decode it.
type ec2Doc struct {
	Code            string
	LastUpdated     string
	Type            string
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string
	Token           string
	Expiration      string
	AccountID       *string `json:"AccountId"`
}

func decodeStrict(t *testing.T, body []byte, v any) {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		t.Fatalf("decode %q: %v", body, err)
	}
}

// heapInUse is the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
