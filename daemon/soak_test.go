package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// soakPlan says how long the soak runs and how long credentials live.
// Soak and load tests are opt-in, outside `make test`: IMDSD_SOAK=1 runs
// the short soak, 30 s of 6 s credentials (5 lifetimes); IMDSD_SOAK=30m
// runs 30 minutes of 20 s credentials (90 lifetimes; give go test a
// -timeout above it). 6 s is the shortest life that leaves a refresh at
// half-life over a second before the credentials stop being served
// (MinRemaining, 1 s): what a late timer on a loaded machine may take.
func soakPlan(t *testing.T) (run, life time.Duration) {
	v := os.Getenv("IMDSD_SOAK")
	switch v {
	case "":
		t.Skip("soak and load tests are opt-in: IMDSD_SOAK=1 for the short run, IMDSD_SOAK=30m for the long one")
	case "1":
		return 30 * time.Second, 6 * time.Second
	}
	run, err := time.ParseDuration(v)
	if err != nil || run < time.Minute {
		t.Fatalf("IMDSD_SOAK=%q: want 1 (the short run) or a duration of at least 1m, e.g. 30m", v)
	}
	if dl, ok := t.Deadline(); ok && time.Until(dl) < run+time.Minute {
		t.Fatalf("IMDSD_SOAK=%v needs a longer go test -timeout (deadline in %v)", run, time.Until(dl).Round(time.Second))
	}
	return run, 20 * time.Second
}

// soakStats counts what the clients saw. Only key ids are kept.
type soakStats struct {
	requests atomic.Int64
	mu       sync.Mutex
	failures []string
	keys     map[string]bool
}

func (s *soakStats) fail(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, fmt.Sprintf(format, args...))
}

func (s *soakStats) served(key string) {
	s.requests.Add(1)
	s.mu.Lock()
	s.keys[key] = true
	s.mu.Unlock()
}

// TestSoakNoFailedOrExpiredCredentials keeps IMDSv2 and ECS clients (the
// Go SDK's providers, fresh each time, and raw keep-alive GETs) loading
// the daemon across many credential lifetimes, two profiles refreshing at
// half-life. Not one request may fail or get a credential expired at
// receipt, and sampled served keys must sign requests the fake STS
// accepts.
func TestSoakNoFailedOrExpiredCredentials(t *testing.T) {
	run, life := soakPlan(t)
	e := startEnv(t, envOptions{ecsTOML: `profiles = ["ops"]`, tune: func(o *Options) {
		// refresh_before stays at its 15m default: far above these
		// lifetimes, so the brokers refresh at half-life.
		// A served document expires at least this far off: a client's
		// margin in transit (expiries are whole seconds, newFakeSTS).
		o.broker.MinRemaining = time.Second
	}})
	shortLived(t, e, life)
	opsShort := func() bool {
		code, body := e.get(e.ecsURL+"/role/ops", map[string]string{"Authorization": e.token})
		var d credDoc
		return code == http.StatusOK && json.Unmarshal([]byte(body), &d) == nil && d.Expiration.Before(time.Now().Add(life+time.Second))
	}
	for deadline := time.Now().Add(patience); !opsShort(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("ops profile not serving short-lived credentials")
		}
	}

	st := &soakStats{keys: map[string]bool{}}
	calls0 := len(e.sts.Calls())
	start := time.Now()
	stop := start.Add(run)
	var wg sync.WaitGroup
	worker := func(name string, pause time.Duration, once func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10_000_000 && time.Now().Before(stop); i++ {
				if err := once(); err != nil {
					st.fail("%s: %v", name, err)
				}
				time.Sleep(pause)
			}
		}()
	}
	sdk := func(face, path string) func() error {
		return func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			sent := time.Now()
			var c aws.Credentials
			var err error
			if face == "imds" {
				c, err = e.ec2Creds(ctx)
			} else {
				c, err = e.ecsCreds(ctx, path)
			}
			if err != nil {
				return err
			}
			if why := checkSDKCreds(e, sdkResult{face: face, sent: sent, recv: time.Now(), creds: c}); why != "" {
				return fmt.Errorf("%s", why)
			}
			st.served(c.AccessKeyID)
			return nil
		}
	}
	for i := range 2 {
		worker(fmt.Sprintf("imds sdk %d", i), time.Millisecond, sdk("imds", ""))
	}
	worker("ecs sdk /creds", time.Millisecond, sdk("ecs", "/creds"))
	worker("ecs sdk /role/ops", time.Millisecond, sdk("ecs", "/role/ops"))

	raw := &prober{e: e, token: e.imdsToken(), client: &http.Client{Transport: e.hc.Transport, Timeout: patience}}
	for _, face := range []string{"imds", "ecs"} {
		worker("raw "+face, time.Millisecond, func() error {
			r := raw.once(face)
			if r.err != nil || r.status != http.StatusOK {
				return fmt.Errorf("%v %q", r, r.errBody)
			}
			if why := checkServable(e, r); why != "" {
				return fmt.Errorf("%v: %s", r, why)
			}
			st.served(r.doc.AccessKeyID)
			return nil
		})
	}

	// A few served keys sign GetCallerIdentity: the fake STS must accept
	// them (a key it issued, with its secret and token, not expired).
	var signed atomic.Int64
	worker("GetCallerIdentity", life/2, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, get := range []func() (aws.Credentials, error){
			func() (aws.Credentials, error) { return e.ec2Creds(ctx) },
			func() (aws.Credentials, error) { return e.ecsCreds(ctx, "/role/ops") },
		} {
			c, err := get()
			if err != nil {
				return err
			}
			arn, err := e.callerARN(ctx, c)
			if err != nil {
				return fmt.Errorf("served key %s rejected by STS: %v", c.AccessKeyID, err)
			}
			if !strings.Contains(arn, ":assumed-role/") {
				return fmt.Errorf("served key %s identifies as %s", c.AccessKeyID, arn)
			}
			signed.Add(1)
		}
		return nil
	})
	wg.Wait()
	elapsed := time.Since(start)

	var refreshes, stsFailed int
	for _, c := range e.sts.Calls()[calls0:] {
		switch {
		case c.Status != http.StatusOK:
			stsFailed++
		case c.Action == "AssumeRole":
			refreshes++
		}
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	t.Logf("soak %v, %d credential lifetimes: %d requests served, %d failed, %d distinct keys, %d refreshes (AssumeRole), %d GetCallerIdentity with served keys",
		elapsed.Round(time.Second), int(elapsed/life), st.requests.Load(), len(st.failures), len(st.keys), refreshes, signed.Load())
	for i, f := range st.failures {
		if i == 10 {
			t.Errorf("... and %d more", len(st.failures)-10)
			break
		}
		t.Error(f)
	}
	// Two profiles, each refreshed at half-life: about 4 per lifetime.
	lives := int(elapsed / life)
	if refreshes < 2*lives || refreshes > 6*lives+4 {
		t.Errorf("%d refreshes over %d lifetimes of 2 profiles; want about %d", refreshes, lives, 4*lives)
	}
	if stsFailed > 0 {
		t.Errorf("%d STS calls failed", stsFailed)
	}
	if signed.Load() < 4 {
		t.Errorf("only %d served keys checked against STS", signed.Load())
	}
	if st.requests.Load() < 1000 {
		t.Errorf("only %d requests in %v: the load did not run", st.requests.Load(), elapsed)
	}
}
