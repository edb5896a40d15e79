package daemon

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imdsd/imdsd/test/fakesso"
)

// watching waits until the daemon's file watcher has taken its first look
// (it starts after Ready): a change made before that is part of what it
// starts from, not an event it reports.
func watching(t *testing.T, e *testEnv) {
	t.Helper()
	waitFor(t, patience, func() bool {
		e.d.mu.Lock()
		defer e.d.mu.Unlock()
		return e.d.watcher != nil
	}, "the file watcher did not start")
}

// ssoCache is the token cache file of sso-session corp under home.
func ssoCache(home string) string {
	sum := sha1.Sum([]byte("corp"))
	return filepath.Join(home, ".aws", "sso", "cache", hex.EncodeToString(sum[:])+".json")
}

// ageToken sets the cached token's expiry as time passing would, keeping
// the rest of the file; it returns the access token it held.
func ageToken(t *testing.T, cache string, expires time.Time) string {
	t.Helper()
	var tok map[string]any
	data, err := os.ReadFile(cache)
	must(t, err)
	must(t, json.Unmarshal(data, &tok))
	tok["expiresAt"] = expires.UTC().Format(time.RFC3339)
	data, _ = json.Marshal(tok)
	writeAtomic(t, cache, string(data))
	return tok["accessToken"].(string)
}

func cachedAccessToken(t *testing.T, cache string) string {
	t.Helper()
	return cachedField(t, cache, "accessToken")
}

func cachedField(t *testing.T, cache, key string) string {
	t.Helper()
	var tok map[string]any
	data, err := os.ReadFile(cache)
	must(t, err)
	must(t, json.Unmarshal(data, &tok))
	s, _ := tok[key].(string)
	return s
}

// poll has n clients fetch the profile's credentials from ECS until stop,
// and counts the answers that were not 200.
func poll(e *testEnv, n int, path string, stop <-chan struct{}) (wait func() (ok, bad int64, firstBad string)) {
	var good, failed atomic.Int64
	var mu sync.Mutex
	first := ""
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				// Not e.get: a client goroutine must not end the test.
				req, _ := http.NewRequest(http.MethodGet, e.ecsURL+path, nil)
				req.Header.Set("Authorization", e.token)
				resp, err := e.hc.Do(req)
				body := ""
				if err == nil {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						good.Add(1)
						continue
					}
					body = string(b)
				} else {
					body = err.Error()
				}
				failed.Add(1)
				mu.Lock()
				if first == "" {
					first = body
				}
				mu.Unlock()
			}
		})
	}
	return func() (int64, int64, string) {
		wg.Wait()
		return good.Load(), failed.Load(), first
	}
}

// The daemon renews the SSO token ahead of expiry, again and again, with
// no sign-in and without clients ever seeing an error; the role
// credentials keep coming from the portal with each new token.
func TestSSOTokenRenewedSilentlyAcrossExpiries(t *testing.T) {
	fake, home := startFakeSSO(t)
	e := startEnv(t, envOptions{awsConfig: ssoAWSConfig, imdsdTOML: `profile = "sso"`, ecsTOML: `profiles = ["sso"]`, watch: true})
	watching(t, e)
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	ssoLogin(ctx, t, e, fake)
	if _, err := e.client().Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	signIns, tokens := fake.Calls("StartDeviceAuthorization"), fake.Calls("CreateToken")
	cache := ssoCache(home)
	secrets := []string{cachedAccessToken(t, cache)}

	stop := make(chan struct{})
	wait := poll(e, 8, "/role/sso", stop)
	stopped := sync.OnceFunc(func() { close(stop) })
	defer stopped()
	for i := 1; i <= 3; i++ {
		// 10 minutes left (the third time: already expired), as the clock
		// would have it: inside the daemon's 20-minute window, so it renews.
		left := 10 * time.Minute
		if i == 3 {
			left = -time.Minute
		}
		old := ageToken(t, cache, time.Now().Add(left))
		waitFor(t, patience, func() bool { return fake.Calls("CreateToken") == tokens+i && cachedAccessToken(t, cache) != old }, "the daemon did not renew the SSO token")
		if !fake.TokenValid(cachedAccessToken(t, cache)) {
			t.Fatalf("renewal %d: the cache file holds a token the service does not know", i)
		}
		secrets = append(secrets, cachedAccessToken(t, cache), cachedField(t, cache, "refreshToken"), cachedField(t, cache, "clientSecret"))
		// New role credentials come with the renewed token.
		res, err := e.client().Refresh(ctx)
		if err != nil || len(res) != 1 || res[0].Error != "" {
			t.Fatalf("renewal %d: refresh %v %+v", i, err, res)
		}
	}
	stopped()
	good, bad, first := wait()
	if bad != 0 || good == 0 {
		t.Fatalf("clients got %d errors (first: %q) and %d credentials across the renewals, want no error", bad, first, good)
	}
	if n := fake.Calls("StartDeviceAuthorization"); n != signIns {
		t.Fatalf("%d sign-in flows after the first, want none", n-signIns)
	}
	if n := fake.Calls("CreateToken"); n != tokens+3 {
		t.Fatalf("CreateToken called %d times for 3 renewals", n-tokens)
	}
	st, err := e.client().Status(ctx)
	must(t, err)
	if len(st.SSOSessions) != 1 || st.SSOSessions[0].Renewals != 3 || !st.SSOSessions[0].Renews || st.SSOSessions[0].Name != "corp" {
		t.Fatalf("status SSO sessions %+v, want corp renewed 3 times", st.SSOSessions)
	}
	stJSON, _ := json.Marshal(st)
	for _, sec := range secrets {
		if sec == "" || strings.Contains(e.logs.String(), sec) || strings.Contains(string(stJSON), sec) {
			t.Fatalf("a token or client secret (%d chars) is missing from the cache or shows in the log or status", len(sec))
		}
	}
}

const ssoAdminAWSConfig = ssoAWSConfig + `
[profile sso-admin]
sso_session = corp
sso_account_id = ` + account + `
sso_role_name = Admin
`

// When the Identity Center session ends, the daemon tries one renewal,
// tells the user once, and every client of a profile without credentials
// gets a 503 naming the command, at no cost to the service: 200 clients
// cause no refresh and no sign-in flow. `imdsd login` then serves every
// profile again, with no restart.
func TestSSOSessionEndOnePromptNoStormThenLogin(t *testing.T) {
	fake, home := startFakeSSO(t)
	fake.AddRole(account, "Admin")
	var mu sync.Mutex
	var notes []string
	e := startEnv(t, envOptions{awsConfig: ssoAdminAWSConfig, imdsdTOML: `profile = "sso"`, watch: true, tune: func(o *Options) {
		o.Notify = func(_ context.Context, title, msg string) error {
			mu.Lock()
			defer mu.Unlock()
			notes = append(notes, title+": "+msg)
			return nil
		}
	}})
	watching(t, e)
	notified := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), notes...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	ssoLogin(ctx, t, e, fake)
	if res, err := e.client().Refresh(ctx); err != nil || res[0].Error != "" {
		t.Fatalf("refresh after login: %v %+v", err, res)
	}

	// The session ends at Identity Center, and the token runs out.
	fake.EndSessions()
	tokens := fake.Calls("CreateToken")
	ageToken(t, ssoCache(home), time.Now().Add(-time.Minute))
	waitFor(t, patience, func() bool { return len(notified()) == 1 }, "the user was not told the session ended")
	if got := notified()[0]; !strings.Contains(got, "run `imdsd login --sso-session corp`") {
		t.Fatalf("notification %q, want the command", got)
	}
	waitFor(t, patience, func() bool {
		st, err := e.client().Status(ctx)
		return err == nil && len(st.SSOSessions) == 1 && st.SSOSessions[0].Ended
	}, "status does not show the session ended")
	if n := fake.Calls("CreateToken"); n != tokens+1 {
		t.Fatalf("%d refresh attempts when the session ended, want 1", n-tokens)
	}

	// A profile of the session that has no credentials yet is served now
	// (imdsd use, an ECS role): it fails fast.
	e.writeConfig(`profile = "sso"`, `profiles = ["sso-admin"]`)
	waitFor(t, patience, func() bool {
		code, _ := e.get(e.ecsURL+"/role/sso-admin", map[string]string{"Authorization": e.token})
		return code == http.StatusServiceUnavailable
	}, "sso-admin was not served after the reload")

	signIns, tokens, roles := fake.Calls("StartDeviceAuthorization"), fake.Calls("CreateToken"), fake.Calls("GetRoleCredentials")
	var wg sync.WaitGroup
	var withCommand atomic.Int32
	var other atomic.Value
	for range 200 {
		wg.Go(func() {
			code, body := e.get(e.ecsURL+"/role/sso-admin", map[string]string{"Authorization": e.token})
			if code == http.StatusServiceUnavailable && strings.Contains(body, "run `imdsd login --sso-session corp`") {
				withCommand.Add(1)
			} else {
				other.Store(body)
			}
		})
	}
	wg.Wait()
	if withCommand.Load() != 200 {
		t.Fatalf("%d of 200 clients got 503 with the command; another got %q", withCommand.Load(), other.Load())
	}
	// Brokers retried meanwhile (every 50-200 ms here): each failed fast.
	if res, err := e.client().Refresh(ctx); err != nil || len(res) != 2 {
		t.Fatalf("refresh: %v %+v", err, res)
	}
	if n, m, r := fake.Calls("CreateToken")-tokens, fake.Calls("StartDeviceAuthorization")-signIns, fake.Calls("GetRoleCredentials")-roles; n != 0 || m != 0 || r != 0 {
		t.Fatalf("during the storm: %d refresh attempts, %d sign-in flows, %d portal calls; want none", n, m, r)
	}
	if got := notified(); len(got) != 1 {
		t.Fatalf("%d notifications for one expiry", len(got))
	}

	// imdsd login: every client is served again, no restart.
	ssoLogin(ctx, t, e, fake)
	waitFor(t, patience, func() bool {
		code, _ := e.get(e.ecsURL+"/role/sso-admin", map[string]string{"Authorization": e.token})
		return code == http.StatusOK
	}, "sso-admin was not served after the new sign-in")
	c, err := e.ecsCreds(ctx, "/role/sso-admin")
	must(t, err)
	if issued, ok := fake.Issued(c.AccessKeyID); !ok || issued.RoleName != "Admin" {
		t.Fatalf("ECS served %s, which the portal did not issue for Admin", c.AccessKeyID)
	}
	st, err := e.client().Status(ctx)
	must(t, err)
	if ss := st.SSOSessions; len(ss) != 1 || ss[0].Ended || !ss[0].Renews || strings.Join(ss[0].Profiles, ",") != "sso,sso-admin" {
		t.Fatalf("status after the new sign-in: %+v", ss)
	}
	if got := notified(); len(got) != 1 {
		t.Fatalf("notifications %q, want still the one", got)
	}
	_ = fakesso.Approve
}

// Lock drops the SSO session managers with the brokers: a locked daemon
// renews no token (it holds no refresh token) and shows no session;
// unlock manages the sign-in again from the cache file.
func TestLockStopsSSORenewals(t *testing.T) {
	fake, home := startFakeSSO(t)
	e := startEnv(t, envOptions{awsConfig: ssoAWSConfig, imdsdTOML: `profile = "sso"`, ecsTOML: `profiles = ["sso"]`, watch: true})
	watching(t, e)
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	ssoLogin(ctx, t, e, fake)
	if _, err := e.client().Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client().Lock(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := e.client().Status(ctx)
	must(t, err)
	if len(st.SSOSessions) != 0 {
		t.Fatalf("a locked daemon still manages %+v", st.SSOSessions)
	}
	tokens := fake.Calls("CreateToken")
	cache := ssoCache(home)
	old := ageToken(t, cache, time.Now().Add(10*time.Minute)) // inside the renewal window
	if _, err := e.client().Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	// The unlocked daemon manages the sign-in again and renews it.
	waitFor(t, patience, func() bool { return fake.Calls("CreateToken") == tokens+1 && cachedAccessToken(t, cache) != old },
		"the unlocked daemon did not renew the SSO token")
	st, err = e.client().Status(ctx)
	must(t, err)
	if len(st.SSOSessions) != 1 || st.SSOSessions[0].Name != "corp" {
		t.Fatalf("after unlock, SSO sessions %+v", st.SSOSessions)
	}
}
