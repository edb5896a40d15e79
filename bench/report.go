//go:build linux

package main

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

func httpClient() *http.Client { return &http.Client{Timeout: 10 * time.Second} }

// Targets.
const (
	targetThroughput  = 0.95 // x reference
	targetColdP50     = 1.10 // x reference
	targetIdlePrivate = 2.0  // x reference
	targetStartup     = 30 * time.Millisecond
	// memNoise: private memory moves by a few hundred KiB as the heap
	// settles; growth within this is no growth.
	memNoise = 1.0 // MiB
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

	q := r.idle.private() / r.refIdle.private()
	p("| private memory idle (RssAnon + RssShmem), 1 s after the first credential | %.1f MiB | %.1f MiB | %.2f | <= %.0fx | %s |\n", r.idle.private(), r.refIdle.private(), q, targetIdlePrivate, met(q <= targetIdlePrivate))
	il, fl := r.idleMem[0][2].private()/r.idleMem[2][2].private(), r.idleMem[1][2].private()/r.idleMem[2][2].private()
	p("| private memory idle, fresh processes side by side after %v (SDK floor: %.1f MiB, %.2fx) | %.1f MiB | %.1f MiB | %.2f | <= %.0fx | %s |\n",
		o.idle, r.idleMem[1][2].private(), fl, r.idleMem[0][2].private(), r.idleMem[2][2].private(), il, targetIdlePrivate, met(il <= targetIdlePrivate))
	g1, g2 := r.churn[0].private()-r.load.private(), r.churn[1].private()-r.churn[0].private()
	growth := r.churn[1].private() - r.load.private()
	p("| private memory through %v of token churn (%.0f PUT/s): after the load, after %v, after %v; peak during | %.1f, %.1f, %.1f MiB; peak %.1f | | %+.1f, %+.1f MiB | grows <= %.0f MiB | %s |\n",
		o.churn, r.churnRate, o.churn/2, o.churn, r.load.private(), r.churn[0].private(), r.churn[1].private(), r.churnPeak, g1, g2, memNoise, met(growth <= memNoise && r.churnBad == 0))
	perMin := func(n int64) float64 { return float64(n) / o.idle.Minutes() }
	p("| wake-ups while idle (%v): context switches per minute, all threads; of them major page faults (code read back from the file) | %.1f; %.1f | %.1f; %.1f | | | |\n",
		o.idle, perMin(r.idleSwitches), perMin(r.idleFaults), perMin(r.refIdleSwitches), perMin(r.refIdleFaults))
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

	r.memTable(&b, o)

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

// memTable prints the memory of imdsd and the reference side by side.
func (r *results) memTable(b *strings.Builder, o options) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	// Under load: the median of the samples taken halfway through each
	// wrk run of a server, field by field.
	mid := func(names ...string) mem {
		var f [5][]float64
		for _, n := range names {
			for _, w := range r.wrk[n] {
				for i, v := range []float64{w.mid.vmRSS, w.mid.anon, w.mid.shmem, w.mid.file, w.mid.pss} {
					f[i] = append(f[i], v)
				}
			}
		}
		return mem{medianF(f[0]), medianF(f[1]), medianF(f[2]), medianF(f[3]), medianF(f[4])}
	}
	p("Memory (MiB). Private = RssAnon + RssShmem (/proc/PID/status): what the process alone holds. ")
	p("PSS (/proc/PID/smaps_rollup): resident pages, each shared one divided among the processes mapping it. ")
	p("VmRSS also counts the binary's clean file pages, which the page cache shares and can drop.\n\n")
	p("| when | imdsd private | reference private | ratio | imdsd PSS | reference PSS | imdsd VmRSS | reference VmRSS |\n|---|---|---|---|---|---|---|---|\n")
	row := func(when string, a, ref mem) {
		p("| %s | %.1f | %.1f | %.2f | %.1f | %.1f | %.1f | %.1f |\n", when, a.private(), ref.private(), a.private()/ref.private(), a.pss, ref.pss, a.vmRSS, ref.vmRSS)
	}
	row("idle, 1 s after the first credential (reference: after its first request)", r.idle, r.refIdle)
	row(fmt.Sprintf("under keep-alive load (halfway through each wrk run, median of %d)", 2*o.runs), mid("imdsd IMDS", "imdsd ECS"), mid("ref IMDS", "ref ECS"))
	row("1 s after the load", r.load, r.refLoad)
	one := func(when string, a mem) {
		p("| %s | %.1f | | | %.1f | | %.1f | |\n", when, a.private(), a.pss, a.vmRSS)
	}
	for i, m := range r.churn {
		one(fmt.Sprintf("after %v of token churn", o.churn/2*time.Duration(i+1)), m)
	}
	p("\nIdle, fresh processes side by side (private MiB; SDK floor = bench/depfloor: the reference plus aws-sdk-go-v2's config loader, used once to fetch the profile's credentials):\n\n")
	p("| idle for | imdsd | SDK floor | reference | imdsd / reference | floor / reference | imdsd PSS | imdsd VmRSS |\n|---|---|---|---|---|---|---|---|\n")
	gc := ""
	if o.idle > 2*time.Minute {
		gc = " (past Go's 2-minute forced GC)"
	}
	for at, when := range []string{"1 s", "30 s", o.idle.String() + gc} {
		if at == 1 && o.idle <= 30*time.Second {
			continue
		}
		d, f, ref := r.idleMem[0][at], r.idleMem[1][at], r.idleMem[2][at]
		p("| %s | %.1f | %.1f | %.1f | %.2f | %.2f | %.1f | %.1f |\n", when, d.private(), f.private(), ref.private(), d.private()/ref.private(), f.private()/ref.private(), d.pss, d.vmRSS)
	}
	p("\n")
}
