package ssosession

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// The command line each platform gets, with the tools it has.
func TestNotifyCommand(t *testing.T) {
	t.Parallel()
	const title, msg = `imdsd: sign in`, `session "corp" ended: run \ imdsd login`
	cases := map[string]struct {
		goos  string
		tools []string
		want  []string // name then args; nil: no notification
	}{
		"linux notify-send": {"linux", []string{"notify-send", "gdbus"}, []string{"/bin/notify-send", "--app-name=imdsd", "--", title, msg}},
		"linux gdbus": {"linux", []string{"gdbus"}, []string{"/bin/gdbus", "call", "--session", "--dest", "org.freedesktop.Notifications",
			"--object-path", "/org/freedesktop/Notifications", "--method", "org.freedesktop.Notifications.Notify",
			"imdsd", "0", "''", `"imdsd: sign in"`, `"session \"corp\" ended: run \\ imdsd login"`, "[]", "{}", "int32 -1"}},
		"linux headless": {"linux", nil, nil},
		"freebsd":        {"freebsd", []string{"notify-send"}, []string{"/bin/notify-send", "--app-name=imdsd", "--", title, msg}},
		"macos":          {"darwin", []string{"osascript"}, []string{"/bin/osascript", "-e", `display notification "session \"corp\" ended: run \\ imdsd login" with title "imdsd: sign in"`}},
		"windows":        {"windows", []string{"notify-send", "osascript"}, nil},
	}
	for name, tc := range cases {
		look := func(f string) (string, error) {
			if slices.Contains(tc.tools, f) {
				return "/bin/" + f, nil
			}
			return "", exec.ErrNotFound
		}
		n, args, ok := notifyCommand(tc.goos, look, title, msg)
		if got := append([]string{n}, args...); ok != (tc.want != nil) || (ok && !slices.Equal(got, tc.want)) {
			t.Errorf("%s: %v %q, want %q", name, ok, got, tc.want)
		}
	}
}

// recorder owns org.freedesktop.Notifications on a private session bus
// and prints each Notify call as JSON, as a desktop's notification daemon
// would receive it.
const recorder = `
import json, dbus, dbus.service, dbus.mainloop.glib
from gi.repository import GLib
dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
class N(dbus.service.Object):
    @dbus.service.method("org.freedesktop.Notifications", in_signature="susssasa{sv}i", out_signature="u")
    def Notify(self, app, rid, icon, summary, body, actions, hints, timeout):
        print(json.dumps({"app": str(app), "summary": str(summary), "body": str(body)}), flush=True)
        return 1
    @dbus.service.method("org.freedesktop.Notifications", out_signature="as")
    def GetCapabilities(self):
        return ["body"]
    @dbus.service.method("org.freedesktop.Notifications", out_signature="ssss")
    def GetServerInformation(self):
        return ("recorder", "imdsd", "1", "1.2")
bus = dbus.SessionBus()
name = dbus.service.BusName("org.freedesktop.Notifications", bus)
N(bus, "/org/freedesktop/Notifications")
print("ready", flush=True)
GLib.MainLoop().run()
`

// A real notification reaches org.freedesktop.Notifications on a private
// session bus, through each Linux tool present, with the texts intact.
func TestDesktopNotificationOverDBus(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("org.freedesktop.Notifications is the Linux desktop's; macOS's osascript command is checked in TestNotifyCommand")
	}
	daemon, err := exec.LookPath("dbus-daemon")
	py := "/usr/bin/python3" // the distribution's, which has python3-dbus
	if err != nil || exec.Command(py, "-c", "import dbus, gi").Run() != nil {
		t.Skip("needs dbus-daemon and python3-dbus, python3-gi (apt-get install dbus python3-dbus python3-gi) to host a notification service")
	}
	var tools []string
	for _, n := range []string{"notify-send", "gdbus"} {
		if _, err := exec.LookPath(n); err == nil {
			tools = append(tools, n)
		}
	}
	if len(tools) == 0 {
		t.Skip("neither notify-send (libnotify-bin) nor gdbus (libglib2.0-bin) is installed")
	}
	bus := exec.Command(daemon, "--session", "--nofork", "--print-address=1")
	out, err := bus.StdoutPipe()
	must(t, err)
	must(t, bus.Start())
	t.Cleanup(func() { _ = bus.Process.Kill(); _ = bus.Wait() })
	addr, err := bufio.NewReader(out).ReadString('\n')
	must(t, err)
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", strings.TrimSpace(addr))

	rec := exec.Command(py, "-c", recorder)
	recOut, err := rec.StdoutPipe()
	must(t, err)
	rec.Stderr = os.Stderr
	must(t, rec.Start())
	t.Cleanup(func() { _ = rec.Process.Kill(); _ = rec.Wait() })
	lines := bufio.NewScanner(recOut)
	if !lines.Scan() || lines.Text() != "ready" {
		t.Fatalf("the recorder did not start: %q", lines.Text())
	}
	for _, tool := range tools {
		title, msg := "imdsd: sign in to AWS", `The session of sso-session "corp" ended: run `+"`imdsd login --sso-session corp`"+` (via `+tool+`)`
		look := func(f string) (string, error) {
			if f != tool {
				return "", exec.ErrNotFound
			}
			return exec.LookPath(f)
		}
		name, args, ok := notifyCommand("linux", look, title, msg)
		if !ok {
			t.Fatalf("%s: no command", tool)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if b, err := exec.CommandContext(ctx, name, args...).CombinedOutput(); err != nil {
			cancel()
			t.Fatalf("%s: %v: %s", filepath.Base(name), err, b)
		}
		cancel()
		if !lines.Scan() {
			t.Fatalf("%s: the notification service received nothing", tool)
		}
		var got struct{ App, Summary, Body string }
		must(t, json.Unmarshal(lines.Bytes(), &got))
		if got.App != "imdsd" || got.Summary != title || got.Body != msg {
			t.Fatalf("%s: the service got %+v, want app imdsd, %q, %q", tool, got, title, msg)
		}
	}
	// Desktop uses the same path.
	if err := Desktop(context.Background(), "t", "m"); err != nil {
		t.Fatal(err)
	}
	if !lines.Scan() || !strings.Contains(lines.Text(), `"body": "m"`) {
		t.Fatalf("Desktop: the service got %q", lines.Text())
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil && !errors.Is(err, os.ErrClosed) {
		t.Fatal(err)
	}
}
