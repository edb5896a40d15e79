package config

import (
	"bytes"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fsnotify/fsnotify"
)

const (
	testDebounce = 50 * time.Millisecond
	// eventTimeout bounds waiting for an expected event; generous for
	// loaded CI machines, and only spent when a test is failing.
	eventTimeout = 10 * time.Second
)

// testWatcher is a Watcher on real files with a sentinel file of its own,
// which proves that nothing else was reported (see expectQuiet) without
// waiting for a quiet period and hoping it was long enough.
type testWatcher struct {
	*Watcher
	t        *testing.T
	sentinel string
	n        int
}

func newTestWatcher(t *testing.T, paths ...string) *testWatcher {
	t.Helper()
	sentinel := filepath.Join(t.TempDir(), "sentinel")
	replaceFile(t, sentinel, "0")
	var logs syncBuffer
	w, err := NewWatcher(append(paths, sentinel), testDebounce, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := noHang(t, "Close", w.Close); err != nil {
			t.Errorf("Close: %v", err)
		}
		if t.Failed() {
			t.Logf("watcher log:\n%s", logs.String())
		}
	})
	return &testWatcher{Watcher: w, t: t, sentinel: sentinel}
}

// setPaths is SetPaths, keeping the sentinel watched.
func (w *testWatcher) setPaths(paths ...string) {
	w.t.Helper()
	if err := w.SetPaths(append(paths, w.sentinel)); err != nil {
		w.t.Fatal(err)
	}
}

// expect waits until exactly the paths in want have been reported, in one
// notification or several (a burst can straddle a debounce period on a
// busy machine), and fails on any other path.
func (w *testWatcher) expect(want ...string) {
	w.t.Helper()
	seen := map[string]bool{}
	deadline := time.After(eventTimeout)
	for len(seen) < len(want) {
		select {
		case ev, ok := <-w.Events():
			if !ok {
				w.t.Fatal("Events closed unexpectedly")
			}
			for _, p := range ev {
				if !slices.Contains(want, p) {
					w.t.Fatalf("changed paths %q include %q; want only %q", ev, p, want)
				}
				seen[p] = true
			}
		case <-deadline:
			w.t.Fatalf("reported %v within %v; want %q", slices.Sorted(maps.Keys(seen)), eventTimeout, want)
		}
	}
}

// expectQuiet checks that nothing has been reported since the last
// expectation: it changes the sentinel, and the next report must name the
// sentinel alone. Reports follow the order of the changes, so a spurious
// one would come before the sentinel's or with it.
func (w *testWatcher) expectQuiet() {
	w.t.Helper()
	w.n++
	replaceFile(w.t, w.sentinel, fmt.Sprint(w.n))
	w.expect(w.sentinel)
}

// writeFile writes in place (truncate, then write), as some editors and
// shell redirections do.
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// replaceFile writes content to a new file renamed over path, the way most
// editors save; readers see the old content or the new, nothing between.
func replaceFile(t *testing.T, path, content string) {
	t.Helper()
	if err := WriteFileAtomic(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// syncBuffer is a bytes.Buffer safe for the watcher goroutine's logging
// and the test's reading.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestWatchPlainWrite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	writeFile(t, cfg, "a = 1\n")
	w := newTestWatcher(t, cfg)

	writeFile(t, cfg, "a = 2\n")
	w.expect(cfg)
}

func TestWatchRenameSave(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	writeFile(t, cfg, "a = 1\n")
	w := newTestWatcher(t, cfg)

	// How vim (backupcopy=no), VS Code and sed -i save: a new file renamed
	// over the old one; a watch on the old inode would see nothing.
	replaceFile(t, cfg, "a = 2\n")
	w.expect(cfg)
	w.expectQuiet()

	// And again, to show the watch survived the first replacement.
	replaceFile(t, cfg, "a = 3\n")
	w.expect(cfg)
}

func TestWatchDeleteThenRecreate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	writeFile(t, cfg, "a = 1\n")
	w := newTestWatcher(t, cfg)

	if err := os.Remove(cfg); err != nil {
		t.Fatal(err)
	}
	w.expect(cfg) // deletion is a change too: the reload reports it

	replaceFile(t, cfg, "a = 2\n")
	w.expect(cfg)

	replaceFile(t, cfg, "a = 3\n")
	w.expect(cfg)
	w.expectQuiet()
}

func TestWatchSymlinkSwap(t *testing.T) {
	t.Parallel()
	// The layout Kubernetes uses for ConfigMaps and Secrets:
	//   config -> ..data/config, ..data -> ..A; updated by pointing a new
	//   ..data_tmp at ..B and renaming it over ..data.
	dir := t.TempDir()
	for name, content := range map[string]string{"..A": "a = 1\n", "..B": "a = 2\n", "..C": "a = 3\n"} {
		if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, name, "config"), content)
	}
	if err := os.Symlink("..A", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config")
	if err := os.Symlink(filepath.Join("..data", "config"), cfg); err != nil {
		t.Fatal(err)
	}
	w := newTestWatcher(t, cfg)

	swap := func(target string) {
		tmp := filepath.Join(dir, "..data_tmp")
		if err := os.Symlink(target, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	swap("..B")
	w.expect(cfg)

	// Kubernetes then deletes the old directory; that changes nothing.
	if err := os.RemoveAll(filepath.Join(dir, "..A")); err != nil {
		t.Fatal(err)
	}
	w.expectQuiet()

	// A save in the new target directory is seen too, so its directory
	// is watched now.
	replaceFile(t, filepath.Join(dir, "..B", "config"), "a = 22\n")
	w.expect(cfg)

	swap("..C")
	w.expect(cfg)
}

func TestWatchSymlinkedDirectory(t *testing.T) {
	t.Parallel()
	// ~/.aws as a symlink into a dotfiles repository, repointed.
	base := t.TempDir()
	for _, d := range []string{"one", "two"} {
		if err := os.Mkdir(filepath.Join(base, d), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(base, d, "config"), d)
	}
	link := filepath.Join(base, "aws")
	if err := os.Symlink("one", link); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(link, "config")
	w := newTestWatcher(t, cfg)

	replaceFile(t, filepath.Join(base, "one", "config"), "one edited")
	w.expect(cfg)

	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("two", link); err != nil {
		t.Fatal(err)
	}
	w.expect(cfg)
}

func TestWatchIgnoresOtherFilesAndNoOpSaves(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	writeFile(t, cfg, "a = 1\n")
	w := newTestWatcher(t, cfg)

	// Like the CLI writing its cache next to ~/.aws/config.
	writeFile(t, filepath.Join(dir, "credentials.bak"), "x")
	if err := os.Mkdir(filepath.Join(dir, "cli"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "cli", "cache.json"), "{}")
	w.expectQuiet()

	// Saving identical content or touching the file changes nothing.
	replaceFile(t, cfg, "a = 1\n")
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(cfg, later, later); err != nil {
		t.Fatal(err)
	}
	w.expectQuiet()

	// The watcher is alive: a real change is still reported.
	replaceFile(t, cfg, "a = 2\n")
	w.expect(cfg)
}

func TestWatchSetPaths(t *testing.T) {
	t.Parallel()
	dirA, dirB := t.TempDir(), t.TempDir()
	a := filepath.Join(dirA, "config.toml")
	b := filepath.Join(dirB, "credentials")
	writeFile(t, a, "1")
	writeFile(t, b, "1")
	w := newTestWatcher(t, a)

	replaceFile(t, b, "2")
	w.expectQuiet()

	w.setPaths(b)
	replaceFile(t, a, "2")
	w.expectQuiet()
	replaceFile(t, b, "3")
	w.expect(b)

	w.setPaths(a, b, a)
	replaceFile(t, a, "3")
	replaceFile(t, b, "4")
	w.expect(a, b)
	w.expectQuiet()
}

func TestWatchMissingDirectory(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	cfg := filepath.Join(base, "x", "y", "config")
	w := newTestWatcher(t, cfg)

	if err := os.MkdirAll(filepath.Dir(cfg), 0o700); err != nil {
		t.Fatal(err)
	}
	replaceFile(t, cfg, "a = 1\n")
	w.expect(cfg)

	replaceFile(t, cfg, "a = 2\n")
	w.expect(cfg)

	// The directory goes away and comes back.
	if err := os.RemoveAll(filepath.Join(base, "x")); err != nil {
		t.Fatal(err)
	}
	w.expect(cfg)
	if err := os.MkdirAll(filepath.Dir(cfg), 0o700); err != nil {
		t.Fatal(err)
	}
	replaceFile(t, cfg, "a = 3\n")
	w.expect(cfg)
}

func TestWatchClose(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	w, err := NewWatcher([]string{cfg}, testDebounce, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case _, ok := <-w.Events():
		if ok {
			t.Error("got an event after Close")
		}
	case <-time.After(eventTimeout):
		t.Fatal("Events not closed by Close")
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := w.SetPaths([]string{cfg}); err == nil {
		t.Error("SetPaths after Close succeeded")
	}
}

func TestResolveChain(t *testing.T) {
	t.Parallel()
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "..2024"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "..2024", "config"), "x")
	if err := os.Symlink("..2024", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..data/config", filepath.Join(dir, "config")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("loop", filepath.Join(dir, "loop")); err != nil {
		t.Fatal(err)
	}

	dirs, final := resolveChain(filepath.Join(dir, "config"))
	if want := filepath.Join(dir, "..2024", "config"); final != want {
		t.Errorf("final = %q, want %q", final, want)
	}
	if want := []string{dir, filepath.Join(dir, "..2024")}; !reflect.DeepEqual(dirs, want) {
		t.Errorf("dirs = %q, want %q", dirs, want)
	}

	dirs, final = resolveChain(filepath.Join(dir, "no", "such", "file"))
	if final != "" || !reflect.DeepEqual(dirs, []string{dir}) {
		t.Errorf("missing path: dirs %q final %q; want the nearest existing directory %q", dirs, final, dir)
	}

	if _, final := resolveChain(filepath.Join(dir, "loop")); final != "" {
		t.Errorf("symlink loop resolved to %q", final)
	}
}

// The tests below drive the debouncing with synthetic events in a
// testing/synctest bubble: time is virtual, so timings are exact and the
// tests take no real time. The files are real; only inotify is replaced
// (it cannot run in a bubble: its reader blocks in a system call).

// fakeDirs stands in for the fsnotify watcher's directory list.
type fakeDirs struct {
	mu   sync.Mutex
	dirs map[string]bool
}

func (f *fakeDirs) Add(d string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dirs == nil {
		f.dirs = map[string]bool{}
	}
	f.dirs[d] = true
	return nil
}

func (f *fakeDirs) Remove(d string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.dirs, d)
	return nil
}

func (f *fakeDirs) WatchList() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Collect(maps.Keys(f.dirs))
}

func (f *fakeDirs) Close() error { return nil }

// bubbleWatcher is a Watcher fed by hand inside a synctest bubble.
type bubbleWatcher struct {
	*Watcher
	t    *testing.T
	fsev chan fsnotify.Event
	fser chan error
}

func newBubbleWatcher(t *testing.T, paths ...string) *bubbleWatcher {
	t.Helper()
	b := &bubbleWatcher{t: t, fsev: make(chan fsnotify.Event), fser: make(chan error)}
	w, err := newWatcher(paths, testDebounce, slog.New(slog.DiscardHandler), &fakeDirs{}, b.fsev, b.fser)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	b.Watcher = w
	return b
}

// write changes a file and delivers the event inotify would.
func (b *bubbleWatcher) write(path, content string) {
	b.t.Helper()
	writeFile(b.t, path, content)
	b.fsev <- fsnotify.Event{Name: path, Op: fsnotify.Write}
}

// pending returns the notification waiting now, or nil, once every
// goroutine in the bubble has settled: a definite answer, not a guess.
func (b *bubbleWatcher) pending() []string {
	synctest.Wait()
	select {
	case ev := <-b.Events():
		return ev
	default:
		return nil
	}
}

func TestWatchBurstIsCoalesced(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		cfg := filepath.Join(t.TempDir(), "config")
		writeFile(t, cfg, "v = 0\n")
		w := newBubbleWatcher(t, cfg)

		// 20 writes over half a debounce period, the way an editor's save
		// or a script's rewrite dribbles out.
		for i := 1; i <= 20; i++ {
			w.write(cfg, fmt.Sprintf("v = %d\n", i))
			if ev := w.pending(); ev != nil {
				t.Fatalf("reported %q during the burst", ev)
			}
			time.Sleep(testDebounce / 40)
		}
		// One debounce period after the last event, exactly one report.
		time.Sleep(testDebounce - testDebounce/40 - time.Nanosecond)
		if ev := w.pending(); ev != nil {
			t.Fatalf("reported %q before the burst settled", ev)
		}
		time.Sleep(time.Nanosecond)
		if ev := w.pending(); !slices.Equal(ev, []string{cfg}) {
			t.Fatalf("after the burst: %q, want %q", ev, cfg)
		}
		time.Sleep(10 * testDebounce)
		if ev := w.pending(); ev != nil {
			t.Fatalf("reported again: %q", ev)
		}
	})
}

func TestWatchContinuousWritesStillReported(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		cfg := filepath.Join(t.TempDir(), "config")
		writeFile(t, cfg, "v = 0\n")
		w := newBubbleWatcher(t, cfg)
		start := time.Now()
		var reports []time.Duration
		done := make(chan struct{})
		go func() {
			defer close(done)
			for range w.Events() {
				reports = append(reports, time.Since(start))
			}
		}()

		// A write every 30 ms for a second never lets a burst settle
		// (debounce 50 ms), so each burst is reported maxDebouncePeriods
		// (250 ms) after it began; the next begins with the next write.
		const every = 30 * time.Millisecond
		for i := 0; i*int(every) < int(time.Second); i++ {
			w.write(cfg, fmt.Sprintf("v = %d\n", i+1))
			time.Sleep(every)
		}
		time.Sleep(10 * testDebounce)
		w.Close()
		<-done
		ms := time.Millisecond
		// Bursts begin at 0, 270 and 540, and 810 ms; the last one settles
		// 50 ms after the last write (990 ms).
		want := []time.Duration{250 * ms, 520 * ms, 790 * ms, 1040 * ms}
		if !slices.Equal(reports, want) {
			t.Errorf("reports at %v, want at %v", reports, want)
		}
	})
}

func TestWatchSlowReaderGetsMergedNotification(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
		writeFile(t, a, "1")
		writeFile(t, b, "1")
		w := newBubbleWatcher(t, a, b)

		// Two separate bursts while nobody reads: the watcher must neither
		// block nor lose the first.
		w.write(a, "2")
		time.Sleep(10 * testDebounce)
		w.write(b, "2")
		time.Sleep(10 * testDebounce)
		if ev := w.pending(); !slices.Equal(slices.Sorted(slices.Values(ev)), []string{a, b}) {
			t.Fatalf("got %q, want %q and %q in one report", ev, a, b)
		}
		if ev := w.pending(); ev != nil {
			t.Fatalf("reported again: %q", ev)
		}
	})
}

func TestWatchNoOpEventsAndOverflow(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		cfg := filepath.Join(t.TempDir(), "config")
		writeFile(t, cfg, "a = 1\n")
		w := newBubbleWatcher(t, cfg)

		// Saving the same content, or a chmod, is no change.
		w.write(cfg, "a = 1\n")
		w.fsev <- fsnotify.Event{Name: cfg, Op: fsnotify.Chmod}
		time.Sleep(10 * testDebounce)
		if ev := w.pending(); ev != nil {
			t.Fatalf("no-op save reported: %q", ev)
		}

		// Lost events (a full inotify queue) make it check every file.
		writeFile(t, cfg, "a = 2\n")
		w.fser <- fsnotify.ErrEventOverflow
		time.Sleep(testDebounce)
		if ev := w.pending(); !slices.Equal(ev, []string{cfg}) {
			t.Fatalf("after an overflow: %q, want %q", ev, cfg)
		}
	})
}
