package keyops

import (
	"strings"
	"testing"
	"time"

	"github.com/imdsd/imdsd/internal/keystore"
)

// keys list warns only for keys past rotate_after, naming the command.
func TestDueWarnings(t *testing.T) {
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	list := []keystore.Entry{
		{Profile: "old", AccessKeyID: "AKIAOLD", Created: now.Add(-97 * 24 * time.Hour)},
		{Profile: "young", AccessKeyID: "AKIAYOUNG", Created: now.Add(-10 * 24 * time.Hour)},
		{Profile: "unknown", AccessKeyID: "AKIAUNKNOWN"},
	}
	got := DueWarnings(list, 90*24*time.Hour, now)
	if len(got) != 1 || !strings.Contains(got[0], "AKIAOLD") || !strings.Contains(got[0], "97 days old") || !strings.Contains(got[0], "imdsd keys rotate old") {
		t.Fatalf("DueWarnings = %q, want one line for old", got)
	}
}
