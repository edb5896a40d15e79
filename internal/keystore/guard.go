package keystore

import "github.com/imdsd/imdsd/internal/keystore/busguard"

// The keyring library's initialisers have run (this package imports it):
// give the environment back its own bus address, or none.
func init() { busguard.Restore() }
