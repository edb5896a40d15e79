// Command pprofd runs the daemon in-process exactly as `imdsd serve` wires
// it, and writes CPU and heap profiles for a window of its life, so that a
// benchmark finding can be traced to code without building profiling into
// imdsd. Drive it with wrk or the SDK while the window is open:
//
//	go run ./bench/pprofd -config cfg.toml -after 2s -for 10s -cpuprofile cpu.out -heapprofile heap.out
//	go tool pprof -top cpu.out
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/imdsd/imdsd/daemon"
)

var demo bool

func main() {
	cfg := flag.String("config", "", "imdsd config file (as imdsd serve --config)")
	after := flag.Duration("after", 2*time.Second, "start profiling this long after start")
	window := flag.Duration("for", 10*time.Second, "profile this long, then exit")
	cpu := flag.String("cpuprofile", "", "CPU profile output")
	heap := flag.String("heapprofile", "", "heap profile output (at the end of the window)")
	level := flag.String("log-level", "", "as imdsd serve --log-level")
	flag.BoolVar(&demo, "demo", false, "as imdsd serve --demo (no STS needed)")
	flag.Parse()
	if err := run(*cfg, *after, *window, *cpu, *heap, *level); err != nil {
		fmt.Fprintln(os.Stderr, "pprofd:", err)
		os.Exit(1)
	}
}

func run(cfg string, after, window time.Duration, cpu, heap, level string) error {
	daemon.TuneGC() // as imdsd serve
	lv := new(slog.LevelVar)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lv}))
	d, err := daemon.New(daemon.Options{ConfigPath: cfg, Demo: demo, Logger: log, LogLevel: lv, LogLevelFlag: level})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, after+window)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- d.Run(ctx) }()

	select {
	case <-time.After(after):
	case err := <-errc:
		return err
	}
	if cpu != "" {
		f, err := os.Create(cpu)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	fmt.Fprintln(os.Stderr, "pprofd: profiling for", window)
	<-ctx.Done()
	if cpu != "" {
		pprof.StopCPUProfile()
	}
	if heap != "" {
		runtime.GC()
		f, err := os.Create(heap)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.WriteHeapProfile(f); err != nil {
			return err
		}
	}
	return <-errc
}
