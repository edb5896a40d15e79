package ssosession

import (
	"context"
	"fmt"
	"os/exec"
	"runtime"
	"strings"
)

// Desktop is the Notifier of this machine: a desktop notification through
// the platform's own tool, so imdsd links no D-Bus or Cocoa code. It
// fails (and the caller logs why at debug) where there is none: a
// headless server, or no session bus.
func Desktop(ctx context.Context, title, message string) error {
	name, args, ok := notifyCommand(runtime.GOOS, exec.LookPath, title, message)
	if !ok {
		return fmt.Errorf("no desktop notification tool on %s", runtime.GOOS)
	}
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// notifyCommand builds the command line that shows one notification on
// goos with the tools lookPath finds. Linux and the BSDs speak
// org.freedesktop.Notifications on the session bus: notify-send when
// installed (it takes the texts as they are), else gdbus, which every
// GLib desktop has. macOS has osascript.
func notifyCommand(goos string, lookPath func(string) (string, error), title, message string) (string, []string, bool) {
	switch goos {
	case "darwin":
		p, err := lookPath("osascript")
		if err != nil {
			return "", nil, false
		}
		return p, []string{"-e", fmt.Sprintf("display notification %s with title %s", appleString(message), appleString(title))}, true
	case "windows", "plan9", "js", "wasip1", "ios", "android":
		return "", nil, false
	}
	if p, err := lookPath("notify-send"); err == nil {
		// "--" ends the options: a message may start with a dash.
		return p, []string{"--app-name=imdsd", "--", title, message}, true
	}
	if p, err := lookPath("gdbus"); err == nil {
		return p, []string{"call", "--session",
			"--dest", "org.freedesktop.Notifications",
			"--object-path", "/org/freedesktop/Notifications",
			"--method", "org.freedesktop.Notifications.Notify",
			// app_name, replaces_id, app_icon, summary, body, actions, hints, expire_timeout
			"imdsd", "0", "''", gvariantString(title), gvariantString(message), "[]", "{}", "int32 -1"}, true // not "-1": gdbus would take it for an option
	}
	return "", nil, false
}

// appleString quotes s as an AppleScript string literal.
func appleString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// gvariantString quotes s in GVariant text format, which gdbus parses its
// arguments as: unquoted text that looks like another value would be
// taken for one.
func gvariantString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}
