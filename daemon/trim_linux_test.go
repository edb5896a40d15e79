package daemon

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Only the binary's read-only mappings are picked: writable ones hold data.
func TestExeRanges(t *testing.T) {
	maps := `00400000-008db000 r-xp 00000000 fd:01 1234 /usr/bin/imdsd
008db000-00df7000 r--p 004db000 fd:01 1234 /usr/bin/imdsd
00df7000-00e58000 rw-p 009f7000 fd:01 1234 /usr/bin/imdsd
00e58000-02e9b000 rw-p 00000000 00:00 0
7f0000000000-7f0000001000 r--p 00000000 fd:01 999 /usr/lib/other.so
7f0000002000-7f0000003000 r--p 00000000 fd:02 1234 /mnt/same-inode-other-fs
7f0000004000-7f0000005000 r-xp 00000000 fd:01 1234 /usr/bin/imdsd (deleted)
garbage line
`
	got := exeRanges([]byte(maps), "fd:01", "1234")
	want := [][2]uintptr{{0x400000, 0x8db000}, {0x8db000, 0xdf7000}, {0x7f0000004000, 0x7f0000005000}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("ranges %x, want %x", got, want)
	}
}

// Paging out gives back most of the binary's resident pages, and the
// process runs on (code faults back in as it is used). In a child, so the
// numbers are its own.
func TestPageOutExecutableReleasesBinaryPages(t *testing.T) {
	if os.Getenv("IMDSD_PAGEOUT_CHILD") == "1" {
		before := statusKiB("RssFile:")
		if before == 0 {
			fmt.Println("error: no RssFile in /proc/self/status")
			os.Exit(0)
		}
		if err := pageOutExecutable(); err != nil {
			fmt.Printf("error %v\n", err)
			os.Exit(0)
		}
		after := statusKiB("RssFile:")
		// Code that ran before must run again after.
		fmt.Printf("%d %d %s\n", before, after, strings.Repeat("ok", 2))
		os.Exit(0)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestPageOutExecutableReleasesBinaryPages$")
	cmd.Env = append(os.Environ(), "IMDSD_PAGEOUT_CHILD=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var before, after int64
	var ok string
	if _, err := fmt.Sscanf(string(out), "%d %d %s", &before, &after, &ok); err != nil || ok != "okok" {
		t.Fatalf("child printed %q", out)
	}
	t.Logf("file pages resident: %d KiB before, %d KiB after", before, after)
	if after > before/2 {
		t.Errorf("after paging out %d KiB of the binary stay resident (of %d KiB); want under half", after, before)
	}
}

// A daemon gives back its start's memory once the first fetch is done, and
// serves on as before.
func TestDaemonReleasesStartupMemoryAndServes(t *testing.T) {
	e := startEnv(t, envOptions{})
	select {
	case <-e.d.trimmed:
	case <-time.After(settleMax + 5*time.Second):
		t.Fatalf("the start's memory was not released\n%s", e.logs)
	}
	c, err := e.ec2Creds(context.Background())
	if err != nil {
		t.Fatalf("IMDS after the release: %v", err)
	}
	if arn, err := e.callerARN(context.Background(), c); err != nil || !strings.HasSuffix(arn, "assumed-role/dev/"+e.d.sessionName) {
		t.Fatalf("credentials after the release: %s %v", arn, err)
	}
}
