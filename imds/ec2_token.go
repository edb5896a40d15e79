package imds

import (
	"net/http"
	"strconv"
)

// serveToken answers PUT /latest/api/token as EC2 does.
func (e *EC2) serveToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPut {
		w.Header()["Allow"] = hdrAllowPut
		e.fail(w, r, http.StatusMethodNotAllowed, "Method Not Allowed")
		return
	}
	// EC2 refuses token requests that went through a proxy, so that a
	// misconfigured forwarder cannot hand out tokens. A container's
	// forwarder behind imdsd would be the same hazard; EC2 looks for
	// X-Forwarded-For only, RFC 7239's Forwarded is the same sign.
	if proxied(r) {
		e.fail(w, r, http.StatusForbidden, "Forbidden")
		return
	}
	ttl, ok := parseTTL(r.Header.Get(ttlHeader))
	if !ok {
		e.fail(w, r, http.StatusBadRequest, "Bad Request: "+ttlHeader+" must be an integer from 1 to 21600")
		return
	}
	tok := e.tokens.mint(e.now(), ttl)
	// Go v2, Go v1 and Rust take the token lifetime from this header and
	// skip the token altogether without it.
	w.Header()[ttlHeader] = []string{strconv.Itoa(ttl)}
	logDebug(e.opts.Logger, r, "imds token issued", http.StatusOK)
	writeText(w, r, http.StatusOK, tok)
}

// parseTTL accepts decimal digits only (no sign, no spaces) in 1..21600.
func parseTTL(v string) (int, bool) {
	if v == "" || len(v) > 10 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n >= minTokenTTL && n <= maxTokenTTL
}
