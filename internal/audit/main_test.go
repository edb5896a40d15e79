package audit

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// The imds.Server of keepAliveVends has a connection watchdog
		// (imds/watchdog.go, `go wd.sweep()` in watchdog.add) that
		// Server.Close does not stop: it sleeps out its 1 s tick after the
		// last connection closed. Not this package's goroutine.
		goleak.IgnoreAnyFunction("github.com/imdsd/imdsd/imds.(*watchdog).sweep"),
	)
}
