//go:build linux

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a child process of the benchmark. Children die with it
// (Pdeathsig), so an interrupted run leaves nothing listening.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
}

// procs tracks every child so that run can stop them all on the way out.
type procs struct {
	mu   sync.Mutex
	list []*proc
}

func (ps *procs) start(name string, env []string, stdout, stderr io.Writer, bin string, args ...string) (*proc, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	ps.mu.Lock()
	ps.list = append(ps.list, p)
	ps.mu.Unlock()
	return p, nil
}

// stop asks politely, then kills after 5 s.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (ps *procs) stopAll() {
	ps.mu.Lock()
	list := ps.list
	ps.list = nil
	ps.mu.Unlock()
	for _, p := range list {
		p.stop()
	}
}

// mem is a process's memory, in MiB. VmRSS counts every resident page it
// maps, the binary's clean file pages included: those are shared with the
// page cache, cost nothing to drop and come back from the file. Private
// memory (RssAnon + RssShmem: heap, stacks, anonymous shared memory) is
// what the process alone makes the machine hold; PSS (smaps_rollup) is
// its resident set with each shared page divided among its mappers.
type mem struct{ vmRSS, anon, shmem, file, pss float64 }

func (m mem) private() float64 { return m.anon + m.shmem }

func (p *proc) mem() (mem, error) {
	var m mem
	pid := p.cmd.Process.Pid
	if err := procFields(fmt.Sprintf("/proc/%d/status", pid), map[string]*float64{
		"VmRSS:": &m.vmRSS, "RssAnon:": &m.anon, "RssShmem:": &m.shmem, "RssFile:": &m.file,
	}); err != nil {
		return mem{}, err
	}
	return m, procFields(fmt.Sprintf("/proc/%d/smaps_rollup", pid), map[string]*float64{"Pss:": &m.pss})
}

// private reads the private memory alone: /proc/PID/status is cheap enough
// to sample during a load, smaps_rollup walks the page tables.
func (p *proc) private() (float64, error) {
	var m mem
	err := procFields(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid), map[string]*float64{"RssAnon:": &m.anon, "RssShmem:": &m.shmem})
	return m.private(), err
}

// procFields reads "Key:   123 kB" lines of a /proc file into MiB; every
// key must be present.
func procFields(path string, keys map[string]*float64) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	seen := 0
	for _, line := range strings.Split(string(b), "\n") {
		key, rest, ok := strings.Cut(line, ":")
		dst := keys[key+":"]
		if !ok || dst == nil {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
		if err != nil {
			return fmt.Errorf("%s: %q: %v", path, line, err)
		}
		*dst = kb / 1024
		seen++
	}
	if seen != len(keys) {
		return fmt.Errorf("%s: %d of the %d fields wanted", path, seen, len(keys))
	}
	return nil
}

// switches counts the context switches of all the process's threads so
// far (voluntary and not): each is a wake-up, or a preemption of one.
func (p *proc) switches() (int64, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", p.cmd.Process.Pid))
	if err != nil || len(tasks) == 0 {
		return 0, fmt.Errorf("no threads of %s in /proc", p.name)
	}
	var n int64
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue // a thread that just ended
		}
		for _, line := range strings.Split(string(b), "\n") {
			for _, key := range []string{"voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:"} {
				if rest, ok := strings.CutPrefix(line, key); ok {
					v, _ := strconv.ParseInt(strings.TrimSpace(rest), 10, 64)
					n += v
				}
			}
		}
	}
	return n, nil
}

// stat reads the fields of /proc/PID/stat after the command name, which
// is in parentheses and may hold spaces.
func (p *proc) stat() ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return nil, err
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return nil, errors.New("short /proc stat")
	}
	return f, nil
}

// cpu is the process's user+system CPU time so far (utime and stime, the
// 12th and 13th fields after the name).
func (p *proc) cpu() (time.Duration, error) {
	f, err := p.stat()
	if err != nil {
		return 0, err
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("bad /proc stat")
	}
	return time.Duration(u+st) * time.Second / clockTicks, nil
}

// majorFaults counts the page faults so far that had to read from the
// file (majflt, the 10th field after the name): each blocks the thread,
// and so is a context switch too.
func (p *proc) majorFaults() (int64, error) {
	f, err := p.stat()
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(f[9], 10, 64)
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

// firstLine starts a child that prints its URL as the first stdout line
// (fakests, refserver) and returns it.
func (ps *procs) startURL(name string, env []string, stderr io.Writer, bin string, args ...string) (*proc, string, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, "", err
	}
	p, err := ps.start(name, env, w, stderr, bin, args...)
	w.Close()
	if err != nil {
		r.Close()
		return nil, "", err
	}
	line := make(chan string, 1)
	go func() {
		defer r.Close()
		s := bufio.NewScanner(r)
		if s.Scan() {
			line <- s.Text()
		}
		close(line)
		_, _ = io.Copy(io.Discard, r)
	}()
	select {
	case u, ok := <-line:
		if !ok || !strings.HasPrefix(u, "http://127.0.0.1:") {
			return nil, "", fmt.Errorf("%s printed %q, want a loopback URL", name, u)
		}
		return p, u, nil
	case <-time.After(10 * time.Second):
		return nil, "", fmt.Errorf("%s printed no URL in 10s", name)
	}
}

// stsLog counts the fake STS's calls from its stderr, one line per call
// (key ids only; fakests never prints secrets).
type stsLog struct {
	mu    sync.Mutex
	calls map[string]int
	all   int
}

func (l *stsLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range strings.Split(string(b), "\n") {
		if _, rest, ok := strings.Cut(line, " action=\""); ok {
			action, _, _ := strings.Cut(rest, "\"")
			l.calls[action]++
			l.all++
		}
	}
	return len(b), nil
}

// settled counts once the log has been quiet for 100 ms, so that a line
// still in the pipe is not attributed to the next phase.
func (l *stsLog) settled(action string) int {
	n := l.count(action)
	for range 50 {
		time.Sleep(100 * time.Millisecond)
		m := l.count(action)
		if m == n {
			return n
		}
		n = m
	}
	return n
}

func (l *stsLog) count(action string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if action == "" {
		return l.all
	}
	return l.calls[action]
}

// lineWriter hands whole lines to stsLog: a pipe may split a write.
type lineWriter struct {
	mu   sync.Mutex
	buf  []byte
	sink io.Writer
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, b...)
	if i := strings.LastIndexByte(string(w.buf), '\n'); i >= 0 {
		_, _ = w.sink.Write(w.buf[:i+1])
		w.buf = append(w.buf[:0], w.buf[i+1:]...)
	}
	return len(b), nil
}

// fakeSTS is a running fakests with its call counter.
type fakeSTS struct {
	*proc
	url string
	log *stsLog
}

func (ps *procs) startFakeSTS(bin string, extra ...string) (*fakeSTS, error) {
	l := &stsLog{calls: map[string]int{}}
	args := append([]string{
		"-user", benchKeyID + ":" + benchSecret + ":" + benchUser,
		"-role", benchRole + ",trust=" + benchUser,
	}, extra...)
	p, u, err := ps.startURL("fakests", []string{"PATH=/usr/bin:/bin"}, &lineWriter{sink: l}, bin, args...)
	if err != nil {
		return nil, err
	}
	return &fakeSTS{proc: p, url: u, log: l}, nil
}

// freePort picks a loopback port for a listener the child binds. The
// port could in theory be taken in between; a bind error then says so.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// build compiles a main package into dir the way `make build` does, with
// extra build tags (comma-separated) if any.
func build(ctx context.Context, root, dir, name, pkg, extra string) (string, error) {
	out := filepath.Join(dir, name)
	// The tags as in the Makefile's build (and the reference gets them too).
	tags := "nethttpomithttp2"
	if extra != "" {
		tags += "," + extra
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", tags, "-trimpath", "-ldflags", "-s -w", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return out, nil
}
