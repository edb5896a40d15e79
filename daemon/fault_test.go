package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/imdsd/imdsd/internal/broker"
	"github.com/imdsd/imdsd/test/fakests"
)

// The fault suite drives a real daemon against the fake STS while it fails
// in the ways STS and networks fail, and checks what clients see: through
// raw HTTP (every response, status and document) and through the Go SDK's
// own providers. Timings are compressed: credentials live seconds, and
// the broker's backoff is tuned to tens of milliseconds.

const (
	faultBackoffBase = 100 * time.Millisecond
	faultBackoffCap  = 400 * time.Millisecond
	// faultMinRemaining is at least a second because documents carry
	// whole-second expiries: below that a served document could name a
	// second already past (production uses 5 s).
	faultMinRemaining = time.Second
	// sdkRetryMax bounds the Go SDK's own retry delay inside one STS call
	// (the daemon's STS client makes 2 attempts; legacy backoff is
	// rand*2^1 s): an outage can end in the middle of it.
	sdkRetryMax = 2 * time.Second
	// schedSlack absorbs scheduling and -race overhead on a 2-core machine.
	schedSlack = 250 * time.Millisecond
	credsPath  = "/latest/meta-data/iam/security-credentials/dev"
)

// stsRecorder is the daemon's STS HTTP client plus a log of each request's
// send and answer times and SDK invocation id, so that the SDK's own retry
// inside one broker attempt can be told apart from the broker's next
// attempt. It keeps no header values but the invocation id.
type stsRecorder struct {
	inner aws.HTTPClient
	mu    sync.Mutex
	reqs  []stsReq
}

type stsReq struct {
	sent, done time.Time
	invocation string
}

func (r *stsRecorder) Do(req *http.Request) (*http.Response, error) {
	sent := time.Now()
	resp, err := r.inner.Do(req)
	r.mu.Lock()
	r.reqs = append(r.reqs, stsReq{sent: sent, done: time.Now(), invocation: req.Header.Get("Amz-Sdk-Invocation-Id")})
	r.mu.Unlock()
	return resp, err
}

// wireAttempt is one broker fetch as seen on the wire: every HTTP request
// of one SDK invocation.
type wireAttempt struct {
	first, last time.Time
	requests    int
}

// attempts groups the recorded requests sent at or after since by SDK
// invocation, in order of first request.
func (r *stsRecorder) attempts(since time.Time) []wireAttempt {
	r.mu.Lock()
	defer r.mu.Unlock()
	by := map[string]*wireAttempt{}
	var order []string
	for _, q := range r.reqs {
		if q.sent.Before(since) {
			continue
		}
		a := by[q.invocation]
		if a == nil {
			a = &wireAttempt{first: q.sent}
			by[q.invocation] = a
			order = append(order, q.invocation)
		}
		a.requests++
		if q.done.After(a.last) {
			a.last = q.done
		}
	}
	out := make([]wireAttempt, 0, len(order))
	for _, id := range order {
		out = append(out, *by[id])
	}
	slices.SortFunc(out, func(a, b wireAttempt) int { return a.first.Compare(b.first) })
	return out
}

// credDoc is the part of an IMDS or ECS credential document a client uses.
type credDoc struct {
	Code            string
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string
	Token           string
	Expiration      time.Time
}

// probe is one raw credential GET as a client saw it. The body is kept
// only for non-200 answers (error text); documents are parsed and never
// printed.
type probe struct {
	face       string
	sent, recv time.Time
	status     int
	err        error
	doc        credDoc
	parseErr   error
	errBody    string
}

func (p probe) String() string {
	return fmt.Sprintf("%s probe sent %s: status %d key %q err %v", p.face, p.sent.Format("15:04:05.000"), p.status, p.doc.AccessKeyID, p.err)
}

// prober sends raw credential GETs on both faces every interval until
// stopped, over keep-alive connections as a long-running SDK would.
type prober struct {
	e      *testEnv
	token  string
	client *http.Client
	stop   chan struct{}
	wg     sync.WaitGroup
	mu     sync.Mutex
	got    []probe
}

func startProber(e *testEnv, every time.Duration) *prober {
	p := &prober{e: e, token: e.imdsToken(), client: &http.Client{Timeout: 8 * time.Second}, stop: make(chan struct{})}
	for _, face := range []string{"imds", "ecs"} {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			// Bounded in count as well as by stop.
			for range 5000 {
				r := p.once(face)
				p.mu.Lock()
				p.got = append(p.got, r)
				p.mu.Unlock()
				select {
				case <-p.stop:
					return
				case <-time.After(every):
				}
			}
		}()
	}
	return p
}

func (p *prober) once(face string) probe {
	r := probe{face: face, sent: time.Now()}
	var req *http.Request
	if face == "imds" {
		req, _ = http.NewRequest(http.MethodGet, p.e.imdsURL+credsPath, nil)
		req.Header.Set("X-aws-ec2-metadata-token", p.token)
	} else {
		req, _ = http.NewRequest(http.MethodGet, p.e.ecsURL+"/creds", nil)
		req.Header.Set("Authorization", p.e.token)
	}
	resp, err := p.client.Do(req)
	r.recv = time.Now()
	if err != nil {
		r.err = err
		return r
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	r.recv, r.status, r.err = time.Now(), resp.StatusCode, err
	if resp.StatusCode == http.StatusOK {
		r.parseErr = json.Unmarshal(body, &r.doc)
	} else {
		r.errBody = string(body)
	}
	return r
}

func (p *prober) finish() []probe {
	close(p.stop)
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.got)
}

// snapshot returns the probes answered so far.
func (p *prober) snapshot() []probe {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.got)
}

// checkServable reports why a probe's answer is something no client may
// get, or "": a 200 must carry a complete document the fake STS issued,
// unexpired at receipt; anything else must be an explained 503 without a
// document in it.
func checkServable(e *testEnv, p probe) string {
	switch {
	case p.err != nil:
		return "" // judged by the caller: a connection failure is no credential
	case p.status == http.StatusOK:
		d := p.doc
		switch {
		case p.parseErr != nil:
			return "200 with an unparseable document"
		case p.face == "imds" && d.Code != "Success":
			return fmt.Sprintf("200 with Code %q", d.Code)
		case d.AccessKeyID == "" || d.SecretAccessKey == "" || d.Token == "":
			return fmt.Sprintf("200 with a blank field (key %q, secret %d bytes, token %d bytes)", d.AccessKeyID, len(d.SecretAccessKey), len(d.Token))
		case !d.Expiration.After(p.recv):
			return fmt.Sprintf("200 with key %s expired at %s, received %s", d.AccessKeyID, d.Expiration.Format(time.RFC3339), p.recv.Format(time.RFC3339Nano))
		}
		iss, ok := e.sts.Issued(d.AccessKeyID)
		if !ok {
			return fmt.Sprintf("200 with key %s, which the fake STS never issued", d.AccessKeyID)
		}
		if !d.Expiration.Equal(iss.Expires.Truncate(time.Second)) {
			return fmt.Sprintf("key %s served expiring %v, issued expiring %v", d.AccessKeyID, d.Expiration, iss.Expires)
		}
		return ""
	case strings.Contains(p.errBody, "Success") || strings.Contains(p.errBody, "AccessKeyId") || strings.Contains(p.errBody, "Token\""):
		return fmt.Sprintf("status %d with a credential document in it", p.status)
	case p.status != http.StatusServiceUnavailable:
		return fmt.Sprintf("status %d %q, want 200 or 503", p.status, p.errBody)
	case len(p.errBody) < 20:
		return fmt.Sprintf("503 without a reason: %q", p.errBody)
	}
	return ""
}

// sdkResult is one credential resolution by a real SDK provider.
type sdkResult struct {
	face       string
	sent, recv time.Time
	creds      aws.Credentials
	err        error
}

// sdkLoop resolves credentials through ec2rolecreds and endpointcreds,
// with a fresh provider each time (as a new process would), until stopped.
func sdkLoop(e *testEnv, every time.Duration, stop <-chan struct{}) func() []sdkResult {
	var (
		mu  sync.Mutex
		out []sdkResult
		wg  sync.WaitGroup
	)
	for _, face := range []string{"imds", "ecs"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 2000 {
				// Bounded, so the loop ends soon after it is stopped; long
				// enough for the daemon's answer after a hung attempt.
				ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
				r := sdkResult{face: face, sent: time.Now()}
				if face == "imds" {
					r.creds, r.err = e.ec2Creds(ctx)
				} else {
					r.creds, r.err = e.ecsCreds(ctx, "/creds")
				}
				cancel()
				r.recv = time.Now()
				mu.Lock()
				out = append(out, r)
				mu.Unlock()
				select {
				case <-stop:
					return
				case <-time.After(every):
				}
			}
		}()
	}
	return func() []sdkResult {
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(out)
	}
}

// checkSDKCreds reports why credentials an SDK resolved are unusable, or "".
func checkSDKCreds(e *testEnv, r sdkResult) string {
	c := r.creds
	if c.AccessKeyID == "" || c.SecretAccessKey == "" || c.SessionToken == "" {
		return fmt.Sprintf("%s SDK got blank credentials (key %q)", r.face, c.AccessKeyID)
	}
	iss, ok := e.sts.Issued(c.AccessKeyID)
	if !ok {
		return fmt.Sprintf("%s SDK got key %s, never issued by the fake STS", r.face, c.AccessKeyID)
	}
	// The key's exact expiry is the truth at receipt: the document shows
	// it truncated to the second, and an SDK resolution (three requests)
	// under -race can take longer than what truncation leaves of these
	// compressed lifetimes. Raw probes check the document's own value.
	switch {
	case !c.CanExpire || !c.Expires.Equal(iss.Expires.Truncate(time.Second)):
		return fmt.Sprintf("%s SDK got key %s expiring %v; STS issued it expiring %v", r.face, c.AccessKeyID, c.Expires, iss.Expires)
	case !iss.Expires.After(r.recv):
		return fmt.Sprintf("%s SDK got key %s expired at %s, received %s after a %v resolution", r.face, c.AccessKeyID,
			iss.Expires.Format("15:04:05.000"), r.recv.Format("15:04:05.000"), r.recv.Sub(r.sent))
	}
	return ""
}

// shortLived makes the fake STS issue credentials living life and has the
// daemon fetch such a set now, returning it as served. It first waits for
// the startup fetch, so that no other fetch is in flight or pending after.
func shortLived(t *testing.T, e *testEnv, life time.Duration) credDoc {
	t.Helper()
	p := &prober{e: e, token: e.imdsToken(), client: &http.Client{Timeout: 5 * time.Second}}
	serve := func(ok func(credDoc) bool) credDoc {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if r := p.once("imds"); r.status == http.StatusOK && r.parseErr == nil && ok(r.doc) {
				return r.doc
			}
		}
		t.Fatalf("daemon did not serve the expected credentials within 5s\n%s", e.logs)
		return credDoc{}
	}
	first := serve(func(credDoc) bool { return true })
	e.sts.SetCredentialLifetime(life)
	e.d.Refresh()
	return serve(func(d credDoc) bool {
		return d.AccessKeyID != first.AccessKeyID && d.Expiration.Before(time.Now().Add(life+time.Second))
	})
}

func faultEnv(t *testing.T, httpTimeout, fetchTimeout time.Duration) (*testEnv, *stsRecorder) {
	// The SDK's config loader applies AWS_CA_BUNDLE only to its own
	// client type, and rejects the recorder; the fake STS is plain HTTP.
	t.Setenv("AWS_CA_BUNDLE", "")
	os.Unsetenv("AWS_CA_BUNDLE")
	rec := &stsRecorder{inner: loopbackOnlyHTTP.WithTimeout(httpTimeout)}
	e := startEnv(t, envOptions{tune: func(o *Options) {
		o.HTTPClient = rec
		o.broker = broker.Options{
			BackoffBase:  faultBackoffBase,
			BackoffCap:   faultBackoffCap,
			FetchTimeout: fetchTimeout,
			MinRemaining: faultMinRemaining,
		}
	}})
	return e, rec
}

// TestFaultOutageLongerThanCredentialLife runs each failure mode for
// longer than a credential lives. Clients must get the cached credentials
// while they are valid, then explained 503s, never an expired, blank or
// unissued credential; once STS is back, fresh credentials within the
// backoff cap (plus the SDK's own retry delay, or a hung call's timeout).
// The broker's attempts during the outage must be spaced by its backoff:
// never more than the cap apart.
func TestFaultOutageLongerThanCredentialLife(t *testing.T) {
	const life = 2500 * time.Millisecond
	for _, tc := range []struct {
		name        string
		fault       fakests.Fault
		httpTimeout time.Duration // the daemon's STS client; bounds a hung call
		reason      string        // in the 503 once nothing valid is cached
	}{
		{"500", fakests.Fault{Mode: fakests.Fault500}, 15 * time.Second, "InternalFailure"},
		{"throttle", fakests.Fault{Mode: fakests.FaultThrottle}, 15 * time.Second, "throttling"},
		{"connection dropped", fakests.Fault{Mode: fakests.FaultDown}, 15 * time.Second, "could not reach STS"},
		{"hang", fakests.Fault{Mode: fakests.FaultHang}, 500 * time.Millisecond, "timed out"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// FetchTimeout above the SDK's whole invocation (two calls and
			// its retry delay), so one broker attempt is one invocation.
			e, rec := faultEnv(t, tc.httpTimeout, 2*tc.httpTimeout+sdkRetryMax+time.Second)
			good := shortLived(t, e, life)
			// The daemon serves until the exact expiry less MinRemaining;
			// documents show it truncated to the second.
			iss, _ := e.sts.Issued(good.AccessKeyID)
			validUntil := iss.Expires.Add(-faultMinRemaining)
			faultAt := time.Now()
			e.sts.SetFault(tc.fault)
			// Refresh at once (as `imdsd refresh` would), so the outage
			// holds several attempts, not only the half-life one.
			e.d.Refresh()
			p := startProber(e, 10*time.Millisecond)
			stopSDK := make(chan struct{})
			sdkDone := sdkLoop(e, 50*time.Millisecond, stopSDK)

			// Outage: until well past the cached credentials' expiry (a
			// hung attempt holds waiting requests until it times out, so
			// that mode needs longer to show its 503s).
			outage := 700 * time.Millisecond
			if tc.fault.Mode == fakests.FaultHang {
				outage = 1500 * time.Millisecond
			}
			time.Sleep(time.Until(iss.Expires.Add(outage)))
			clearAt := time.Now()
			e.sts.SetFault(fakests.Fault{})
			bound := faultBackoffCap + sdkRetryMax + schedSlack
			if tc.fault.Mode == fakests.FaultHang {
				bound += tc.httpTimeout // the call in flight must time out first
			}
			var recovered time.Time
			for deadline := clearAt.Add(bound + 3*time.Second); time.Now().Before(deadline) && recovered.IsZero(); {
				time.Sleep(10 * time.Millisecond)
				for _, r := range p.snapshot() {
					if r.sent.After(clearAt) && r.status == http.StatusOK {
						recovered = r.recv
						break
					}
				}
			}
			time.Sleep(100 * time.Millisecond)
			close(stopSDK)
			probes := p.finish()
			sdk := sdkDone()

			var cached, refused, after int
			for _, r := range probes {
				if why := checkServable(e, r); why != "" {
					t.Errorf("%v: %s", r, why)
					continue
				}
				switch {
				case r.err != nil && r.sent.Before(clearAt):
					t.Errorf("%v: connection failed during the outage", r)
				case r.recv.Before(validUntil.Add(-5*time.Millisecond)) && r.sent.After(faultAt):
					// Cached, valid credentials: served, and at once,
					// whatever STS is doing.
					cached++
					if r.status != http.StatusOK || r.doc.AccessKeyID != good.AccessKeyID {
						t.Errorf("%v: want the cached key %s while it is valid", r, good.AccessKeyID)
					} else if d := r.recv.Sub(r.sent); d > 500*time.Millisecond {
						t.Errorf("%v: cached credentials took %v", r, d)
					}
				case r.sent.After(validUntil.Add(5*time.Millisecond)) && r.sent.Before(clearAt):
					// Nothing valid is cached: an explained 503, or fresh
					// credentials if STS came back while it waited.
					switch {
					case r.status == http.StatusOK && (r.doc.AccessKeyID == good.AccessKeyID || r.recv.Before(clearAt)):
						t.Errorf("%v: credentials served while nothing valid existed", r)
					case r.status == http.StatusServiceUnavailable && !strings.Contains(r.errBody, tc.reason):
						t.Errorf("%v: 503 %q does not name the cause (%q)", r, r.errBody, tc.reason)
					case r.status == http.StatusServiceUnavailable:
						refused++
					}
				case r.sent.After(clearAt) && r.status == http.StatusOK:
					after++
					if r.doc.AccessKeyID == good.AccessKeyID {
						t.Errorf("%v: the expired key again after recovery", r)
					}
				}
			}
			// A probe waits for the attempt in flight: it sees a 503 once
			// a failed attempt ends while nothing valid is cached. (One
			// attempt can span the whole window: the SDK's own retry
			// delay is up to 2 s.)
			failedInWindow := 0
			for _, a := range rec.attempts(validUntil) {
				if a.last.Before(clearAt.Add(-10 * time.Millisecond)) {
					failedInWindow++
				}
			}
			if cached < 10 || (failedInWindow > 0 && refused == 0) || after == 0 {
				t.Errorf("too few probes in a phase: %d while cached, %d refused after expiry (%d attempts failed then), %d after recovery", cached, refused, failedInWindow, after)
			}
			for _, r := range sdk {
				if r.err == nil {
					if why := checkSDKCreds(e, r); why != "" {
						t.Error(why)
					} else if r.sent.After(validUntil.Add(5*time.Millisecond)) && r.recv.Before(clearAt) {
						t.Errorf("%s SDK got key %s while nothing valid existed", r.face, r.creds.AccessKeyID)
					}
				} else if r.recv.Before(validUntil.Add(-schedSlack)) {
					t.Errorf("%s SDK failed while valid credentials were cached: %v", r.face, r.err)
				}
			}

			if recovered.IsZero() {
				t.Fatalf("no credentials %v after STS came back\n%s", bound+3*time.Second, e.logs)
			}
			if took := recovered.Sub(clearAt); took > bound {
				t.Errorf("recovered %v after STS came back; want within %v (backoff cap %v + SDK retry %v)", took, bound, faultBackoffCap, sdkRetryMax)
			} else {
				t.Logf("recovered %v after STS came back", took.Round(time.Millisecond))
			}

			// Between two broker attempts (SDK invocations) during the
			// outage: never more than the cap, never less than half the
			// base (full jitter in [d/2, d]).
			atts := rec.attempts(faultAt)
			var gaps []time.Duration
			for i := 1; i < len(atts) && atts[i].first.Before(clearAt); i++ {
				gap := atts[i].first.Sub(atts[i-1].last)
				gaps = append(gaps, gap.Round(time.Millisecond))
				if gap > faultBackoffCap+schedSlack || gap < faultBackoffBase/2-5*time.Millisecond {
					t.Errorf("attempts %d and %d were %v apart; want backoff in [%v, %v]", i, i+1, gap, faultBackoffBase/2, faultBackoffCap)
				}
			}
			if len(gaps) == 0 {
				t.Errorf("the broker made %d attempts during a %v outage", len(atts), clearAt.Sub(faultAt).Round(time.Millisecond))
			}
			t.Logf("%d attempts during the outage, gaps %v", len(atts), gaps)
			e.stop()
			assertNoSecretsLogged(t, e.logs.String(), good.SecretAccessKey, good.Token)
		})
	}
}

// TestFaultSlowSTSDoesNotDelayClients: with every STS call taking 2 s, a
// refresh runs while clients keep getting the cached credentials at once,
// and the new ones replace them with no failed request in between.
func TestFaultSlowSTSDoesNotDelayClients(t *testing.T) {
	e, _ := faultEnv(t, 15*time.Second, 10*time.Second)
	good := shortLived(t, e, 5*time.Second)
	e.sts.SetFault(fakests.Fault{Delay: 2 * time.Second})
	p := startProber(e, 10*time.Millisecond)
	stopSDK := make(chan struct{})
	sdkDone := sdkLoop(e, 50*time.Millisecond, stopSDK)
	start := time.Now()
	e.d.Refresh()

	var fresh time.Time
	for deadline := start.Add(4 * time.Second); time.Now().Before(deadline) && fresh.IsZero(); {
		time.Sleep(20 * time.Millisecond)
		for _, r := range p.snapshot() {
			if r.status == http.StatusOK && r.doc.AccessKeyID != good.AccessKeyID {
				fresh = r.recv
				break
			}
		}
	}
	time.Sleep(200 * time.Millisecond)
	close(stopSDK)
	probes := p.finish()
	sdk := sdkDone()
	if fresh.IsZero() {
		t.Fatalf("no refreshed credentials 4s into a refresh against a 2s STS\n%s", e.logs)
	}
	if took := fresh.Sub(start); took < 2*time.Second {
		t.Fatalf("refreshed after %v with a 2s STS: the delay was not in effect", took)
	}
	var slow []time.Duration
	for _, r := range probes {
		if why := checkServable(e, r); why != "" || r.err != nil || r.status != http.StatusOK {
			t.Errorf("%v: %s", r, why)
		}
		if d := r.recv.Sub(r.sent); d > 300*time.Millisecond {
			slow = append(slow, d)
		}
	}
	if len(slow) > 0 {
		t.Errorf("%d of %d requests waited on the slow STS (up to %v); cached credentials must be served at once", len(slow), len(probes), slices.Max(slow))
	}
	for _, r := range sdk {
		if r.err != nil {
			t.Errorf("%s SDK failed during a slow refresh: %v", r.face, r.err)
		} else if why := checkSDKCreds(e, r); why != "" {
			t.Error(why)
		}
	}
	t.Logf("%d probes and %d SDK resolutions during a %v refresh, none failed", len(probes), len(sdk), fresh.Sub(start).Round(time.Millisecond))
}

// TestFaultBackoffIsJitteredGrowingAndCapped watches the fake STS's call
// timestamps while every call fails. AccessDenied is used because the SDK
// does not retry it, so each broker attempt is exactly one call and the
// gaps between calls are the broker's backoff alone (5xx and throttling
// attempts include the SDK's own retry; their spacing is checked above).
func TestFaultBackoffIsJitteredGrowingAndCapped(t *testing.T) {
	e, _ := faultEnv(t, 15*time.Second, 5*time.Second)
	if _, err := e.ec2Creds(context.Background()); err != nil {
		t.Fatal(err)
	}
	n0 := e.sts.CallCount("")
	e.sts.SetFault(fakests.Fault{Mode: fakests.FaultAccessDenied})
	e.d.Refresh()
	const want = 10 // calls, so 9 gaps: 100, 200, then 7 at the 400 ms cap
	deadline := time.Now().Add(6 * time.Second)
	for e.sts.CallCount("") < n0+want && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	e.sts.SetFault(fakests.Fault{})
	calls := e.sts.Calls()[n0:]
	if len(calls) < want {
		t.Fatalf("%d STS calls in 6s of failures; want %d", len(calls), want)
	}
	calls = calls[:want]
	var gaps, capped []time.Duration
	for i := 1; i < len(calls); i++ {
		if calls[i].Status != http.StatusForbidden {
			t.Fatalf("call %d: status %d, want the injected 403", i, calls[i].Status)
		}
		gap := calls[i].Time.Sub(calls[i-1].Time)
		gaps = append(gaps, gap.Round(time.Millisecond))
		d := min(faultBackoffBase<<(i-1), faultBackoffCap) // after i failures
		if gap < d/2-2*time.Millisecond || gap > d+schedSlack {
			t.Errorf("gap %d: %v, want the backoff for %d failures in [%v, %v]", i, gap, i, d/2, d)
		}
		if d == faultBackoffCap {
			capped = append(capped, gap)
		}
	}
	t.Logf("gaps between STS calls: %v", gaps)
	mean := func(ds []time.Duration) time.Duration {
		var s time.Duration
		for _, d := range ds {
			s += d
		}
		return s / time.Duration(len(ds))
	}
	if early, late := mean(gaps[:2]), mean(capped); late < early*3/2 {
		t.Errorf("backoff does not grow: first gaps average %v, capped ones %v", early, late)
	}
	if spread := slices.Max(capped) - slices.Min(capped); spread < 20*time.Millisecond {
		t.Errorf("capped gaps %v are all within %v: not jittered", capped, spread)
	}
}

// TestFaultFetchTimeoutBoundsHungSTSCall: a broker attempt is bounded by
// FetchTimeout even though the SDK's credentials cache runs STS calls
// without the caller's deadline: once a hanging STS is back, fresh
// credentials arrive within FetchTimeout plus the backoff cap, not after
// the HTTP client's own timeout (10 s).
func TestFaultFetchTimeoutBoundsHungSTSCall(t *testing.T) {
	const fetchTimeout = 300 * time.Millisecond
	e, _ := faultEnv(t, 15*time.Second, fetchTimeout)
	p := &prober{e: e, token: e.imdsToken(), client: &http.Client{Timeout: 8 * time.Second}}
	var good credDoc
	for deadline := time.Now().Add(5 * time.Second); good.AccessKeyID == ""; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no credentials at start")
		}
		if r := p.once("imds"); r.status == http.StatusOK {
			good = r.doc
		}
	}
	e.sts.SetFault(fakests.Fault{Mode: fakests.FaultHang})
	e.d.Refresh()
	time.Sleep(4 * fetchTimeout) // several attempts cut off while STS hangs
	clearAt := time.Now()
	e.sts.SetFault(fakests.Fault{})
	bound := fetchTimeout + faultBackoffCap + schedSlack
	for time.Since(clearAt) < bound+10*time.Second {
		if r := p.once("imds"); r.status == http.StatusOK && r.doc.AccessKeyID != good.AccessKeyID {
			if took := r.recv.Sub(clearAt); took > bound {
				t.Fatalf("fresh credentials %v after STS came back; want within %v (FetchTimeout + backoff cap)", took, bound)
			} else {
				t.Logf("fresh credentials %v after STS came back", took.Round(time.Millisecond))
			}
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no fresh credentials %v after STS came back", bound+10*time.Second)
}
