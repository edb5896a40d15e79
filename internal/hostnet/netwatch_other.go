//go:build !linux

package hostnet

import "context"

// LinkChanges never fires here: docker bridges exist on the host only on
// Linux (Docker Desktop, colima and OrbStack keep theirs in a VM, reached
// through `imdsd relay`), so there is nothing to rescan for.
func LinkChanges(context.Context) (<-chan struct{}, error) {
	return nil, nil
}
