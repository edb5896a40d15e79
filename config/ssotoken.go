package config

// ReadSSOTokenFile reads an SSO token cache file through the checked
// reader (regular file, owner, size cap), for the daemon's SSO session
// manager, which renews the token in it. The contents hold bearer tokens:
// callers must never log them.
func ReadSSOTokenFile(path string) ([]byte, error) {
	return readChecked(path, ssoTokenSpec)
}
