//go:build !linux

package audit

// Only Linux exposes sockets' owners without privileges; elsewhere
// clients are known by address.
func socketOf(client, listener string) (int, string) { return -1, "" }

func socketProcesses() map[string]procInfo { return nil }
