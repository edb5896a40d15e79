package daemon

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// The daemon's SDK reads AWS_* variables (endpoints, profile, keys, CA
	// bundle). Each test points it at its own fake STS through the AWS
	// files it owns, so nothing may come from the environment of whoever
	// runs the tests; clearing it once here rather than with t.Setenv in
	// every test is what lets the tests run in parallel.
	// (Not when this binary is the command `imdsd exec` runs in
	// TestExecCommandGetsTheProfileAndItsExitCode: its AWS_* are the test.)
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AWS_") && os.Getenv("IMDSD_EXEC_CHILD") == "" {
			os.Unsetenv(k)
		}
	}
	code := m.Run()
	if code == 0 {
		if err := leftGoroutines(5 * time.Second); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: errors on successful test run: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// leftGoroutines is goleak.VerifyTestMain's check with a longer wait:
// goroutines that end on their own within it pass. A daemon stopped
// mid-fetch leaves the SDK's STS call running (see
// TestRunEndsEveryGoroutine) until the fake STS is closed and the SDK's
// one retry delay (up to 2 s) is over; goleak alone waits under half a
// second. Any goroutine that never ends is reported.
func leftGoroutines(wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		err := goleak.Find(leakIgnores...)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// leakIgnores are goroutines known to outlive the daemon's Run: only the
// session-bus reader the keyring library (99designs/keyring) starts at
// init where a D-Bus session bus exists, which lives as long as the
// process, daemon or not.
var leakIgnores = []goleak.Option{goleak.IgnoreAnyFunction("github.com/godbus/dbus.(*Conn).inWorker")}

// TestRunEndsEveryGoroutine: Run returns only once every goroutine the
// daemon started has ended, after a life that starts all of them (brokers,
// listeners, the watcher, the control socket, reloads, lock and unlock).
// Serial: goleak looks at every goroutine of the process. Every fetch has
// ended before the stop: a broker stopped mid-fetch leaves the SDK's STS
// call running (aws.CredentialsCache retrieves on a goroutine of its own
// with the caller's cancellation suppressed), which Run does not wait for.
func TestRunEndsEveryGoroutine(t *testing.T) {
	opts := append([]goleak.Option{goleak.IgnoreCurrent()}, leakIgnores...)
	e := startEnv(t, envOptions{watch: true, ecsTOML: `profiles = ["ops"]`})
	ctx := context.Background()
	settled := func() {
		for _, b := range e.d.gen.Load().brokers {
			<-b.Started()
		}
	}
	if _, err := e.ec2Creds(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ecsCreds(ctx, "/role/ops"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client().Status(ctx); err != nil {
		t.Fatal(err)
	}
	e.writeAWSConfig(strings.Replace(baseAWSConfig, "region = eu-west-2", "region = eu-west-3", 1))
	must(t, e.d.Reload(ctx))
	settled()
	if _, err := e.client().Lock(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client().Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	settled()
	if _, err := e.client().Creds(ctx, ""); err != nil {
		t.Fatal(err)
	}
	e.stop()
	// The STS client is the test's (Options.HTTPClient) and keeps its idle
	// connections, as net/http does; closing the fake STS drops them.
	e.sts.Close()
	goleak.VerifyNone(t, opts...)
}
