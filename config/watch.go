package config

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

const (
	defaultDebounce = 100 * time.Millisecond
	// A file written continuously still gets reported, this many debounce
	// periods after the first event at the latest.
	maxDebouncePeriods = 5
	// Longer symlink chains are loops for our purposes (Linux allows 40).
	maxSymlinkHops = 40
	// Content past this is not hashed; size and mtime still count.
	maxHashBytes = 32 << 20
)

// Watcher reports changes to a set of files, however they are changed:
// written in place, replaced by rename (vim, VS Code, sed -i), deleted and
// recreated, or swapped through symlinks (a Kubernetes ConfigMap's
// config -> ..data/config with ..data replaced atomically).
//
// It watches the directories involved rather than the files, since a
// watch on a file follows the old inode away on a rename, and it compares
// each file's resolved path and content hash after every burst of events,
// so activity on other files in the same directories (~/.aws/cli/cache)
// and saves that change nothing are not reported.
type Watcher struct {
	log      *slog.Logger
	debounce time.Duration
	fsw      dirWatcher
	events   chan []string
	quit     chan struct{}
	done     chan struct{}

	closeOnce sync.Once
	closeErr  error

	mu     sync.Mutex // guards the fields below and watch changes
	closed bool
	paths  []*watchedFile
}

// dirWatcher is what Watcher needs of *fsnotify.Watcher besides its
// channels; tests substitute a fake to drive the timing with synthetic
// events under testing/synctest, where real inotify cannot run.
type dirWatcher interface {
	Add(name string) error
	Remove(name string) error
	WatchList() []string
	Close() error
}

// watchedFile is one path the caller asked for.
type watchedFile struct {
	name  string // as the caller gave it; what Events reports
	abs   string
	stamp fileStamp
}

// fileStamp identifies a file's state cheaply enough to take after every
// burst of events.
type fileStamp struct {
	exists   bool
	resolved string // after following every symlink
	size     int64
	mtime    time.Time
	sum      [sha256.Size]byte
	readErr  string // exists but could not be read (the reload will say why)
}

// sameAs reports whether two stamps describe the same content at the same
// place. mtime is left out on purpose: a touch, or a save without edits,
// is no reason to reload.
func (s fileStamp) sameAs(o fileStamp) bool {
	return s.exists == o.exists && s.resolved == o.resolved && s.size == o.size && s.sum == o.sum && s.readErr == o.readErr
}

// NewWatcher starts watching paths. debounce is how long to wait for a
// burst of events to settle before checking the files (0: 100ms). Paths
// that don't exist yet are fine: their creation is reported. logger may be
// nil.
func NewWatcher(paths []string, debounce time.Duration, logger *slog.Logger) (*Watcher, error) {
	fsw, err := fsnotify.NewBufferedWatcher(64)
	if err != nil {
		return nil, fmt.Errorf("starting the file watcher: %w", err)
	}
	return newWatcher(paths, debounce, logger, fsw, fsw.Events, fsw.Errors)
}

// newWatcher is NewWatcher with the source of file system events given.
func newWatcher(paths []string, debounce time.Duration, logger *slog.Logger, dw dirWatcher, fsEvents <-chan fsnotify.Event, fsErrors <-chan error) (*Watcher, error) {
	if debounce <= 0 {
		debounce = defaultDebounce
	}
	if logger == nil {
		logger = slog.Default()
	}
	w := &Watcher{
		log:      logger,
		debounce: debounce,
		fsw:      dw,
		events:   make(chan []string),
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	if err := w.SetPaths(paths); err != nil {
		dw.Close()
		return nil, err
	}
	go w.run(fsEvents, fsErrors)
	return w, nil
}

// Events delivers, once per settled burst of file system activity, the
// watched paths (as given to NewWatcher or SetPaths) whose content or
// symlink target changed, including paths that were deleted or created.
// Notifications a slow reader hasn't taken yet are merged, never queued
// without bound and never blocking the watcher. The channel is closed by
// Close.
func (w *Watcher) Events() <-chan []string { return w.events }

// SetPaths replaces the watched set. Paths already watched keep their
// state, so a change that happened just before is still reported; new
// paths are reported only when they change after this call.
func (w *Watcher) SetPaths(paths []string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return errors.New("file watcher is closed")
	}
	old := map[string]*watchedFile{}
	for _, f := range w.paths {
		old[f.abs] = f
	}
	var next []*watchedFile
	seen := map[string]bool{}
	for _, p := range paths {
		if p == "" {
			continue
		}
		abs, err := filepath.Abs(ExpandHome(p))
		if err != nil {
			return fmt.Errorf("watching %s: %w", p, err)
		}
		if seen[abs] {
			continue
		}
		seen[abs] = true
		if f, ok := old[abs]; ok {
			f.name = p
			next = append(next, f)
			continue
		}
		_, st := observeFile(abs)
		next = append(next, &watchedFile{name: p, abs: abs, stamp: st})
	}
	w.paths = next
	_, err := w.syncWatchesLocked()
	return err
}

// Close stops the watcher and closes the Events channel.
func (w *Watcher) Close() error {
	w.closeOnce.Do(func() {
		w.mu.Lock()
		w.closed = true
		w.mu.Unlock()
		close(w.quit)
		w.closeErr = w.fsw.Close()
		<-w.done
	})
	return w.closeErr
}

func (w *Watcher) run(fsEvents <-chan fsnotify.Event, fsErrors <-chan error) {
	defer close(w.done)
	defer close(w.events)

	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var (
		timerC     <-chan time.Time
		burstStart time.Time
		pending    []string // changed paths the reader hasn't taken
	)
	// poke (re)arms the debounce timer: it fires once events have been
	// quiet for debounce, or maxDebouncePeriods after the burst began.
	poke := func() {
		now := time.Now()
		if timerC == nil {
			burstStart = now
		}
		wait := w.debounce
		if left := burstStart.Add(maxDebouncePeriods * w.debounce).Sub(now); left < wait {
			wait = max(left, 0)
		}
		timer.Reset(wait)
		timerC = timer.C
	}
	for {
		var out chan<- []string
		if len(pending) > 0 {
			out = w.events
		}
		select {
		case <-w.quit:
			timer.Stop()
			return
		case ev, ok := <-fsEvents:
			if !ok {
				fsEvents = nil
				continue
			}
			// Permission changes alone don't alter what the file says.
			if ev.Op == fsnotify.Chmod {
				continue
			}
			poke()
		case err, ok := <-fsErrors:
			if !ok {
				fsErrors = nil
				continue
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				// Events were lost; checking every file is always safe.
				w.log.Warn("file watcher missed events; rechecking watched files", "err", err)
				poke()
				continue
			}
			w.log.Warn("file watcher error", "err", err)
		case <-timerC:
			timerC = nil
			for _, name := range w.rescan() {
				if !slices.Contains(pending, name) {
					pending = append(pending, name)
				}
			}
		case out <- pending:
			pending = nil
		}
	}
}

// Forget drops what the watcher last saw of each file, so the next event
// for it is reported whatever the file holds. The daemon calls it as any
// reload begins: a reload the watcher did not trigger (SIGHUP, `imdsd
// use`, a second look) may read a state the file then leaves again, back
// to what the watcher last saw, which it would otherwise not report, and
// the daemon would go on serving that passing state.
func (w *Watcher) Forget() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, f := range w.paths {
		f.stamp = fileStamp{readErr: "forgotten"} // equals no observed state
	}
}

// rescan re-resolves and re-fingerprints every watched file, updates the
// directory watches to match, and returns the names of changed files.
func (w *Watcher) rescan() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	var changed []string
	// A directory watched only now may have changed before its watch was
	// in place (mkdir then write, a symlink swapped twice): look again.
	for range 3 {
		for _, f := range w.paths {
			_, st := observeFile(f.abs)
			if !st.sameAs(f.stamp) {
				w.log.Debug("watched file changed", "path", f.abs, "exists", st.exists, "resolved", st.resolved)
				f.stamp = st
				if !slices.Contains(changed, f.name) {
					changed = append(changed, f.name)
				}
			}
		}
		added, err := w.syncWatchesLocked()
		if err != nil {
			w.log.Warn("cannot watch a directory; changes there may be missed until the next event", "err", err)
		}
		if !added {
			break
		}
	}
	return changed
}

// syncWatchesLocked makes the directory watches match what the watched
// paths resolve through now. It reports whether any watch was added.
func (w *Watcher) syncWatchesLocked() (added bool, err error) {
	want := map[string]bool{}
	for _, f := range w.paths {
		dirs, _ := resolveChain(f.abs)
		for _, d := range dirs {
			want[d] = true
		}
	}
	have := map[string]bool{}
	for _, d := range w.fsw.WatchList() {
		have[d] = true
	}
	var errs []error
	for d := range want {
		if have[d] {
			continue
		}
		if e := w.fsw.Add(d); e != nil {
			if errors.Is(e, fs.ErrNotExist) {
				// Gone already; the event that removed it triggers a
				// rescan that finds the next existing ancestor.
				added = true
				continue
			}
			errs = append(errs, fmt.Errorf("watching %s: %w", d, e))
			continue
		}
		added = true
	}
	for d := range have {
		if !want[d] {
			// Fails harmlessly if the directory (and so the watch) is gone.
			_ = w.fsw.Remove(d)
		}
	}
	return added, errors.Join(errs...)
}

// observeFile resolves p and fingerprints the file it leads to. It never
// logs or keeps the content, which may be secret.
func observeFile(p string) (dirs []string, st fileStamp) {
	dirs, final := resolveChain(p)
	if final == "" {
		return dirs, fileStamp{}
	}
	st = fileStamp{exists: true, resolved: final}
	// Never block: a FIFO put in place of a watched file would otherwise
	// stall the watcher, and Close and SetPaths with it.
	f, err := openNoBlock(final)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return dirs, fileStamp{} // vanished between resolving and opening
		}
		st.readErr = err.Error()
		return dirs, st
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		st.readErr = err.Error()
		return dirs, st
	}
	st.size, st.mtime = fi.Size(), fi.ModTime()
	if !fi.Mode().IsRegular() {
		st.readErr = "is " + describeType(fi.Mode())
		return dirs, st
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(f, maxHashBytes)); err != nil {
		st.readErr = err.Error()
		return dirs, st
	}
	h.Sum(st.sum[:0])
	return dirs, st
}

// resolveChain follows p through every symlink, in any component, the way
// the kernel would. It returns the directories whose entries decide what p
// resolves to (each directory holding a symlink on the way, and the one
// holding the final file) and the final path; final is "" when p doesn't
// resolve to anything, in which case dirs ends with the deepest existing
// directory, so that creating the missing part is seen.
func resolveChain(p string) (dirs []string, final string) {
	p = filepath.Clean(p)
	vol := filepath.VolumeName(p)
	root := vol + string(filepath.Separator)
	cur := root
	rest := splitPath(p[len(vol):])
	hops := 0
	add := func(d string) {
		if !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	for len(rest) > 0 {
		c := rest[0]
		rest = rest[1:]
		switch c {
		case ".":
			continue
		case "..":
			cur = filepath.Dir(cur)
			continue
		}
		next := filepath.Join(cur, c)
		fi, err := os.Lstat(next)
		if err != nil {
			add(cur)
			return dirs, ""
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			add(cur)
			hops++
			target, err := os.Readlink(next)
			if err != nil || hops > maxSymlinkHops {
				return dirs, ""
			}
			if filepath.IsAbs(target) {
				tv := filepath.VolumeName(target)
				cur = tv + string(filepath.Separator)
				target = target[len(tv):]
			}
			rest = append(splitPath(target), rest...)
			continue
		}
		if len(rest) > 0 && !fi.IsDir() {
			// A file where a directory should be: nothing resolves.
			add(cur)
			return dirs, ""
		}
		cur = next
	}
	if cur == root {
		return dirs, ""
	}
	add(filepath.Dir(cur))
	return dirs, cur
}

func splitPath(p string) []string {
	var out []string
	for _, c := range strings.Split(filepath.ToSlash(p), "/") {
		if c != "" {
			out = append(out, c)
		}
	}
	return out
}
