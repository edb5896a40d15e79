//go:build !(darwin && cgo)

package config

// KeychainBuilt: the keyring library's macOS Keychain backend needs cgo
// on macOS, which this build lacks (or it is not macOS).
const KeychainBuilt = false
