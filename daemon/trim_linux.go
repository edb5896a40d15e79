//go:build linux

package daemon

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// pageOutExecutable gives back the pages of the binary's read-only
// mappings (code, read-only data, pc tables) that only the start needed.
// The kernel maps a cached file 64 KiB around each page touched, so a
// start leaves ~90 % of the binary resident; serving touches a third of
// it, sparsely. So: unmap those mappings (MADV_DONTNEED: clean file pages,
// nothing is lost; what is used faults back in), drop the binary's pages
// that no process maps from the page cache (POSIX_FADV_DONTNEED), which
// frees them instead of leaving them cached where every fault would map
// its 64 KiB again, and fault pages in one at a time from then on
// (MADV_RANDOM: no read-around). Writable mappings are left alone: they
// hold data.
func pageOutExecutable() error {
	exe, err := os.Open("/proc/self/exe")
	if err != nil {
		return err
	}
	defer exe.Close()
	fi, err := exe.Stat()
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return errors.New("no inode for /proc/self/exe")
	}
	var fs unix.Statfs_t
	if err := unix.Fstatfs(int(exe.Fd()), &fs); err == nil && remoteFS(int64(fs.Type)) {
		// Every page that comes back would cross the network.
		return fmt.Errorf("the binary is on a network filesystem (type %#x)", fs.Type)
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return err
	}
	ranges := exeRanges(maps, fmt.Sprintf("%02x:%02x", unix.Major(st.Dev), unix.Minor(st.Dev)), strconv.FormatUint(st.Ino, 10))
	if len(ranges) == 0 {
		return errors.New("no read-only mapping of the executable in /proc/self/maps")
	}
	// No read-around first, so no new read-ahead starts in between.
	for _, advice := range []int{unix.MADV_RANDOM, unix.MADV_DONTNEED} {
		for _, r := range ranges {
			if err := madvise(r, advice); err != nil {
				return err
			}
		}
	}
	// Twice: pages of a read-ahead still in flight the first time are
	// locked and stay; by the second they have landed.
	for i := range 2 {
		if i > 0 {
			time.Sleep(100 * time.Millisecond)
		}
		if err := unix.Fadvise(int(exe.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
			return fmt.Errorf("posix_fadvise: %w", err)
		}
	}
	return nil
}

// remoteFS: filesystems where a page fault is a network round trip.
func remoteFS(typ int64) bool {
	switch typ {
	case unix.NFS_SUPER_MAGIC, unix.SMB_SUPER_MAGIC, unix.SMB2_SUPER_MAGIC, unix.CIFS_SUPER_MAGIC,
		unix.CEPH_SUPER_MAGIC, unix.FUSE_SUPER_MAGIC, unix.V9FS_MAGIC:
		return true
	}
	return false
}

// exeRanges picks the read-only mappings of the file dev:inode out of a
// /proc/PID/maps listing ("start-end perms offset dev inode path").
func exeRanges(maps []byte, dev, ino string) [][2]uintptr {
	var out [][2]uintptr
	s := bufio.NewScanner(bytes.NewReader(maps))
	for s.Scan() {
		f := strings.Fields(s.Text())
		if len(f) < 6 || f[3] != dev || f[4] != ino || len(f[1]) < 2 || f[1][1] == 'w' {
			continue
		}
		lo, hi, _ := strings.Cut(f[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 == nil && err2 == nil && end > start {
			out = append(out, [2]uintptr{uintptr(start), uintptr(end)})
		}
	}
	return out
}

func madvise(r [2]uintptr, advice int) error {
	if _, _, e := unix.Syscall(unix.SYS_MADVISE, r[0], r[1]-r[0], uintptr(advice)); e != 0 {
		return fmt.Errorf("madvise(%#x, %d): %w", r[0], advice, e)
	}
	return nil
}

// residentKiB is this process's VmRSS, 0 if unknown (logs only).
func residentKiB() int64 { return statusKiB("VmRSS:") }

// statusKiB reads one "Key: N kB" line of /proc/self/status; 0 if absent.
func statusKiB(key string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}
