//go:build linux

package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// wrkResult is what one wrk run reports, plus the server's CPU time per
// request over the run (robust where other load shares the machine).
type wrkResult struct {
	rps        float64
	p50, p99   time.Duration
	requests   int
	bad        int // non-2xx responses plus socket errors
	cpuPerReq  time.Duration
	serverBusy float64 // server CPU seconds per second of the run
	mid        mem     // the server's memory halfway through the run
}

// wrkScript writes a Lua script setting the method and headers, so that
// header values (the ECS token) stay off the command line.
func wrkScript(dir, name, method string, headers map[string]string) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "wrk.method = %q\n", method)
	for k, v := range headers {
		fmt.Fprintf(&b, "wrk.headers[%q] = %q\n", k, v)
	}
	p := filepath.Join(dir, name+".lua")
	return p, os.WriteFile(p, []byte(b.String()), 0o600)
}

func runWrk(ctx context.Context, o options, server *proc, url, script string, dur time.Duration) (wrkResult, error) {
	ctx, cancel := context.WithTimeout(ctx, dur+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "wrk",
		"-t", strconv.Itoa(o.threads), "-c", strconv.Itoa(o.conns),
		"-d", fmt.Sprintf("%ds", int(dur.Seconds())), "--latency", "-s", script, url)
	cpu0, err := server.cpu()
	if err != nil {
		return wrkResult{}, err
	}
	t0 := time.Now()
	var mid mem
	var midErr error
	sampled := make(chan struct{})
	sample := time.AfterFunc(dur/2, func() { defer close(sampled); mid, midErr = server.mem() })
	out, err := cmd.CombinedOutput()
	if sample.Stop() {
		close(sampled) // wrk ended early; it fails below or is short
	}
	<-sampled
	if err == nil {
		err = midErr
	}
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk %s: %v\n%s", url, err, out)
	}
	cpu1, err := server.cpu()
	if err != nil {
		return wrkResult{}, err
	}
	r, err := parseWrk(string(out))
	r.mid = mid
	if err == nil && r.requests > 0 {
		r.cpuPerReq = (cpu1 - cpu0) / time.Duration(r.requests)
		r.serverBusy = (cpu1 - cpu0).Seconds() / time.Since(t0).Seconds()
	}
	return r, err
}

// parseWrk reads wrk 4's text report.
func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	var seen50, seen99, seenRPS bool
	s := bufio.NewScanner(strings.NewReader(out))
	for s.Scan() {
		f := strings.Fields(s.Text())
		switch {
		case len(f) == 2 && f[0] == "Requests/sec:":
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return r, fmt.Errorf("wrk Requests/sec %q", f[1])
			}
			r.rps, seenRPS = v, true
		case len(f) == 2 && (f[0] == "50%" || f[0] == "99%"):
			d, err := wrkDuration(f[1])
			if err != nil {
				return r, err
			}
			if f[0] == "50%" {
				r.p50, seen50 = d, true
			} else {
				r.p99, seen99 = d, true
			}
		case len(f) >= 3 && f[1] == "requests" && f[2] == "in":
			r.requests, _ = strconv.Atoi(f[0])
		case strings.HasPrefix(s.Text(), "  Non-2xx or 3xx responses:"):
			n, _ := strconv.Atoi(f[len(f)-1])
			r.bad += n
		case len(f) > 0 && f[0] == "Socket" && f[1] == "errors:":
			// "Socket errors: connect 0, read 0, write 0, timeout 0"
			for i := 2; i+1 < len(f); i += 2 {
				n, _ := strconv.Atoi(strings.TrimSuffix(f[i+1], ","))
				r.bad += n
			}
		}
	}
	if !seen50 || !seen99 || !seenRPS {
		return r, fmt.Errorf("could not read wrk's report:\n%s", out)
	}
	return r, nil
}

// wrkDuration parses wrk's "123.45us", "1.20ms", "2.00s".
func wrkDuration(v string) (time.Duration, error) {
	for _, u := range []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"m", time.Minute}, {"s", time.Second}} {
		if num, ok := strings.CutSuffix(v, u.suffix); ok {
			f, err := strconv.ParseFloat(num, 64)
			if err != nil {
				break
			}
			return time.Duration(f * float64(u.unit)), nil
		}
	}
	return 0, fmt.Errorf("wrk latency %q", v)
}
