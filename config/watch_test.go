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
	"time"
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
