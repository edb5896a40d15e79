package imds

import (
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"
)

// serveCreds answers security-credentials (or, if extended,
// security-credentials-extended): the listing at the directory itself and
// the document at <dir>/<role>, with or without a trailing slash. Roles in
// Settings.Also are answered but not listed.
func (e *EC2) serveCreds(extended bool) ec2Handler {
	base, render := credsPath, renderEC2
	if extended {
		base, render = credsExtPath, renderEC2Extended
	}
	return func(w http.ResponseWriter, r *http.Request, st *ec2State, now time.Time) {
		rest := r.URL.Path[len(base):]
		if st.s.Profile == "" {
			// No role attached: EC2 answers 404 for the listing too.
			e.notFound(w, r)
			return
		}
		if rest == "" || rest == "/" {
			// Exactly the role name, no newline: botocore, Rust and Java
			// put the whole body into the next URL.
			e.ok(w, r, st.s.Profile)
			return
		}
		role := strings.TrimSuffix(rest[1:], "/")
		if role != st.s.Profile && !slices.Contains(st.s.Also, role) {
			e.notFound(w, r)
			return
		}
		c, status, msg := lookup(r.Context(), e.src, role, now)
		if status != http.StatusOK {
			e.fail(w, r, status, msg)
			return
		}
		cache := &st.doc
		if extended {
			cache = &st.extDoc
		}
		doc := cache.get(c, now, render)
		// text/plain, as the real service sends: SDKs parse the body
		// whatever the type says.
		writeDoc(w, r, http.StatusOK, hdrTextPlain, doc.length, doc.body)
		if r.Method == http.MethodGet && e.opts.OnVend != nil {
			e.opts.OnVend(r, role, c, now)
		}
		logDebug(e.opts.Logger, r, "imds credentials served", http.StatusOK,
			slog.String("profile", role), slog.String("access_key_id", c.AccessKeyID))
	}
}
