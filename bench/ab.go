//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// runAB compares two builds of imdsd in one run: A, the tree as it is,
// and B, the tree built with the extra tags of -ab. Both serve the same
// profile from the same fake STS beside the reference, and every wrk run
// and cold resolution alternates between the three, so that a difference
// of a few percent is not the machine drifting between two runs.
func runAB(ctx context.Context, o options, ps *procs, root, tmp string) (string, error) {
	s, err := prepare(ctx, o, ps, root, tmp, map[string]string{"imdsd-b": o.ab})
	if err != nil {
		return "", err
	}
	a, err := ps.start("imdsd A", s.env, io.Discard, io.Discard, s.bins["imdsd"], "serve")
	if err != nil {
		return "", err
	}
	if _, _, err := awaitFirstCredential(s.imdsURL, time.Now()); err != nil {
		return "", fmt.Errorf("build A: %w", err)
	}
	// B: its own ports and control socket; the same HOME, so the same
	// profiles and ECS token.
	imdsPort, err1 := freePort()
	ecsPort, err2 := freePort()
	if err1 != nil || err2 != nil {
		return "", fmt.Errorf("ports: %v %v", err1, err2)
	}
	bIMDS, bECS := fmt.Sprintf("http://127.0.0.1:%d", imdsPort), fmt.Sprintf("http://127.0.0.1:%d", ecsPort)
	cfg := filepath.Join(tmp, "b.toml")
	toml := fmt.Sprintf("profile = \"dev\"\ncontrol_socket = %q\n[imds]\nlisten = [\"127.0.0.1:%d\"]\n[ecs]\nlisten = [\"127.0.0.1:%d\"]\n", filepath.Join(tmp, "b.sock"), imdsPort, ecsPort)
	if err := os.WriteFile(cfg, []byte(toml), 0o600); err != nil {
		return "", err
	}
	b, err := ps.start("imdsd B", s.env, io.Discard, io.Discard, s.bins["imdsd-b"], "serve", "--config", cfg)
	if err != nil {
		return "", err
	}
	if _, _, err := awaitFirstCredential(bIMDS, time.Now()); err != nil {
		return "", fmt.Errorf("build B: %w", err)
	}
	tokA, ecsToken, err := secrets(s.imdsURL, s.home)
	if err != nil {
		return "", err
	}
	tokB, err := putToken(httpClient(), bIMDS) // tokens are the issuing process's
	if err != nil {
		return "", err
	}
	refURL, ref, err := startReference(ps, s.bins["refserver"], tmp, s.imdsURL, s.ecsURL, tokA, ecsToken)
	if err != nil {
		return "", err
	}
	settle()
	servers := []*proc{a, b, ref}
	var idle, load [3]mem
	for i, p := range servers {
		if idle[i], err = p.mem(); err != nil {
			return "", err
		}
	}

	progress("%d cold SDK resolutions each", o.cold)
	cold, err := coldSDK(ctx, []string{s.imdsURL, bIMDS, refURL}, o.cold)
	if err != nil {
		return "", err
	}
	hdr := func(k, v string) map[string]string { return map[string]string{k: v} }
	const tokH = "X-aws-ec2-metadata-token"
	targets := []target{
		{"A IMDS", s.imdsURL + credPath, a, hdr(tokH, tokA)},
		{"B IMDS", bIMDS + credPath, b, hdr(tokH, tokB)},
		{"ref IMDS", refURL + credPath, ref, hdr(tokH, tokA)},
		{"A ECS", s.ecsURL + "/creds", a, hdr("Authorization", ecsToken)},
		{"B ECS", bECS + "/creds", b, hdr("Authorization", ecsToken)},
		{"ref ECS", refURL + "/creds", ref, hdr("Authorization", ecsToken)},
	}
	w := map[string][]wrkResult{}
	order, err := loadRuns(ctx, o, tmp, targets, w)
	if err != nil {
		return "", err
	}
	settle()
	for i, p := range servers {
		if load[i], err = p.mem(); err != nil {
			return "", err
		}
	}
	side, err := sideBySide(ctx, o, tmp, targets)
	if err != nil {
		return "", err
	}
	return abReport(o, environment(ctx, root), w, order, side, cold, idle, load), nil
}

// sideBySide loads A and B at the same time, one wrk each, o.runs times
// per face: whatever else the machine does then falls on both at once,
// which alternating runs only approach. It returns the results by target
// name (A and B only).
func sideBySide(ctx context.Context, o options, tmp string, targets []target) (map[string][]wrkResult, error) {
	out := map[string][]wrkResult{}
	for run := range o.runs {
		progress("side by side %d/%d (2 x %v)", run+1, o.runs, o.dur)
		for _, face := range []string{"IMDS", "ECS"} {
			var pair []target
			for _, t := range targets {
				if t.name == "A "+face || t.name == "B "+face {
					pair = append(pair, t)
				}
			}
			res := make([]wrkResult, len(pair))
			errs := make([]error, len(pair))
			done := make(chan int)
			for i, t := range pair {
				go func() {
					script, err := wrkScript(tmp, fmt.Sprintf("side%d", i), "GET", t.hdr)
					if err == nil {
						res[i], err = runWrk(ctx, o, t.server, t.url, script, o.dur)
					}
					errs[i] = err
					done <- i
				}()
			}
			for range pair {
				<-done
			}
			for i, t := range pair {
				if errs[i] != nil {
					return nil, errs[i]
				}
				if res[i].bad > 0 {
					return nil, fmt.Errorf("%s: %d non-2xx responses or socket errors under load", t.name, res[i].bad)
				}
				out[t.name] = append(out[t.name], res[i])
			}
		}
	}
	return out, nil
}

func abReport(o options, env []string, w map[string][]wrkResult, order []string, side map[string][]wrkResult, cold [][]time.Duration, idle, load [3]mem) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("## imdsd A/B: A = the tree, B = the tree with -tags %s\n\n", o.ab)
	for _, e := range env {
		p("- %s\n", e)
	}
	p("- wrk: %d thread(s), %d connections, %d runs x %v per target, A, B and reference rotating; values are medians of the runs, ratios medians of per-run ratios\n\n", o.threads, o.conns, o.runs, o.dur)
	// per-run ratio of x to y, median.
	ratio := func(x, y string, f func(wrkResult) float64) float64 {
		var q []float64
		for i := range w[x] {
			q = append(q, f(w[x][i])/f(w[y][i]))
		}
		return medianF(q)
	}
	med := func(x string, f func(wrkResult) float64) float64 {
		var v []float64
		for _, r := range w[x] {
			v = append(v, f(r))
		}
		return medianF(v)
	}
	rps := func(r wrkResult) float64 { return r.rps }
	cpu := func(r wrkResult) float64 { return float64(r.cpuPerReq) / float64(time.Microsecond) }
	p50 := func(r wrkResult) float64 { return float64(r.p50) / float64(time.Millisecond) }
	p("| measure | A | B | reference | B/A | A/ref | B/ref |\n|---|---|---|---|---|---|---|\n")
	for _, face := range []string{"IMDS", "ECS"} {
		A, B, R := "A "+face, "B "+face, "ref "+face
		for _, m := range []struct {
			name, unit string
			f          func(wrkResult) float64
		}{{"throughput", "req/s", rps}, {"server CPU per request", "µs", cpu}, {"p50 latency", "ms", p50}} {
			p("| %s %s (%s) | %.4g | %.4g | %.4g | %.3f | %.3f | %.3f |\n", face, m.name, m.unit,
				med(A, m.f), med(B, m.f), med(R, m.f), ratio(B, A, m.f), ratio(A, R, m.f), ratio(B, R, m.f))
		}
	}
	var both []float64
	for _, face := range []string{"IMDS", "ECS"} {
		for i := range w["A "+face] {
			both = append(both, cpu(w["B "+face][i])/cpu(w["A "+face][i]))
		}
	}
	p("| both faces: server CPU per request, median of the %d per-run B/A ratios | | | | %.3f | | |\n", len(both), medianF(both))
	c := [3]float64{}
	for i := range c {
		c[i] = float64(pct(cold[i], 50)) / float64(time.Millisecond)
	}
	p("| cold SDK resolution p50 of %d (ms) | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f |\n", len(cold[0]), c[0], c[1], c[2], c[1]/c[0], c[0]/c[2], c[1]/c[2])
	for _, m := range []struct {
		when string
		v    [3]mem
	}{{"idle", idle}, {"after the load", load}} {
		v := m.v
		p("| private memory %s (MiB) | %.1f | %.1f | %.1f | %.2f | %.2f | %.2f |\n", m.when, v[0].private(), v[1].private(), v[2].private(),
			v[1].private()/v[0].private(), v[0].private()/v[2].private(), v[1].private()/v[2].private())
	}
	p("\nSide by side: A and B loaded at the same time, %d runs x %v per face; medians, and medians of per-run ratios:\n\n", o.runs, o.dur)
	p("| measure | A | B | B/A |\n|---|---|---|---|\n")
	sideMed := func(x string, f func(wrkResult) float64) float64 {
		var v []float64
		for _, r := range side[x] {
			v = append(v, f(r))
		}
		return medianF(v)
	}
	var all []float64 // CPU ratios of both faces: the server code is common
	for _, face := range []string{"IMDS", "ECS"} {
		A, B := "A "+face, "B "+face
		for _, m := range []struct {
			name, unit string
			f          func(wrkResult) float64
		}{{"throughput", "req/s", rps}, {"server CPU per request", "µs", cpu}} {
			var q []float64
			for i := range side[A] {
				q = append(q, m.f(side[B][i])/m.f(side[A][i]))
				if m.name != "throughput" {
					all = append(all, q[len(q)-1])
				}
			}
			p("| %s %s (%s) | %.4g | %.4g | %.3f |\n", face, m.name, m.unit, sideMed(A, m.f), sideMed(B, m.f), medianF(q))
		}
	}
	p("| both faces: server CPU per request, median of the %d per-run ratios | | | %.3f |\n", len(all), medianF(all))
	p("\nPer run, side by side: throughput (req/s), server CPU per request:\n\n| run | A IMDS | B IMDS | A ECS | B ECS |\n|---|---|---|---|---|\n")
	for i := range o.runs {
		p("| %d |", i+1)
		for _, n := range []string{"A IMDS", "B IMDS", "A ECS", "B ECS"} {
			p(" %.0f, %.1f µs |", side[n][i].rps, cpu(side[n][i]))
		}
		p("\n")
	}

	p("\nPer run, alternating: throughput (req/s), server CPU per request:\n\n| run |")
	for _, n := range order {
		p(" %s |", n)
	}
	p("\n|---|%s\n", strings.Repeat("---|", len(order)))
	for i := range o.runs {
		p("| %d |", i+1)
		for _, n := range order {
			p(" %.0f, %.1f µs |", w[n][i].rps, cpu(w[n][i]))
		}
		p("\n")
	}
	return b.String()
}
