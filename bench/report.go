//go:build linux

package main

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

func httpClient() *http.Client { return &http.Client{Timeout: 10 * time.Second} }

// Targets from issue 8.
const (
	targetThroughput = 0.95 // x reference
	targetColdP50    = 1.10 // x reference
	targetIdleRSS    = 10.0 // MiB
	targetStartup    = 30 * time.Millisecond
	// rssNoise: RSS moves by a few hundred KiB as the heap and the
	// runtime's page cache settle; growth within this is no growth.
	rssNoise = 1.0 // MiB
)

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "**not met**"
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func (r *results) report(o options) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }

	// Paired per-run ratios: each run measured imdsd and the reference
	// back to back, so machine noise cancels better than in a ratio of
	// medians.
	ratio := func(a, ref string, f func(wrkResult) float64) (ma, mr, rat float64) {
		var va, vr, vq []float64
		for i := range r.wrk[a] {
			va = append(va, f(r.wrk[a][i]))
			vr = append(vr, f(r.wrk[ref][i]))
			vq = append(vq, f(r.wrk[a][i])/f(r.wrk[ref][i]))
		}
		return medianF(va), medianF(vr), medianF(vq)
	}
	rps := func(w wrkResult) float64 { return w.rps }
	p50 := func(w wrkResult) float64 { return float64(w.p50) }
	p99 := func(w wrkResult) float64 { return float64(w.p99) }
	cpu := func(w wrkResult) float64 { return float64(w.cpuPerReq) }
	us := func(v float64) string { return fmt.Sprintf("%.1f µs", v/float64(time.Microsecond)) }

	p("## imdsd benchmark\n\n")
	for _, e := range r.env {
		p("- %s\n", e)
	}
	p("- wrk: %d thread(s), %d connections, %d runs x %v per target, imdsd and reference alternating; values are medians of the runs, ratios medians of per-run ratios\n\n", o.threads, o.conns, o.runs, o.dur)

	p("| measure | imdsd | reference | ratio | target | |\n|---|---|---|---|---|---|\n")
	for _, face := range []string{"IMDS", "ECS"} {
		a, ref := "imdsd "+face, "ref "+face
		what := "IMDSv2 credential GET (with token header)"
		if face == "ECS" {
			what = "ECS credential GET (with Authorization header)"
		}
		ma, mr, q := ratio(a, ref, rps)
		p("| %s: keep-alive throughput | %.0f req/s | %.0f req/s | %.2f | >= %.2fx | %s |\n", what, ma, mr, q, targetThroughput, met(q >= targetThroughput))
		la, lr, lq := ratio(a, ref, p50)
		p("| %s: p50 latency | %s | %s | %.2f | | |\n", what, ms(time.Duration(la)), ms(time.Duration(lr)), lq)
		la, lr, lq = ratio(a, ref, p99)
		p("| %s: p99 latency | %s | %s | %.2f | | |\n", what, ms(time.Duration(la)), ms(time.Duration(lr)), lq)
		ca, cr, cq := ratio(a, ref, cpu)
		p("| %s: server CPU per request | %s | %s | %.2f | | |\n", what, us(ca), us(cr), cq)
	}
	c50, r50 := pct(r.coldImdsd, 50), pct(r.coldRef, 50)
	c99, r99 := pct(r.coldImdsd, 99), pct(r.coldRef, 99)
	q50 := float64(c50) / float64(r50)
	p("| cold SDK resolution (ec2rolecreds, fresh client: PUT token + list + GET), p50 of %d | %s | %s | %.2f | <= %.2fx | %s |\n", len(r.coldImdsd), ms(c50), ms(r50), q50, targetColdP50, met(q50 <= targetColdP50))
	p("| cold SDK resolution, p99 | %s | %s | %.2f | | |\n", ms(c99), ms(r99), float64(c99)/float64(r99))

	mib := func(v rss) string { return fmt.Sprintf("%.1f MiB (anon %.1f)", v.total, v.anon) }
	p("| RSS idle, 1 s after the first credential (VmRSS; anon = heap and stacks, the rest is the binary's file pages) | %s | %s | | <= %.0f MiB | %s |\n", mib(r.idle), mib(r.refIdle), targetIdleRSS, met(r.idle.total <= targetIdleRSS))
	p("| the same with the start's memory kept (IMDSD_TRIM=0) | %s | | | | |\n", mib(r.idleKept))
	gc := ""
	if o.idle > 2*time.Minute {
		gc = ", past Go's 2-minute forced GC"
	}
	p("| RSS after %v idle (a fresh daemon, after two credential GETs%s) | %s | | | <= %.0f MiB | %s |\n", o.idle, gc, mib(r.longIdle), targetIdleRSS, met(r.longIdle.total <= targetIdleRSS))
	perMin := func(n int64) float64 { return float64(n) / o.idle.Minutes() }
	p("| wake-ups while idle: context switches per minute, all threads | %.1f | %.1f | | | |\n", perMin(r.idleSwitches), perMin(r.refIdleSwitches))
	p("| first credential GET after the start's memory was released (its pages fault back in), then the next | %s, %s | | | | |\n", ms(r.afterRelease[0]), ms(r.afterRelease[1]))
	p("| RSS after the load above | %s | %s | | | |\n", mib(r.load), mib(r.refLoad))
	g1, g2 := r.churn1.total-r.load.total, r.churn2.total-r.churn1.total
	p("| RSS after %v of token churn (%.0f PUT/s), then after %v more; peak during | %s, %s; peak %.1f MiB | | %+.1f, %+.1f MiB | no growth beyond noise (%.0f MiB) | %s |\n",
		o.churn, r.churnRate, o.churn, mib(r.churn1), mib(r.churn2), r.churnPeak, g1, g2, rssNoise, met(g1 <= rssNoise && g2 <= rssNoise && r.churnBad == 0))

	st, lis := medianD(r.startups), medianD(r.listens)
	budget := targetStartup + r.stsCold
	p("| startup: process start to first credential served, median of %d (listening after %s) | %s | one STS round trip: %s (warm %s) | | <= 30 ms + 1 RTT = %s | %s |\n",
		len(r.startups), ms(lis), ms(st), ms(r.stsCold), ms(r.stsWarm), ms(budget), met(st <= budget))
	ok := r.burstSTSCalls == 1 && r.burst.ok == r.burstN && r.burst.keys == 1
	p("| STS calls for %d concurrent first requests (%d answered 200 with %d distinct key(s); %d were sent while the fetch was in flight) | %d | | | 1 | %s |\n",
		r.burstN, r.burst.ok, r.burst.keys, r.burst.inFlight, r.burstSTSCalls, met(ok))
	p("| STS calls during the cold, load and churn phases (%.0f s) | %d | | | 0 | %s |\n", r.loadSeconds, r.loadSTSCalls, met(r.loadSTSCalls == 0))
	starts := 0
	for _, n := range r.startupSTSCalls {
		starts += n
	}
	p("| STS calls per start (%d starts: %v) | %.1f | | | 1 | %s |\n\n", len(r.startupSTSCalls), r.startupSTSCalls, float64(starts)/float64(len(r.startupSTSCalls)), met(starts == len(r.startupSTSCalls)))

	p("Per run: throughput (req/s) and server CPU per request:\n\n| run |")
	for _, n := range r.wrkOrder {
		p(" %s |", n)
	}
	p("\n|---|%s\n", strings.Repeat("---|", len(r.wrkOrder)))
	for i := range o.runs {
		p("| %d |", i+1)
		for _, n := range r.wrkOrder {
			w := r.wrk[n][i]
			p(" %.0f, %s (server busy %.2f CPUs) |", w.rps, us(float64(w.cpuPerReq)), w.serverBusy)
		}
		p("\n")
	}
	p("\nStartups (ms):")
	for _, d := range r.startups {
		p(" %.1f", float64(d)/float64(time.Millisecond))
	}
	p("\n")
	return b.String()
}
