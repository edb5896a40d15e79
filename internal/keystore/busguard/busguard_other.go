//go:build !linux

// Package busguard: the keyring library reaches D-Bus only on Linux.
package busguard

// Restore has nothing to undo here.
func Restore() {}
