package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
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
// own providers. Lifetimes are compressed to seconds and the broker's
// backoff to tens of milliseconds; every phase is entered on an observed
// event (a call STS received, an answer a client got), never after a
// sleep, and nothing is judged by how fast it happened: the broker's
// timing is checked exactly, on a fake clock, in internal/broker.

const (
	faultBackoffBase = 100 * time.Millisecond
	faultBackoffCap  = 400 * time.Millisecond
	// faultMinRemaining: a served document expires at least this far off,
	// which is a client's margin in transit (expiries are whole seconds,
	// newFakeSTS; production uses 5 s).
	faultMinRemaining = time.Second
	// sdkRetryMax bounds the Go SDK's own retry delay inside one STS call
	// (the daemon's STS client makes 2 attempts; legacy backoff is
	// rand*2^1 s).
	sdkRetryMax = 2 * time.Second
	credsPath   = "/latest/meta-data/iam/security-credentials/dev"
)

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
	p := &prober{e: e, token: e.imdsToken(), client: &http.Client{Transport: e.hc.Transport, Timeout: patience}, stop: make(chan struct{})}
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
				// Bounded, so the loop ends after it is stopped; above the
				// daemon's own bound on a request's wait for a fetch (5 s).
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
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
	// The key's expiry as issued is the truth at receipt (the document
	// shows it to the second); raw probes check the document's own value.
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
	p := &prober{e: e, token: e.imdsToken(), client: &http.Client{Transport: e.hc.Transport, Timeout: patience}}
	serve := func(ok func(credDoc) bool) credDoc {
		t.Helper()
		for deadline := time.Now().Add(patience); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if r := p.once("imds"); r.status == http.StatusOK && r.parseErr == nil && ok(r.doc) {
				return r.doc
			}
		}
		t.Fatalf("daemon did not serve the expected credentials within %v\n%s", patience, e.logs)
		return credDoc{}
	}
	first := serve(func(credDoc) bool { return true })
	e.sts.SetCredentialLifetime(life)
	e.d.Refresh()
	return serve(func(d credDoc) bool {
		return d.AccessKeyID != first.AccessKeyID && d.Expiration.Before(time.Now().Add(life+time.Second))
	})
}

func faultEnv(t *testing.T, client aws.HTTPClient, fetchTimeout time.Duration) *testEnv {
	return startEnv(t, envOptions{tune: func(o *Options) {
		o.HTTPClient = client
		o.broker = broker.Options{
			BackoffBase:  faultBackoffBase,
			BackoffCap:   faultBackoffCap,
			FetchTimeout: fetchTimeout,
			MinRemaining: faultMinRemaining,
		}
	}})
}

// callsSince counts the STS calls received at or after since.
func callsSince(e *testEnv, since time.Time) int {
	n := 0
	for _, c := range e.sts.Calls() {
		if !c.Time.Before(since) {
			n++
		}
	}
	return n
}

// TestFaultOutageLongerThanCredentialLife runs each failure mode for
// longer than a credential lives. Clients must get the cached credentials
// while they are valid, then 503s that say why, never an expired, blank or
// unissued credential; once STS is back, fresh credentials.
func TestFaultOutageLongerThanCredentialLife(t *testing.T) {
	t.Parallel()
	const life = 4 * time.Second
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
			t.Parallel()
			// FetchTimeout above the SDK's whole invocation (two calls and
			// its retry delay), so one broker attempt is one invocation.
			e := faultEnv(t, loopbackOnlyHTTP.WithTimeout(tc.httpTimeout), 2*tc.httpTimeout+sdkRetryMax+time.Second)
			shortLived(t, e, life)
			faultAt := time.Now()
			e.sts.SetFault(tc.fault)
			// Refresh at once (as `imdsd refresh` would), so the outage
			// holds several attempts, not only the half-life one.
			e.d.Refresh()
			// Once STS has a call from after the fault, no fetch begun
			// before it is still running (a broker runs one at a time), so
			// what is cached now is what has to last the outage.
			waitFor(t, patience, func() bool { return callsSince(e, faultAt) > 0 }, "no STS call under the fault")
			p := startProber(e, 10*time.Millisecond)
			first := p.once("imds")
			if first.status != http.StatusOK {
				t.Fatalf("nothing served as the outage began: %v %q", first, first.errBody)
			}
			good := first.doc
			iss, _ := e.sts.Issued(good.AccessKeyID)
			// The daemon serves until the exact expiry less MinRemaining.
			validUntil := iss.Expires.Add(-faultMinRemaining)
			stopSDK := make(chan struct{})
			sdkDone := sdkLoop(e, 50*time.Millisecond, stopSDK)

			// The outage lasts until a client has been told why it gets
			// nothing (past the cached credentials' expiry), and the
			// broker has retried.
			explained := func(r probe) bool {
				return r.sent.After(validUntil) && r.status == http.StatusServiceUnavailable && strings.Contains(r.errBody, tc.reason)
			}
			waitFor(t, patience, func() bool {
				return slices.ContainsFunc(p.snapshot(), explained) && callsSince(e, faultAt) >= 2
			}, "no 503 naming the cause after the cached credentials expired, or no retry")
			clearAt := time.Now()
			e.sts.SetFault(fakests.Fault{})
			waitFor(t, patience, func() bool {
				return slices.ContainsFunc(p.snapshot(), func(r probe) bool {
					return r.sent.After(clearAt) && r.status == http.StatusOK
				})
			}, "no credentials after STS came back")
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
				case r.err != nil:
					t.Errorf("%v: connection failed", r)
				case r.recv.Before(validUntil):
					// Cached, valid credentials: served, whatever STS does.
					cached++
					if r.status != http.StatusOK || r.doc.AccessKeyID != good.AccessKeyID {
						t.Errorf("%v %q: want the cached key %s while it is valid", r, r.errBody, good.AccessKeyID)
					}
				case r.sent.After(validUntil) && r.recv.Before(clearAt):
					// Nothing valid exists: a 503 saying why (or that the
					// fetch it waited for is still running).
					refused++
					if r.status != http.StatusServiceUnavailable {
						t.Errorf("%v: credentials served while nothing valid existed", r)
					} else if !strings.Contains(r.errBody, tc.reason) && !strings.Contains(r.errBody, "still fetching") {
						t.Errorf("%v: 503 %q does not name the cause (%q)", r, r.errBody, tc.reason)
					}
				case r.sent.After(clearAt) && r.status == http.StatusOK:
					after++
					if r.doc.AccessKeyID == good.AccessKeyID {
						t.Errorf("%v: the expired key again after recovery", r)
					}
				}
			}
			for _, r := range sdk {
				if r.err == nil {
					if why := checkSDKCreds(e, r); why != "" {
						t.Error(why)
					} else if r.sent.After(validUntil) && r.recv.Before(clearAt) {
						t.Errorf("%s SDK got key %s while nothing valid existed", r.face, r.creds.AccessKeyID)
					}
				} else if r.recv.Before(validUntil) {
					t.Errorf("%s SDK failed while valid credentials were cached: %v", r.face, r.err)
				}
			}
			t.Logf("%d probes while cached, %d refused, %d after recovery; %d STS calls during the outage", cached, refused, after, callsSince(e, faultAt)-callsSince(e, clearAt))
			e.stop()
			assertNoSecretsLogged(t, e.logs.String(), good.SecretAccessKey, good.Token)
		})
	}
}

// stsGate is an STS client with a gate: while it is shut, calls wait at
// it, so that a test knows a call is in flight and says when it may go on.
type stsGate struct {
	inner   aws.HTTPClient
	waiting chan struct{} // a call arrived at the shut gate
	mu      sync.Mutex
	open    chan struct{} // closed while the gate is open
}

func newSTSGate(inner aws.HTTPClient) *stsGate {
	g := &stsGate{inner: inner, waiting: make(chan struct{}, 1), open: make(chan struct{})}
	close(g.open)
	return g
}

func (g *stsGate) shut() {
	g.mu.Lock()
	g.open = make(chan struct{})
	g.mu.Unlock()
}

func (g *stsGate) release() {
	g.mu.Lock()
	close(g.open)
	g.mu.Unlock()
}

func (g *stsGate) Do(req *http.Request) (*http.Response, error) {
	g.mu.Lock()
	open := g.open
	g.mu.Unlock()
	select {
	case <-open:
	default:
		select {
		case g.waiting <- struct{}{}:
		default:
		}
		select {
		case <-open:
		case <-req.Context().Done():
			return nil, req.Context().Err()
		}
	}
	return g.inner.Do(req)
}

// TestFaultSlowSTSDoesNotDelayClients: while a refresh waits on STS,
// clients keep getting the cached credentials (all of them answered with
// the STS call still held, so none waited for it), and the new ones
// replace them with no failed request in between.
func TestFaultSlowSTSDoesNotDelayClients(t *testing.T) {
	t.Parallel()
	gate := newSTSGate(loopbackOnlyHTTP.WithTimeout(15 * time.Second))
	e := faultEnv(t, gate, time.Hour) // the held call must not be cut off
	good, err := e.ec2Creds(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	gate.shut()
	e.d.Refresh()
	select {
	case <-gate.waiting:
	case <-time.After(patience):
		t.Fatal("the refresh made no STS call")
	}
	p := startProber(e, 10*time.Millisecond)
	stopSDK := make(chan struct{})
	sdkDone := sdkLoop(e, 20*time.Millisecond, stopSDK)
	waitFor(t, patience, func() bool { return len(p.snapshot()) >= 40 }, "no probes answered while STS was held")
	released := time.Now()
	gate.release()
	waitFor(t, patience, func() bool {
		return slices.ContainsFunc(p.snapshot(), func(r probe) bool { return r.status == http.StatusOK && r.doc.AccessKeyID != good.AccessKeyID })
	}, "no refreshed credentials after STS answered")
	close(stopSDK)
	probes := p.finish()
	sdk := sdkDone()
	held := 0
	for _, r := range probes {
		if why := checkServable(e, r); why != "" || r.err != nil || r.status != http.StatusOK {
			t.Errorf("%v %q: %s", r, r.errBody, why)
		} else if r.recv.Before(released) {
			held++
			if r.doc.AccessKeyID != good.AccessKeyID {
				t.Errorf("%v: served key %s while the refresh was held, want the cached %s", r, r.doc.AccessKeyID, good.AccessKeyID)
			}
		}
	}
	for _, r := range sdk {
		if r.err != nil {
			t.Errorf("%s SDK failed during a slow refresh: %v", r.face, r.err)
		} else if why := checkSDKCreds(e, r); why != "" {
			t.Error(why)
		}
	}
	t.Logf("%d probes (%d while STS was held) and %d SDK resolutions, none failed", len(probes), held, len(sdk))
}

// TestFaultBackoffSpacesAttempts watches the fake STS's call times while
// every call fails: the broker waits at least the backoff's lower bound
// (half the exponential delay, capped) between attempts, however loaded
// the machine (a timer never fires early). AccessDenied is used because
// the SDK does not retry it, so each attempt is exactly one call. The
// exact schedule, jitter and cap are checked on a fake clock in
// internal/broker.
func TestFaultBackoffSpacesAttempts(t *testing.T) {
	t.Parallel()
	e := faultEnv(t, loopbackOnlyHTTP.WithTimeout(15*time.Second), 5*time.Second)
	if _, err := e.ec2Creds(context.Background()); err != nil {
		t.Fatal(err)
	}
	n0 := e.sts.CallCount("")
	e.sts.SetFault(fakests.Fault{Mode: fakests.FaultAccessDenied})
	e.d.Refresh()
	const want = 6 // calls, so 5 gaps: after 100, 200, then 400 ms (the cap)
	waitFor(t, patience, func() bool { return e.sts.CallCount("") >= n0+want }, "the broker stopped retrying")
	e.sts.SetFault(fakests.Fault{})
	calls := e.sts.Calls()[n0 : n0+want]
	var gaps []time.Duration
	for i := 1; i < len(calls); i++ {
		if calls[i].Status != http.StatusForbidden {
			t.Fatalf("call %d: status %d, want the injected 403", i, calls[i].Status)
		}
		gap := calls[i].Time.Sub(calls[i-1].Time)
		gaps = append(gaps, gap.Round(time.Millisecond))
		if d := min(faultBackoffBase<<(i-1), faultBackoffCap); gap < d/2 { // after i failures
			t.Errorf("gap %d: %v, less than the backoff for %d failures allows (%v)", i, gap, i, d/2)
		}
	}
	t.Logf("gaps between STS calls: %v", gaps)
}

// TestFaultFetchTimeoutBoundsHungSTSCall: a broker attempt is bounded by
// FetchTimeout even though the SDK's credentials cache runs STS calls
// without the caller's deadline, and the STS client here has no timeout
// at all: each attempt cut off makes a call of its own (joining the hung
// one, STS would see a single call), and once STS is back, fresh
// credentials come.
func TestFaultFetchTimeoutBoundsHungSTSCall(t *testing.T) {
	t.Parallel()
	e := faultEnv(t, loopbackOnlyHTTP, 300*time.Millisecond)
	good, err := e.ec2Creds(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	faultAt := time.Now()
	e.sts.SetFault(fakests.Fault{Mode: fakests.FaultHang})
	e.d.Refresh()
	waitFor(t, patience, func() bool { return callsSince(e, faultAt) >= 3 }, "cut-off attempts made no new STS calls")
	e.sts.SetFault(fakests.Fault{})
	p := &prober{e: e, token: e.imdsToken(), client: &http.Client{Transport: e.hc.Transport, Timeout: patience}}
	waitFor(t, patience, func() bool {
		r := p.once("imds")
		return r.status == http.StatusOK && r.doc.AccessKeyID != good.AccessKeyID
	}, "no fresh credentials after STS came back")
}
