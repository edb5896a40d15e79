//go:build linux

package main

import (
	"testing"
	"time"
)

// A wrk 4.1 report as Debian's build prints it.
const wrkSample = `Running 5s test @ http://127.0.0.1:40123/latest/meta-data/iam/security-credentials/dev
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.12ms    3.01ms  40.28ms   95.10%
    Req/Sec    46.12k     3.20k   50.11k    80.00%
  Latency Distribution
     50%  550.00us
     75%  700.00us
     90%    1.01ms
     99%   40.28ms
  229040 requests in 5.00s, 128.02MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  45808.10
Transfer/sec:     25.60MB
`

func TestParseWrk(t *testing.T) {
	r, err := parseWrk(wrkSample)
	if err != nil {
		t.Fatal(err)
	}
	want := wrkResult{rps: 45808.10, p50: 550 * time.Microsecond, p99: 40280 * time.Microsecond, requests: 229040, bad: 7}
	if r != want {
		t.Fatalf("got %+v, want %+v", r, want)
	}
	if _, err := parseWrk("unable to connect to 127.0.0.1:1 Connection refused\n"); err == nil {
		t.Fatal("a failed run parsed as a result")
	}
}

func TestSameSizeDoc(t *testing.T) {
	for _, size := range []int{487, 600, 1200} {
		for _, imds := range []bool{true, false} {
			b, err := sameSizeDoc(size, imds)
			if err != nil || len(b) != size {
				t.Fatalf("size %d imds %v: %d bytes, %v", size, imds, len(b), err)
			}
		}
	}
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i))
	}
	if p := pct(ds, 50); p != 50 {
		t.Fatalf("p50 %v", p)
	}
	if p := pct(ds, 99); p != 99 {
		t.Fatalf("p99 %v", p)
	}
}
