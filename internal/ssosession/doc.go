// Package ssosession keeps IAM Identity Center (SSO) sign-ins alive in the
// daemon: one Manager per sso-session (or legacy start URL) renews the
// cached access token with its refresh token well before it expires, so
// the SDKs' own providers (each on its own, in every process sharing the
// cache file) never do; and when the sign-in cannot be renewed, it
// says so once (a log line and a desktop notification) and makes every
// profile of the session fail fast with the command to run, until a new
// sign-in appears in the cache file.
package ssosession
