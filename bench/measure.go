//go:build linux

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials/ec2rolecreds"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

const (
	tokenPath = "/latest/api/token"
	credPath  = "/latest/meta-data/iam/security-credentials/dev"
)

// putToken asks for an IMDSv2 token.
func putToken(c *http.Client, base string) (string, error) {
	req, _ := http.NewRequest(http.MethodPut, base+tokenPath, nil)
	req.Header.Set("X-aws-ec2-metadata-token-ttl-seconds", "21600")
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("token PUT: %d %v", resp.StatusCode, err)
	}
	return string(b), nil
}

// getDoc GETs a credential document and returns status, key id and the
// body (kept only to size the reference's constant bodies).
func getDoc(c *http.Client, url string, hdr, val string) (int, string, []byte, error) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set(hdr, val)
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	var doc struct{ AccessKeyId string }
	if resp.StatusCode == http.StatusOK {
		_ = json.Unmarshal(b, &doc)
	}
	return resp.StatusCode, doc.AccessKeyId, b, err
}

// awaitFirstCredential polls from t0 (the process start) until the IMDS
// credential GET answers 200, as a client started with the daemon would.
// It returns when the token PUT first succeeded (listening) and when the
// first credential came back.
func awaitFirstCredential(base string, t0 time.Time) (listening, served time.Duration, err error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	deadline := t0.Add(10 * time.Second)
	tok := ""
	for time.Now().Before(deadline) {
		if tok == "" {
			if tok, err = putToken(c, base); err != nil {
				tok = ""
				time.Sleep(200 * time.Microsecond)
				continue
			}
			listening = time.Since(t0)
		}
		code, _, _, gerr := getDoc(c, base+credPath, "X-aws-ec2-metadata-token", tok)
		if gerr == nil && code == http.StatusOK {
			return listening, time.Since(t0), nil
		}
		err = gerr
		time.Sleep(200 * time.Microsecond)
	}
	return 0, 0, fmt.Errorf("no credential from %s within 10s (last error %v)", base, err)
}

// stsRoundTrip times AssumeRole against the fake STS as the daemon's first
// fetch makes it: a fresh client, so a new connection, signed with SigV4.
func stsRoundTrip(ctx context.Context, url string, n int) (cold, warm time.Duration, err error) {
	creds := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: benchKeyID, SecretAccessKey: benchSecret}, nil
	})
	newClient := func(hc aws.HTTPClient) *sts.Client {
		return sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(url), Credentials: creds, HTTPClient: hc})
	}
	in := &sts.AssumeRoleInput{RoleArn: aws.String(benchRole), RoleSessionName: aws.String("bench")}
	var colds, warms []time.Duration
	shared := newClient(awshttp.NewBuildableClient())
	for range n {
		c := newClient(awshttp.NewBuildableClient())
		t := time.Now()
		if _, err := c.AssumeRole(ctx, in); err != nil {
			return 0, 0, fmt.Errorf("AssumeRole: %w", err)
		}
		colds = append(colds, time.Since(t))
		t = time.Now()
		if _, err := shared.AssumeRole(ctx, in); err != nil {
			return 0, 0, fmt.Errorf("AssumeRole: %w", err)
		}
		warms = append(warms, time.Since(t))
	}
	return pct(colds, 50), pct(warms[1:], 50), nil
}

// coldResolve is one credential resolution by a fresh Go SDK provider with
// its default HTTP client (new connections): token PUT, listing, document.
func coldResolve(ctx context.Context, endpoint string) (time.Duration, error) {
	var tr *http.Transport
	hc := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) { tr = t })
	p := ec2rolecreds.New(func(o *ec2rolecreds.Options) {
		o.Client = imds.New(imds.Options{Endpoint: endpoint, HTTPClient: hc})
	})
	t := time.Now()
	c, err := p.Retrieve(ctx)
	d := time.Since(t)
	if tr != nil {
		tr.CloseIdleConnections() // a process would exit; do not pile up sockets
	}
	if err == nil && (c.AccessKeyID == "" || c.SessionToken == "") {
		err = errors.New("blank credentials")
	}
	return d, err
}

// coldSDK makes n cold resolutions against each base URL, after 20
// discarded warm-ups each, rotating through the URLs and their order so
// that drift affects all alike. It returns the times by URL.
func coldSDK(ctx context.Context, urls []string, n int) ([][]time.Duration, error) {
	out := make([][]time.Duration, len(urls))
	for i := range n + 20 {
		for j := range urls {
			k := (i + j) % len(urls)
			d, err := coldResolve(ctx, urls[k]+"/")
			if err != nil {
				return nil, fmt.Errorf("cold SDK resolution at %s: %w", urls[k], err)
			}
			if i >= 20 {
				out[k] = append(out[k], d)
			}
		}
	}
	return out, nil
}

// burstResult: n clients asking at once while the daemon's first fetch is
// in flight.
type burstResult struct {
	ok, keys, inFlight int
}

// burst releases n clients at the daemon's start; each polls until the
// listener answers, then GETs credentials once. inFlight counts GETs sent
// before the first credential came back, i.e. while the fetch was running.
func burst(base string, n int, launch func() error) (burstResult, error) {
	type res struct {
		sent, recv time.Time
		code       int
		key        string
	}
	out := make([]res, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr := http.DefaultTransport.(*http.Transport).Clone()
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			<-start
			deadline := time.Now().Add(10 * time.Second)
			for time.Now().Before(deadline) {
				tok, err := putToken(c, base)
				if err != nil {
					time.Sleep(time.Millisecond)
					continue
				}
				out[i].sent = time.Now()
				out[i].code, out[i].key, _, _ = getDoc(c, base+credPath, "X-aws-ec2-metadata-token", tok)
				out[i].recv = time.Now()
				return
			}
		}()
	}
	if err := launch(); err != nil {
		close(start)
		wg.Wait()
		return burstResult{}, err
	}
	close(start)
	wg.Wait()
	var r burstResult
	keys := map[string]bool{}
	first := time.Time{}
	for _, o := range out {
		if o.code == http.StatusOK {
			r.ok++
			keys[o.key] = true
			if first.IsZero() || o.recv.Before(first) {
				first = o.recv
			}
		}
	}
	for _, o := range out {
		if !o.sent.IsZero() && o.sent.Before(first) {
			r.inFlight++
		}
	}
	r.keys = len(keys)
	return r, nil
}

// pct is the p-th percentile (nearest rank) of ds.
func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

func medianF(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func medianD(v []time.Duration) time.Duration {
	f := make([]float64, len(v))
	for i, d := range v {
		f[i] = float64(d)
	}
	return time.Duration(medianF(f))
}

// sameSizeDoc builds a constant credential-shaped document of exactly
// size bytes (fake values; the token field is padded), so the reference
// moves as many bytes as imdsd and still satisfies an SDK.
func sameSizeDoc(size int, imds bool) ([]byte, error) {
	exp := time.Now().Add(6 * time.Hour).UTC().Format("2006-01-02T15:04:05Z")
	render := func(pad int) string {
		tok := strings.Repeat("R", pad)
		if imds {
			return `{"Code":"Success","LastUpdated":"` + exp + `","Type":"AWS-HMAC","AccessKeyId":"ASIAREFERENCE0000001","SecretAccessKey":"REFERENCEsecretREFERENCEsecretREFERENCE1","Token":"` + tok + `","Expiration":"` + exp + `"}`
		}
		return `{"AccessKeyId":"ASIAREFERENCE0000001","SecretAccessKey":"REFERENCEsecretREFERENCEsecretREFERENCE1","Token":"` + tok + `","Expiration":"` + exp + `","RoleArn":"` + benchRole + `","AccountId":"111122223333"}`
	}
	pad := size - len(render(0))
	if pad < 1 {
		return nil, fmt.Errorf("imdsd's document (%d bytes) is smaller than the reference's skeleton", size)
	}
	return []byte(render(pad)), nil
}
