package daemon

import (
	"os"
	"os/exec"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
)

// TuneGC sets imdsd's GOGC, and a GOGC from the environment wins. Each case
// runs in a child process: the setting is process-wide.
func TestTuneGC(t *testing.T) {
	t.Parallel()
	if os.Getenv("IMDSD_TUNEGC_CHILD") == "1" {
		TuneGC()
		old := debug.SetGCPercent(100)
		os.Stdout.WriteString(strconv.Itoa(old))
		os.Exit(0)
	}
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{nil, strconv.Itoa(gcPercent)},
		{[]string{"GOGC=50"}, "50"},
		{[]string{"GOGC=off"}, "-1"},
	} {
		t.Run(strings.Join(append([]string{"env"}, tc.env...), " "), func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestTuneGC$")
			cmd.Env = append(append(os.Environ(), "IMDSD_TUNEGC_CHILD=1"), tc.env...)
			if tc.env == nil {
				cmd.Env = append(cmd.Env[:0:0], withoutGOGC(cmd.Env)...)
			}
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("%v: %v", tc.env, err)
			}
			if got := string(out); got != tc.want {
				t.Errorf("env %v: GC percent %s, want %s", tc.env, got, tc.want)
			}
		})
	}
}

func withoutGOGC(env []string) []string {
	var out []string
	for _, e := range env {
		if !strings.HasPrefix(e, "GOGC=") {
			out = append(out, e)
		}
	}
	return out
}
