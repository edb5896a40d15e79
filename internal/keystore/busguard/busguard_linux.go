// Package busguard keeps the keyring library from starting a D-Bus session
// bus. github.com/99designs/keyring connects to the session bus in its
// package initialisers (for Secret Service and KWallet), in every imdsd
// process; where no bus runs, godbus then execs dbus-launch, which leaves
// a dbus-daemon behind per attempt (two per `imdsd status` on a headless
// machine with dbus-x11 installed). This package imports only os and strconv, so Go's
// initialisation order (packages sorted by path, each after its imports)
// runs it before godbus, which needs os/exec: when no bus is there to
// find, it points godbus at an address that fails at once. keystore's own
// initialiser, which runs after the library's, puts the environment back.
package busguard

import (
	"os"
	"strconv"
)

const envAddr = "DBUS_SESSION_BUS_ADDRESS"

// Guarded reports whether the address was set here (and must be unset).
var Guarded bool

func init() {
	if os.Getenv("IMDSD_TEST_NO_BUSGUARD") == "1" {
		return // tests prove the guard is what keeps dbus-launch from running
	}
	if a := os.Getenv(envAddr); a != "" && a != "autolaunch:" {
		return
	}
	// Where godbus looks for a running bus before it would autolaunch one.
	dirs := []string{os.Getenv("XDG_RUNTIME_DIR"), "/run/user/" + strconv.Itoa(os.Getuid())}
	for _, d := range dirs {
		if d == "" {
			continue
		}
		for _, f := range []string{"/bus", "/dbus-session"} {
			if _, err := os.Stat(d + f); err == nil {
				return
			}
		}
	}
	// An unsupported transport: godbus fails without running anything.
	os.Setenv(envAddr, "disabled:")
	Guarded = true
}

// Restore removes the address set by init.
func Restore() {
	if Guarded && os.Getenv(envAddr) == "disabled:" {
		os.Unsetenv(envAddr)
	}
	Guarded = false
}
