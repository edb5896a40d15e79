//go:build unix

package config

import (
	"os"
	"path/filepath"
	"testing"
)

// TestWatchFIFO: a FIFO put where a watched file was is reported as a
// change (the reload then says what is wrong) and never blocks the
// watcher, which opened files with a blocking open before.
func TestWatchFIFO(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	writeFile(t, cfg, "a = 1\n")
	w := newTestWatcher(t, cfg)

	if err := os.Remove(cfg); err != nil {
		t.Fatal(err)
	}
	mkfifo(t, cfg)
	w.expect(cfg)
	w.expectQuiet()
	if err := noHang(t, "SetPaths", func() error { return w.SetPaths([]string{cfg}) }); err != nil {
		t.Fatal(err)
	}
	// newTestWatcher's cleanup checks that Close returns.
}
