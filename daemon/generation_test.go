package daemon

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A reload that cannot finish (a file on a stalled network filesystem)
// gives up after its bound and leaves the last good config serving; while
// it hangs, status, lock and requests answer at once, and a second reload
// says why it cannot start.
func TestHungReloadLeavesLastGoodServingAndControlAnswering(t *testing.T) {
	hang := make(chan struct{})
	var armed atomic.Bool
	e := startEnv(t, envOptions{tune: func(o *Options) {
		o.ReloadTimeout = 300 * time.Millisecond
		o.planHook = func(ctx context.Context) {
			if armed.Load() {
				<-hang
			}
		}
	}})
	defer close(hang)
	ctx := context.Background()
	if _, err := e.ec2Creds(ctx); err != nil {
		t.Fatal(err)
	}
	armed.Store(true)

	e.writeConfig(`refresh_before = "40m"`, "")
	done := make(chan error, 1)
	go func() { done <- e.d.Reload(ctx) }()

	// While the plan hangs: status answers, requests are served.
	start := time.Now()
	st, err := e.client().Status(ctx)
	if err != nil || st.IMDSProfile != "dev" {
		t.Fatalf("status during a hung reload: %+v %v", st, err)
	}
	if _, err := e.ec2Creds(ctx); err != nil {
		t.Fatalf("credentials during a hung reload: %v", err)
	}
	if d := time.Since(start); d > 250*time.Millisecond {
		t.Logf("status and a credential took %v during the hung reload", d) // informative only
	}

	err = <-done
	if err == nil || !strings.Contains(err.Error(), "gave up") || !strings.Contains(err.Error(), "last good config keeps serving") {
		t.Fatalf("hung reload: %v, want it to give up and say the last good config serves", err)
	}
	// The plan is still stuck: a second reload cannot start, and says so.
	if err := e.d.Reload(ctx); err == nil || !strings.Contains(err.Error(), "still reading files") {
		t.Fatalf("second reload: %v", err)
	}
	st, err = e.client().Status(ctx)
	if err != nil || st.ReloadError == "" {
		t.Fatalf("status after the failed reload: %+v %v: want the reload error shown", st, err)
	}
	if got := e.d.gen.Load().cfg.RefreshBefore; got == 40*time.Minute {
		t.Fatal("the abandoned reload became the running config")
	}
	// Lock does not wait for the stuck reload either.
	if _, err := e.client().Lock(ctx); err != nil {
		t.Fatal(err)
	}
	tok := e.imdsToken()
	if code, _ := e.get(e.imdsURL+"/latest/meta-data/iam/security-credentials/dev", map[string]string{"X-aws-ec2-metadata-token": tok}); code != http.StatusServiceUnavailable {
		t.Fatalf("after lock during a hung reload: %d, want 503", code)
	}
}

// A reload the watcher did not trigger (here an explicit one, as SIGHUP or
// `imdsd use` make) reads a passing state of the file; the file then goes
// back to what the watcher saw last. The daemon must end up serving what
// the file says, not the passing state.
func TestReloadOfAPassingStateIsFollowedByTheFile(t *testing.T) {
	e := startEnv(t, envOptions{watch: true, tune: func(o *Options) { o.Debounce = 300 * time.Millisecond }})
	a := awsConfigFor(map[string]string{"dev": devRole, "ops": opsRole})
	b := awsConfigFor(map[string]string{"dev": qaRole, "ops": opsRole})
	e.writeAWSConfig(b) // the passing state
	must(t, e.d.Reload(context.Background()))
	if role, err := e.servedRole(); err != nil || role != qaRole {
		t.Fatalf("after reloading the passing state: %q %v", role, err)
	}
	e.writeAWSConfig(a) // back to what the watcher saw at the start
	waitFor(t, 10*time.Second, func() bool {
		role, err := e.servedRole()
		return err == nil && role == devRole
	}, "the daemon kept serving a passing state of the AWS config after the file went back")
}
