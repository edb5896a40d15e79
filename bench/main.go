//go:build linux

// Command bench is imdsd's reproducible end-to-end benchmark (`make
// bench-full`, or `bash bench/run.sh`). It builds imdsd, the fake STS and
// a reference net/http server, runs them on loopback with AWS files in a
// temporary HOME, and measures in one run: keep-alive throughput and
// latency of the IMDSv2 and ECS credential GETs against the reference
// (with wrk), cold Go SDK resolutions against a constant IMDS stub,
// memory (private, PSS and VmRSS) of both idle and under load and of
// imdsd through token churn, startup to first credential against one STS
// round trip, and the STS calls a burst and the load cause. It prints a
// markdown table with each target met or not.
//
// With -ab TAGS it instead compares two builds of imdsd, the tree as it
// is and the tree built with the extra build tags, against each other and
// the reference in one run (keep-alive load, cold resolutions, memory).
//
// Linux only (/proc, Pdeathsig). Needs wrk (Debian: apt-get install wrk).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// Fake identities known only to the fake STS.
const (
	benchKeyID  = "AKIAFAKEBENCH0000001"
	benchSecret = "FAKEbenchSECRETkeyFAKEbenchSECRETkey0001"
	benchUser   = "arn:aws:iam::111122223333:user/bench"
	benchRole   = "arn:aws:iam::111122223333:role/dev"
)

type options struct {
	runs     int
	dur      time.Duration
	threads  int
	conns    int
	cold     int
	startups int
	churn    time.Duration
	idle     time.Duration
	out      string
	keep     bool
	ab       string
}

func main() {
	var o options
	flag.IntVar(&o.runs, "runs", 5, "wrk runs per target (medians are reported)")
	flag.DurationVar(&o.dur, "d", 5*time.Second, "duration of each wrk run")
	flag.IntVar(&o.threads, "t", 1, "wrk threads")
	flag.IntVar(&o.conns, "c", 32, "wrk connections")
	flag.IntVar(&o.cold, "cold", 500, "cold SDK resolutions per server")
	flag.IntVar(&o.startups, "startups", 5, "daemon starts timed")
	flag.DurationVar(&o.churn, "churn", 60*time.Second, "token churn duration, in two halves")
	flag.DurationVar(&o.idle, "idle", 130*time.Second, "how long a fresh daemon is left idle at the end (past Go's 2-minute forced GC)")
	flag.StringVar(&o.out, "out", "", "also write the report to this file")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (logs, configs)")
	flag.StringVar(&o.ab, "ab", "", "compare imdsd built with these extra build tags (comma-separated) against the tree as it is, instead of the full benchmark")
	flag.Parse()
	if o.runs < 1 || o.dur < time.Second || o.cold < 10 || o.startups < 1 || o.churn < 2*time.Second || o.idle < time.Second {
		fmt.Fprintln(os.Stderr, "bench: -runs >= 1, -d >= 1s, -cold >= 10, -startups >= 1, -churn >= 2s, -idle >= 1s")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	report, err := run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	fmt.Print(report)
	if o.out != "" {
		if err := os.WriteFile(o.out, []byte(report), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
	}
}

// results gathers every measurement for the report.
type results struct {
	env                   []string
	wrk                   map[string][]wrkResult // by target, one per run
	wrkOrder              []string
	coldImdsd, coldRef    []time.Duration
	idle, refIdle         mem       // 1 s after the start
	load, refLoad         mem       // 1 s after the wrk runs
	idleMem               [3][3]mem // imdsd, SDK floor, reference; 1 s, 30 s and o.idle into the idle phase
	idleSwitches          int64     // context switches during the long idle
	refIdleSwitches       int64
	idleFaults            int64 // major page faults during the long idle
	refIdleFaults         int64
	churn                 [2]mem  // after each half of the churn
	churnPeak             float64 // private MiB
	churnRate             float64
	churnBad              int
	startups, listens     []time.Duration
	stsCold, stsWarm      time.Duration
	startupSTSCalls       []int
	burst                 burstResult
	burstSTSCalls, burstN int
	loadSTSCalls          int
	loadSeconds           float64
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

// setup is what every mode starts from: the binaries, a fake STS and a
// HOME with AWS files and imdsd's config.
type setup struct {
	tmp, home       string
	bins            map[string]string
	sts             *fakeSTS
	imdsURL, ecsURL string
	env             []string // imdsd's whole environment
}

func prepare(ctx context.Context, o options, ps *procs, root, tmp string, extra map[string]string) (*setup, error) {
	s := &setup{tmp: tmp, home: filepath.Join(tmp, "home"), bins: map[string]string{}}
	progress("building imdsd, fakests, refserver, depfloor")
	pkgs := map[string]string{"imdsd": "./cmd/imdsd", "fakests": "./test/fakests/cmd/fakests", "refserver": "./bench/refserver", "depfloor": "./bench/depfloor"}
	tags := map[string]string{}
	for name, t := range extra { // variant builds of imdsd
		pkgs[name], tags[name] = "./cmd/imdsd", t
	}
	for name, pkg := range pkgs {
		var err error
		if s.bins[name], err = build(ctx, root, tmp, name, pkg, tags[name]); err != nil {
			return nil, err
		}
	}
	var err error
	if s.sts, err = ps.startFakeSTS(s.bins["fakests"]); err != nil {
		return nil, err
	}
	imdsPort, ecsPort, err := writeHome(s.home)
	if err != nil {
		return nil, err
	}
	s.imdsURL = fmt.Sprintf("http://127.0.0.1:%d", imdsPort)
	s.ecsURL = fmt.Sprintf("http://127.0.0.1:%d", ecsPort)
	s.env = []string{"HOME=" + s.home, "PATH=/usr/bin:/bin", "AWS_ENDPOINT_URL_STS=" + s.sts.url}
	return s, nil
}

// settle lets a process finish what a phase started (connections closing,
// a collection) before its memory is read.
func settle() { time.Sleep(time.Second) }

func run(ctx context.Context, o options) (string, error) {
	if _, err := exec.LookPath("wrk"); err != nil {
		return "", errors.New("wrk not found: install it (Debian: apt-get install -y wrk), or run bash bench/run.sh")
	}
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp("", "imdsd-bench-")
	if err != nil {
		return "", err
	}
	if o.keep {
		progress("keeping %s", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	ps := &procs{}
	defer ps.stopAll()
	if o.ab != "" {
		return runAB(ctx, o, ps, root, tmp)
	}
	s, err := prepare(ctx, o, ps, root, tmp, nil)
	if err != nil {
		return "", err
	}
	r := &results{wrk: map[string][]wrkResult{}}
	r.env = environment(ctx, root)
	imdsURL, ecsURL, env, sts, bins := s.imdsURL, s.ecsURL, s.env, s.sts, s.bins

	// Startup: process start to the first credential served, each start
	// a fresh process; the last one keeps running for the rest.
	progress("timing %d starts", o.startups)
	// One STS round trip as the daemon's first fetch makes it.
	if r.stsCold, r.stsWarm, err = stsRoundTrip(ctx, sts.url, 20); err != nil {
		return "", err
	}
	var daemon *proc
	for i := range o.startups {
		if daemon != nil {
			daemon.stop()
		}
		calls := sts.log.settled("AssumeRole")
		logf, err := os.Create(filepath.Join(tmp, fmt.Sprintf("imdsd-%d.log", i)))
		if err != nil {
			return "", err
		}
		t0 := time.Now()
		daemon, err = ps.start("imdsd", env, io.Discard, logf, bins["imdsd"], "serve")
		logf.Close()
		if err != nil {
			return "", err
		}
		listening, served, err := awaitFirstCredential(imdsURL, t0)
		if err != nil {
			return "", fmt.Errorf("start %d: %w (log in %s with -keep)", i+1, err, tmp)
		}
		r.listens = append(r.listens, listening)
		r.startups = append(r.startups, served)
		r.startupSTSCalls = append(r.startupSTSCalls, sts.log.settled("AssumeRole")-calls)
	}
	settle()
	if r.idle, err = daemon.mem(); err != nil {
		return "", err
	}

	// The reference: constant documents of imdsd's sizes, and a first
	// request served, as imdsd has served its first credential.
	tok, ecsToken, err := secrets(imdsURL, s.home)
	if err != nil {
		return "", err
	}
	refURL, ref, err := startReference(ps, bins["refserver"], tmp, imdsURL, ecsURL, tok, ecsToken)
	if err != nil {
		return "", err
	}
	if err := firstRequest(refURL, tok); err != nil {
		return "", err
	}
	settle()
	if r.refIdle, err = ref.mem(); err != nil {
		return "", err
	}

	progress("200 concurrent first requests against a fresh daemon")
	if err := runBurst(ps, bins, tmp, s.home, r); err != nil {
		return "", err
	}

	// STS calls are counted from here to the end: none may happen.
	loadCalls := sts.log.settled("")
	loadStart := time.Now()

	progress("%d cold SDK resolutions each", o.cold)
	cold, err := coldSDK(ctx, []string{imdsURL, refURL}, o.cold)
	if err != nil {
		return "", err
	}
	r.coldImdsd, r.coldRef = cold[0], cold[1]

	// Keep-alive load, imdsd and reference alternating, order rotated.
	hdrIMDS := map[string]string{"X-aws-ec2-metadata-token": tok}
	hdrECS := map[string]string{"Authorization": ecsToken}
	targets := []target{
		{"imdsd IMDS", imdsURL + credPath, daemon, hdrIMDS},
		{"ref IMDS", refURL + credPath, ref, hdrIMDS},
		{"imdsd ECS", ecsURL + "/creds", daemon, hdrECS},
		{"ref ECS", refURL + "/creds", ref, hdrECS},
	}
	if r.wrkOrder, err = loadRuns(ctx, o, tmp, targets, r.wrk); err != nil {
		return "", err
	}
	settle()
	if r.load, err = daemon.mem(); err != nil {
		return "", err
	}
	if r.refLoad, err = ref.mem(); err != nil {
		return "", err
	}

	// Token churn in two halves: tokens are stateless, so neither half
	// may add memory, and a leak per token would show in both.
	progress("token churn, 2 x %v", o.churn/2)
	churn, err := wrkScript(tmp, "churn", "PUT", map[string]string{"X-aws-ec2-metadata-token-ttl-seconds": "21600"})
	if err != nil {
		return "", err
	}
	for half := range r.churn {
		done := make(chan struct{})
		go func() { // sample during the churn for its peak
			defer close(done)
			for end := time.Now().Add(o.churn / 2); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
				if v, err := daemon.private(); err == nil && v > r.churnPeak {
					r.churnPeak = v
				}
			}
		}()
		cres, err := runWrk(ctx, o, daemon, imdsURL+tokenPath, churn, o.churn/2)
		<-done
		if err != nil {
			return "", err
		}
		if half == 0 {
			r.churnRate = cres.rps
		}
		r.churnBad += cres.bad
		settle()
		if r.churn[half], err = daemon.mem(); err != nil {
			return "", err
		}
	}
	r.loadSTSCalls = sts.log.settled("") - loadCalls
	r.loadSeconds = time.Since(loadStart).Seconds()

	// Left alone: a fresh daemon serves its first credential, a fresh
	// reference and a fresh SDK floor (bench/depfloor) their first
	// request, and all three are then idle past Go's forced GC; what they
	// hold 1 s, 30 s and o.idle in, and how often imdsd and the reference
	// woke.
	daemon.stop()
	progress("a fresh daemon, reference and SDK floor idle for %v", o.idle)
	idler, err := ps.start("imdsd idle", env, io.Discard, io.Discard, bins["imdsd"], "serve")
	if err != nil {
		return "", err
	}
	if _, _, err := awaitFirstCredential(imdsURL, time.Now()); err != nil {
		return "", fmt.Errorf("idle start: %w", err)
	}
	refURL2, ref2, err := runReference(ps, "refserver", nil, bins["refserver"], tmp)
	if err != nil {
		return "", err
	}
	floorURL, floor, err := runReference(ps, "depfloor", env, bins["depfloor"], tmp)
	if err != nil {
		return "", err
	}
	for _, u := range []string{refURL2, floorURL} {
		if err := firstRequest(u, tok); err != nil {
			return "", err
		}
	}
	settle()
	idlers := [3]*proc{idler, floor, ref2}
	sample := func(at int) error {
		var errs []error
		for i, p := range idlers {
			var err error
			r.idleMem[i][at], err = p.mem()
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	}
	if err := sample(0); err != nil {
		return "", err
	}
	sw0, err1 := idler.switches()
	rsw0, err2 := ref2.switches()
	mf0, err3 := idler.majorFaults()
	rmf0, err4 := ref2.majorFaults()
	start := time.Now()
	if o.idle > 30*time.Second {
		time.Sleep(30*time.Second - time.Since(start))
		if err := sample(1); err != nil {
			return "", err
		}
	}
	time.Sleep(o.idle - time.Since(start))
	sw1, err5 := idler.switches()
	rsw1, err6 := ref2.switches()
	mf1, err7 := idler.majorFaults()
	rmf1, err8 := ref2.majorFaults()
	if err := errors.Join(err1, err2, err3, err4, err5, err6, err7, err8); err != nil {
		return "", err
	}
	r.idleSwitches, r.refIdleSwitches = sw1-sw0, rsw1-rsw0
	r.idleFaults, r.refIdleFaults = mf1-mf0, rmf1-rmf0
	if err := sample(2); err != nil {
		return "", err
	}
	return r.report(o), nil
}

// target is one server and request for wrk.
type target struct {
	name, url string
	server    *proc
	hdr       map[string]string
}

// loadRuns runs wrk o.runs times against every target, the order rotated
// each run so that drift of the machine falls on all alike, and appends
// each result to out by target name. It returns the target names.
func loadRuns(ctx context.Context, o options, tmp string, targets []target, out map[string][]wrkResult) ([]string, error) {
	scripts := map[string]string{}
	var names []string
	for i, t := range targets {
		var err error
		if scripts[t.name], err = wrkScript(tmp, fmt.Sprintf("get%d", i), "GET", t.hdr); err != nil {
			return nil, err
		}
		names = append(names, t.name)
	}
	for run := range o.runs {
		progress("wrk run %d/%d (%d x %v)", run+1, o.runs, len(targets), o.dur)
		for i := range targets {
			t := targets[(i+run)%len(targets)]
			res, err := runWrk(ctx, o, t.server, t.url, scripts[t.name], o.dur)
			if err != nil {
				return nil, err
			}
			if res.bad > 0 {
				return nil, fmt.Errorf("%s: %d non-2xx responses or socket errors under load", t.name, res.bad)
			}
			out[t.name] = append(out[t.name], res)
		}
	}
	return names, nil
}

// firstRequest makes one credential GET, so a server is measured idle
// after it served something, as imdsd is after its first credential.
func firstRequest(base, tok string) error {
	c := httpClient()
	defer c.CloseIdleConnections()
	code, _, _, err := getDoc(c, base+credPath, "X-aws-ec2-metadata-token", tok)
	if err == nil && code != http.StatusOK {
		err = fmt.Errorf("GET %s: %d", base+credPath, code)
	}
	return err
}

// writeHome lays out the temporary HOME: AWS files with a role profile
// and imdsd's default config path, listening on free loopback ports.
func writeHome(home string) (imdsPort, ecsPort int, err error) {
	if imdsPort, err = freePort(); err != nil {
		return
	}
	if ecsPort, err = freePort(); err != nil {
		return
	}
	files := map[string]string{
		".aws/config":               "[profile base]\nregion = us-east-1\n\n[profile dev]\nrole_arn = " + benchRole + "\nsource_profile = base\n",
		".aws/credentials":          "[base]\naws_access_key_id = " + benchKeyID + "\naws_secret_access_key = " + benchSecret + "\n",
		".config/imdsd/config.toml": fmt.Sprintf("profile = \"dev\"\n[imds]\nlisten = [\"127.0.0.1:%d\"]\n[ecs]\nlisten = [\"127.0.0.1:%d\"]\n", imdsPort, ecsPort),
	}
	for name, content := range files {
		p := filepath.Join(home, name)
		if err = os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return
		}
		if err = os.WriteFile(p, []byte(content), 0o600); err != nil {
			return
		}
	}
	return
}

// secrets returns an IMDSv2 token and the ECS token imdsd created. Neither
// is printed.
func secrets(imdsURL, home string) (string, string, error) {
	tok, err := putToken(httpClient(), imdsURL)
	if err != nil {
		return "", "", err
	}
	ecs, err := os.ReadFile(filepath.Join(home, ".config/imdsd/ecs-token"))
	return tok, string(ecs), err
}

// startReference sizes the reference's documents on imdsd's and starts it.
func startReference(ps *procs, bin, tmp, imdsURL, ecsURL, tok, ecsToken string) (string, *proc, error) {
	c := httpClient()
	_, _, imdsDoc, err := getDoc(c, imdsURL+credPath, "X-aws-ec2-metadata-token", tok)
	if err != nil {
		return "", nil, err
	}
	_, _, ecsDoc, err := getDoc(c, ecsURL+"/creds", "Authorization", ecsToken)
	if err != nil {
		return "", nil, err
	}
	files := map[string][]byte{}
	for name, size := range map[string]int{"imds": len(imdsDoc), "ecs": len(ecsDoc)} {
		if files[name], err = sameSizeDoc(size, name == "imds"); err != nil {
			return "", nil, err
		}
		if err := os.WriteFile(filepath.Join(tmp, name+".json"), files[name], 0o600); err != nil {
			return "", nil, err
		}
	}
	return runReference(ps, "refserver", nil, bin, tmp)
}

// runReference starts the reference (or the SDK floor, which takes the
// same flags and needs imdsd's environment to fetch) with the documents
// startReference wrote.
func runReference(ps *procs, name string, env []string, bin, tmp string) (string, *proc, error) {
	if env == nil {
		env = []string{"PATH=/usr/bin:/bin"}
	}
	p, u, err := ps.startURL(name, env, io.Discard, bin,
		"-imds-body", filepath.Join(tmp, "imds.json"), "-ecs-body", filepath.Join(tmp, "ecs.json"))
	return u, p, err
}

// runBurst starts a second daemon against a fake STS that takes 300 ms
// per call, releasing 200 clients at its start: all of them arrive while
// the first fetch is in flight, and must share it.
func runBurst(ps *procs, bins map[string]string, tmp, home string, r *results) error {
	slow, err := ps.startFakeSTS(bins["fakests"], "-fault-delay", "300ms")
	if err != nil {
		return err
	}
	defer slow.stop()
	port, err := freePort()
	if err != nil {
		return err
	}
	cfg := filepath.Join(tmp, "burst.toml")
	toml := fmt.Sprintf("profile = \"dev\"\ncontrol_socket = %q\n[imds]\nlisten = [\"127.0.0.1:%d\"]\n[ecs]\nlisten = []\n", filepath.Join(tmp, "burst.sock"), port)
	if err := os.WriteFile(cfg, []byte(toml), 0o600); err != nil {
		return err
	}
	env := []string{"HOME=" + home, "PATH=/usr/bin:/bin", "AWS_ENDPOINT_URL_STS=" + slow.url}
	var d *proc
	r.burstN = 200
	r.burst, err = burst(fmt.Sprintf("http://127.0.0.1:%d", port), r.burstN, func() error {
		d, err = ps.start("imdsd burst", env, io.Discard, io.Discard, bins["imdsd"], "serve", "--config", cfg)
		return err
	})
	if d != nil {
		defer d.stop()
	}
	if err != nil {
		return err
	}
	r.burstSTSCalls = slow.log.settled("AssumeRole")
	return nil
}

func repoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	mod := strings.TrimSpace(string(out))
	b, err := os.ReadFile(mod)
	if err != nil || !strings.Contains(string(b), "module github.com/imdsd/imdsd") {
		return "", errors.New("run from the imdsd repository")
	}
	return filepath.Dir(mod), nil
}

// environment describes the machine, for the report.
func environment(ctx context.Context, root string) []string {
	cmd := func(name string, args ...string) string {
		c := exec.CommandContext(ctx, name, args...)
		c.Dir = root
		b, _ := c.Output()
		return strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0])
	}
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	load, _ := os.ReadFile("/proc/loadavg")
	return []string{
		fmt.Sprintf("%s, %d cores (GOMAXPROCS %d), %s", cpu, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.GOOS+"/"+runtime.GOARCH),
		fmt.Sprintf("%s; %s; imdsd %s", cmd("go", "version"), cmd("wrk", "-v"), cmd("git", "describe", "--always", "--dirty")),
		"load average at start: " + strings.Join(strings.Fields(string(load))[:3], " "),
		"date: " + time.Now().UTC().Format(time.RFC3339),
		// Both built alike; each with its own runtime defaults (GOGC unset).
		"builds: -tags nethttpomithttp2 -trimpath -ldflags '-s -w', CGO off; imdsd runs with its own GOGC (daemon/gc.go), the reference with Go's default",
	}
}
