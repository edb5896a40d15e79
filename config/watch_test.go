package config

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"
)

const (
	testDebounce = 50 * time.Millisecond
	// eventTimeout bounds waiting for an expected event; generous for
	// loaded CI machines, and only spent when a test is failing.
	eventTimeout = 5 * time.Second
	// quietPeriod is how long "nothing happens" is observed: several
	// debounce periods, longer than the watcher's maximum delay.
	quietPeriod = 8 * testDebounce
)

func newTestWatcher(t *testing.T, paths ...string) *Watcher {
	t.Helper()
	var logs bytes.Buffer
	w, err := NewWatcher(paths, testDebounce, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if t.Failed() {
			t.Logf("watcher log:\n%s", logs.String())
		}
	})
	return w
}

// nextEvent waits for one notification.
func nextEvent(t *testing.T, w *Watcher) []string {
	t.Helper()
	select {
	case ev, ok := <-w.Events():
		if !ok {
			t.Fatal("Events closed unexpectedly")
		}
		return ev
	case <-time.After(eventTimeout):
		t.Fatalf("no change reported within %v", eventTimeout)
		return nil
	}
}

func expectEvent(t *testing.T, w *Watcher, want ...string) {
	t.Helper()
	got := nextEvent(t, w)
	slices.Sort(got)
	slices.Sort(want)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("changed paths = %q, want %q", got, want)
	}
}

func expectNoEvent(t *testing.T, w *Watcher) {
	t.Helper()
	select {
	case ev := <-w.Events():
		t.Fatalf("unexpected change reported: %q", ev)
	case <-time.After(quietPeriod):
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestWatchPlainWrite(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	writeFile(t, cfg, "a = 1\n")
	w := newTestWatcher(t, cfg)

	writeFile(t, cfg, "a = 2\n")
	expectEvent(t, w, cfg)
	expectNoEvent(t, w)
}

func TestWatchRenameSave(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	writeFile(t, cfg, "a = 1\n")
	w := newTestWatcher(t, cfg)

	// How vim (backupcopy=no), VS Code and sed -i save: a new file renamed
	// over the old one; a watch on the old inode would see nothing.
	tmp := filepath.Join(dir, ".config.swp")
	writeFile(t, tmp, "a = 2\n")
	if err := os.Rename(tmp, cfg); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, w, cfg)

	// And again, to show the watch survived the first replacement.
	writeFile(t, tmp, "a = 3\n")
	if err := os.Rename(tmp, cfg); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, w, cfg)
}

func TestWatchDeleteThenRecreate(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	writeFile(t, cfg, "a = 1\n")
	w := newTestWatcher(t, cfg)

	if err := os.Remove(cfg); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, w, cfg) // deletion is a change too: the reload reports it

	writeFile(t, cfg, "a = 2\n")
	expectEvent(t, w, cfg)

	writeFile(t, cfg, "a = 3\n")
	expectEvent(t, w, cfg)
}

func TestWatchSymlinkSwap(t *testing.T) {
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
	expectEvent(t, w, cfg)

	// Kubernetes then deletes the old directory; that changes nothing.
	if err := os.RemoveAll(filepath.Join(dir, "..A")); err != nil {
		t.Fatal(err)
	}
	expectNoEvent(t, w)

	// An in-place write in the new target directory is seen too, so its
	// directory is watched now.
	writeFile(t, filepath.Join(dir, "..B", "config"), "a = 22\n")
	expectEvent(t, w, cfg)

	swap("..C")
	expectEvent(t, w, cfg)
}

func TestWatchSymlinkedDirectory(t *testing.T) {
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

	writeFile(t, filepath.Join(base, "one", "config"), "one edited")
	expectEvent(t, w, cfg)

	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("two", link); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, w, cfg)
}

func TestWatchBurstIsCoalesced(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	writeFile(t, cfg, "v = 0\n")
	w := newTestWatcher(t, cfg)

	// Read eagerly, as the daemon does, so merging for a slow reader
	// can't hide missing debouncing.
	counted := make(chan int)
	stop := make(chan struct{})
	go func() {
		n := 0
		for {
			select {
			case <-w.Events():
				n++
			case <-stop:
				counted <- n
				return
			}
		}
	}()
	// Spread over about half a debounce period, the way an editor's save
	// or a script's rewrite dribbles out.
	for i := 1; i <= 20; i++ {
		writeFile(t, cfg, fmt.Sprintf("v = %d\n", i))
		time.Sleep(testDebounce / 40)
	}
	time.Sleep(quietPeriod)
	close(stop)
	if n := <-counted; n < 1 || n > 2 {
		t.Errorf("20 quick writes produced %d notifications, want 1 (at most 2)", n)
	}
}

func TestWatchIgnoresOtherFilesAndNoOpSaves(t *testing.T) {
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
	expectNoEvent(t, w)

	// Saving identical content or touching the file changes nothing.
	writeFile(t, cfg, "a = 1\n")
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(cfg, later, later); err != nil {
		t.Fatal(err)
	}
	expectNoEvent(t, w)

	// The watcher is alive: a real change is still reported.
	writeFile(t, cfg, "a = 2\n")
	expectEvent(t, w, cfg)
}

func TestWatchSetPaths(t *testing.T) {
	dirA, dirB := t.TempDir(), t.TempDir()
	a := filepath.Join(dirA, "config.toml")
	b := filepath.Join(dirB, "credentials")
	writeFile(t, a, "1")
	writeFile(t, b, "1")
	w := newTestWatcher(t, a)

	writeFile(t, b, "2")
	expectNoEvent(t, w)

	if err := w.SetPaths([]string{b}); err != nil {
		t.Fatal(err)
	}
	writeFile(t, a, "2")
	expectNoEvent(t, w)
	writeFile(t, b, "3")
	expectEvent(t, w, b)

	if err := w.SetPaths([]string{a, b, a}); err != nil {
		t.Fatal(err)
	}
	writeFile(t, a, "3")
	writeFile(t, b, "4")
	expectEvent(t, w, a, b)
}

func TestWatchMissingDirectory(t *testing.T) {
	base := t.TempDir()
	cfg := filepath.Join(base, "x", "y", "config")
	w := newTestWatcher(t, cfg)

	if err := os.MkdirAll(filepath.Dir(cfg), 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, cfg, "a = 1\n")
	expectEvent(t, w, cfg)

	writeFile(t, cfg, "a = 2\n")
	expectEvent(t, w, cfg)

	// The directory goes away and comes back.
	if err := os.RemoveAll(filepath.Join(base, "x")); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, w, cfg)
	if err := os.MkdirAll(filepath.Dir(cfg), 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, cfg, "a = 3\n")
	expectEvent(t, w, cfg)
}

func TestWatchSlowReaderGetsMergedNotification(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	writeFile(t, a, "1")
	writeFile(t, b, "1")
	w := newTestWatcher(t, a, b)

	// Two separate bursts while nobody reads: the watcher must neither
	// block nor lose the first.
	writeFile(t, a, "2")
	time.Sleep(quietPeriod)
	writeFile(t, b, "2")
	time.Sleep(quietPeriod)
	expectEvent(t, w, a, b)
	expectNoEvent(t, w)
}

func TestWatchClose(t *testing.T) {
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
