package audit

import (
	"sync"
	"time"

	"github.com/imdsd/imdsd/imds"
)

// The revoke horizon: per profile, the credentials the audit saw vended
// that still work at AWS, so `imdsd sessions` can say what `imdsd revoke`
// would cut off. A credential stops counting when it expires or when imdsd
// revoked its role's sessions issued before it (Revoked). Credentials are
// few (one per profile per refresh), so a map under a mutex does; it is
// touched on a consumer's first vend only, never on a repeat.

// vended is one credential as vended.
type vended struct {
	profile, role   string
	issued, expires time.Time
}

type horizon struct {
	mu      sync.Mutex
	creds   map[string]vended    // by access key id
	cutoffs map[string]time.Time // by role ARN: the latest revocation imdsd applied
}

// note records a credential vended at now, unless a revocation already
// cut it off, and forgets the expired ones, so a daemon nobody asks for
// sessions holds no more than the credentials still valid.
func (h *horizon) note(profile string, c imds.Credentials, now time.Time) {
	if c.Issued.IsZero() {
		return // not from a broker: no issue time to reason about
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.creds[c.AccessKeyID]; ok {
		return
	}
	for id, v := range h.creds {
		if !v.expires.After(now) {
			delete(h.creds, id)
		}
	}
	if cut, ok := h.cutoffs[c.RoleArn]; ok && c.RoleArn != "" && c.Issued.Before(cut) {
		return
	}
	if h.creds == nil {
		h.creds, h.cutoffs = map[string]vended{}, map[string]time.Time{}
	}
	h.creds[c.AccessKeyID] = vended{profile: profile, role: c.RoleArn, issued: c.Issued, expires: c.Expires}
}

// Revoked tells the audit that imdsd revoked, at AWS, every session of
// role issued before cutoff: those credentials no longer count as valid.
func (a *Auditor) Revoked(role string, cutoff time.Time) {
	h := &a.horizon
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cutoffs == nil {
		h.creds, h.cutoffs = map[string]vended{}, map[string]time.Time{}
	}
	if cutoff.After(h.cutoffs[role]) {
		h.cutoffs[role] = cutoff
	}
	for id, v := range h.creds {
		if v.role == role && v.issued.Before(cutoff) {
			delete(h.creds, id)
		}
	}
}

// profileOldest is a profile's oldest still-valid vended credential.
type profileOldest struct {
	AccessKeyID string
	// Issued is when imdsd began fetching it: STS issued it no earlier.
	Issued  time.Time
	Expires time.Time
	// Valid counts the profile's vended credentials still valid.
	Valid int
}

// oldest returns, per profile, the oldest vended credential still valid
// at now, dropping the expired ones.
func (h *horizon) oldest(now time.Time) map[string]profileOldest {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]profileOldest{}
	for id, v := range h.creds {
		if !v.expires.After(now) {
			delete(h.creds, id)
			continue
		}
		o, ok := out[v.profile]
		o.Valid++
		if !ok || v.issued.Before(o.Issued) || v.issued.Equal(o.Issued) && id < o.AccessKeyID {
			o.AccessKeyID, o.Issued, o.Expires = id, v.issued, v.expires
		}
		out[v.profile] = o
	}
	return out
}
