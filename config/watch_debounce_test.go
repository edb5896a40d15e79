package config

import (
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fsnotify/fsnotify"
)

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
