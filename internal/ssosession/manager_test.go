package ssosession

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/imdsd/imdsd/internal/ssologin"
)

// fakeOIDC answers refresh_token grants as the test says and counts them.
type fakeOIDC struct {
	calls atomic.Int32
	life  time.Duration
	fail  func(n int32) error // nil: succeed
	mu    sync.Mutex
	seen  []Grant
}

func (f *fakeOIDC) refresh(_ context.Context, g Grant) (Token, error) {
	n := f.calls.Add(1)
	f.mu.Lock()
	f.seen = append(f.seen, g)
	f.mu.Unlock()
	if f.fail != nil {
		if err := f.fail(n); err != nil {
			return Token{}, err
		}
	}
	return Token{AccessToken: fmt.Sprintf("access-%d", n), RefreshToken: fmt.Sprintf("refresh-%d", n), ExpiresIn: f.life}, nil
}

// notes records notifications.
type notes struct {
	mu  sync.Mutex
	got []string
}

func (n *notes) notify(_ context.Context, title, msg string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.got = append(n.got, title+": "+msg)
	return nil
}

func (n *notes) list() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.got...)
}

// writeToken writes a cache file as the AWS CLI does, plus a field of
// some other tool's that a renewal must keep.
func writeToken(t *testing.T, path, access string, expires time.Time, refresh string) {
	t.Helper()
	f := map[string]any{
		"startUrl": "https://example.awsapps.com/start", "region": "eu-west-1",
		"accessToken": access, "expiresAt": expires.UTC().Format(time.RFC3339),
		"otherToolField": "kept",
	}
	if refresh != "" {
		f["clientId"], f["clientSecret"], f["refreshToken"] = "client", "secret", refresh
		f["registrationExpiresAt"] = expires.Add(90 * 24 * time.Hour).UTC().Format(time.RFC3339)
	}
	data, _ := json.Marshal(f)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func readToken(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f map[string]string
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

func newManager(t *testing.T, o Options) *Manager {
	t.Helper()
	if o.Session == "" && o.Profile == "" {
		o.Session = "corp"
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	m := New(o)
	m.Start()
	t.Cleanup(m.Stop)
	return m
}

// The token is renewed 20 minutes before it expires, every time, with
// every other field of the file kept; profiles pass the gate throughout.
func TestRenewsAheadOfExpiryEveryTime(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "corp.json")
		writeToken(t, path, "access-0", time.Now().Add(time.Hour), "refresh-0")
		oidc := &fakeOIDC{life: time.Hour}
		m := newManager(t, Options{CacheFile: path, Refresh: oidc.refresh})
		ctx := context.Background()

		time.Sleep(time.Hour - DefaultAhead - time.Minute)
		synctest.Wait()
		if n := oidc.calls.Load(); n != 0 {
			t.Fatalf("%d refreshes with 21 minutes left, want none yet", n)
		}
		expires := time.Now().Add(DefaultAhead + time.Minute)
		for i := 1; i <= 5; i++ {
			time.Sleep(2 * time.Minute) // now 19 minutes before expiry
			synctest.Wait()
			if n := oidc.calls.Load(); n != int32(i) {
				t.Fatalf("expiry %d: %d refreshes, want %d", i, n, i)
			}
			f := readToken(t, path)
			// Renewed when 20 minutes were left, for the hour it lasts.
			expires = expires.Add(-DefaultAhead + time.Hour)
			want := expires.UTC().Format(time.RFC3339)
			if f["accessToken"] != fmt.Sprintf("access-%d", i) || f["expiresAt"] != want || f["refreshToken"] != fmt.Sprintf("refresh-%d", i) {
				t.Fatalf("expiry %d: cache file %v, want the renewed token expiring at %s", i, f, want)
			}
			if f["otherToolField"] != "kept" || f["clientSecret"] != "secret" || f["startUrl"] == "" {
				t.Fatalf("expiry %d: the renewal lost fields of the file: %v", i, f)
			}
			if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
				t.Fatalf("cache file mode %v, want 0600", fi.Mode().Perm())
			}
			if err := m.Check(ctx); err != nil {
				t.Fatalf("expiry %d: gate: %v", i, err)
			}
			time.Sleep(time.Until(expires) - DefaultAhead - time.Minute)
			synctest.Wait()
		}
		// Each grant used the refresh token of the one before (rotation).
		for i, g := range oidc.seen {
			if g.RefreshToken != fmt.Sprintf("refresh-%d", i) || g.ClientID != "client" || g.ClientSecret != "secret" {
				t.Fatalf("grant %d sent %+v", i, g.RefreshToken)
			}
		}
		if st := m.Status(); st.Refreshes != 5 || !st.Renews || st.Dead {
			t.Fatalf("status %+v", st)
		}
	})
}

// A refused refresh (expired or revoked refresh token) is tried once:
// the user is told once, the session dies at the token's expiry, and any
// number of profiles then fail fast with the command, calling nothing. A
// new sign-in revives it; the next expiry is told again.
func TestRefusedRefreshTellsOnceThenFailsFast(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "corp.json")
		writeToken(t, path, "access-0", time.Now().Add(10*time.Minute), "refresh-0")
		oidc := &fakeOIDC{life: time.Hour, fail: func(int32) error {
			return fmt.Errorf("%w: InvalidGrantException", ssologin.ErrSignInNeeded)
		}}
		var n notes
		m := newManager(t, Options{CacheFile: path, Refresh: oidc.refresh, Notify: n.notify})
		ctx := context.Background()
		synctest.Wait()
		if c := oidc.calls.Load(); c != 1 {
			t.Fatalf("%d refresh attempts, want 1", c)
		}
		if got := n.list(); len(got) != 1 || !strings.Contains(got[0], "run `imdsd login --sso-session corp`") {
			t.Fatalf("notifications %q, want one with the command", got)
		}
		// The token still works until it expires.
		if err := m.Check(ctx); err != nil {
			t.Fatalf("gate with 10 minutes left: %v", err)
		}
		time.Sleep(11 * time.Minute)
		synctest.Wait()
		var wg sync.WaitGroup
		var failed atomic.Int32
		for range 200 {
			wg.Go(func() {
				var se *SignInError
				if err := m.Check(ctx); errors.As(err, &se) && strings.Contains(err.Error(), "run `imdsd login --sso-session corp`") {
					failed.Add(1)
				}
			})
		}
		wg.Wait()
		if failed.Load() != 200 {
			t.Fatalf("%d of 200 checks failed with the command, want all", failed.Load())
		}
		time.Sleep(3 * time.Hour)
		synctest.Wait()
		if c, got := oidc.calls.Load(), n.list(); c != 1 || len(got) != 1 {
			t.Fatalf("after 3 hours dead: %d refresh attempts and %d notifications, want 1 and 1", c, len(got))
		}
		if st := m.Status(); !st.Dead || st.Renews {
			t.Fatalf("status %+v, want dead", st)
		}

		// imdsd login writes a new token: served again, no restart.
		oidc.fail = nil
		writeToken(t, path, "signed-in-again", time.Now().Add(8*time.Hour), "refresh-new")
		m.Changed()
		if err := m.Check(ctx); err != nil {
			t.Fatalf("gate after a new sign-in: %v", err)
		}
		if st := m.Status(); st.Dead || !st.Renews {
			t.Fatalf("status after a new sign-in %+v", st)
		}
		// Its renewal ahead of expiry works again.
		time.Sleep(8*time.Hour - DefaultAhead + time.Minute)
		synctest.Wait()
		if c := oidc.calls.Load(); c != 2 {
			t.Fatalf("%d refresh attempts, want 2 (the renewal of the new sign-in)", c)
		}
		if got := n.list(); len(got) != 1 {
			t.Fatalf("notifications %q after a good renewal", got)
		}
	})
}

// A legacy profile's token (no refresh token) cannot be renewed: nothing
// is called, and at its expiry the user is told once with the profile's
// command.
func TestUnrenewableTokenDiesAtExpiry(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "legacy.json")
		writeToken(t, path, "access-0", time.Now().Add(2*time.Hour), "")
		oidc := &fakeOIDC{life: time.Hour}
		var n notes
		m := newManager(t, Options{Profile: "old", StartURL: "https://example.awsapps.com/start", CacheFile: path, Refresh: oidc.refresh, Notify: n.notify})
		time.Sleep(2*time.Hour - 30*time.Second)
		synctest.Wait()
		err := m.Check(context.Background())
		if _, ok := err.(*SignInError); !ok || !strings.Contains(err.Error(), "run `imdsd login --profile old`") {
			t.Fatalf("gate 30 s before expiry: %v, want the sign-in command (the SDK must not be handed it)", err)
		}
		if got := n.list(); len(got) != 0 {
			t.Fatalf("told before the expiry: %q", got)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if got := n.list(); len(got) != 1 || !strings.Contains(got[0], "imdsd login --profile old") {
			t.Fatalf("notifications %q, want one naming the profile's command", got)
		}
		if c := oidc.calls.Load(); c != 0 {
			t.Fatalf("%d refresh calls without a refresh token", c)
		}
	})
}

// A renewal that fails for a passing reason (network) is retried with
// backoff, without telling the user; profiles keep working while the
// token lasts.
func TestTransientRenewalFailureIsRetried(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "corp.json")
		writeToken(t, path, "access-0", time.Now().Add(14*time.Minute), "refresh-0")
		oidc := &fakeOIDC{life: time.Hour, fail: func(n int32) error {
			if n <= 2 {
				return errors.New("dial tcp: connection refused")
			}
			return nil
		}}
		var n notes
		m := newManager(t, Options{CacheFile: path, Refresh: oidc.refresh, Notify: n.notify})
		synctest.Wait()
		if c := oidc.calls.Load(); c != 1 {
			t.Fatalf("%d attempts, want 1", c)
		}
		if err := m.Check(context.Background()); err != nil {
			t.Fatalf("gate while retrying with 14 minutes left: %v", err)
		}
		time.Sleep(2 * time.Minute) // 30 s, then 60 s
		synctest.Wait()
		if c := oidc.calls.Load(); c != 3 {
			t.Fatalf("%d attempts after the backoff, want 3", c)
		}
		if f := readToken(t, path); f["accessToken"] != "access-3" {
			t.Fatalf("cache file holds %q, want the renewed token", f["accessToken"])
		}
		if got := n.list(); len(got) != 0 {
			t.Fatalf("told the user about a passing failure: %q", got)
		}
	})
}
