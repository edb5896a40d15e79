//go:build !linux

package daemon

// Only Linux exposes the socket table without privileges; elsewhere
// clients are known by address.
func socketOf(client, listener string) (int, string) { return -1, "" }

func processOf(inode string) (int, string) { return 0, "" }
