//go:build darwin && cgo

package config

// KeychainBuilt: the keyring library's macOS Keychain backend needs cgo,
// and this build has it.
const KeychainBuilt = true
