package ssologin

import (
	"os"
	"os/exec"
	"runtime"
)

// openSystemBrowser opens url with the desktop's opener. ErrNoBrowser when
// there is none (no opener, or no display on Linux, e.g. over SSH), so
// Login falls back to the device-code flow instead of waiting for a
// browser that will never come.
func openSystemBrowser(url string) error {
	var name string
	var args []string
	switch runtime.GOOS {
	case "darwin":
		name = "open"
	case "windows":
		name, args = "rundll32", []string{"url.dll,FileProtocolHandler"}
	default:
		if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
			return ErrNoBrowser
		}
		name = "xdg-open"
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return ErrNoBrowser
	}
	cmd := exec.Command(path, append(args, url)...)
	if err := cmd.Start(); err != nil {
		return ErrNoBrowser
	}
	// The opener hands the URL over and exits; reap it without waiting.
	go cmd.Wait()
	return nil
}
