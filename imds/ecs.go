package imds

import (
	"crypto/subtle"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

const (
	ecsCredsPath = "/creds"
	ecsRolePath  = "/role/"
)

// ECS is the container-credentials face (AWS_CONTAINER_CREDENTIALS_FULL_URI
// pointing at /creds or /role/<profile>). It is an http.Handler; put it
// behind a Guard.
type ECS struct {
	src   Source
	opts  Options
	state atomic.Pointer[ecsState]
	now   func() time.Time // tests replace it before serving
}

// ecsState is everything derived from one ECSSettings.
type ecsState struct {
	s     ECSSettings
	token []byte
	// docs has one cache per served profile; a settings change drops them.
	docs map[string]*docCache
}

// NewECS returns the ECS face serving s's profiles from src.
func NewECS(src Source, s ECSSettings, o Options) *ECS {
	e := &ECS{src: src, opts: o, now: time.Now}
	e.Update(s)
	return e
}

// Update swaps the settings atomically; requests in flight finish with the
// settings they started with.
func (e *ECS) Update(s ECSSettings) {
	s.Profiles = slices.Clone(s.Profiles) // the caller may reuse its slice
	st := &ecsState{s: s, token: []byte(s.Token), docs: make(map[string]*docCache, len(s.Profiles)+1)}
	for _, p := range s.Profiles {
		if p != "" {
			st.docs[p] = &docCache{}
		}
	}
	if s.DefaultProfile != "" {
		st.docs[s.DefaultProfile] = &docCache{}
	}
	e.state.Store(st)
}

// ServeHTTP implements http.Handler. Two routes do not need a router, and
// a gorilla/mux match would cost six allocations per request on what is
// all hot path.
func (e *ECS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st := e.state.Load()
	switch p := r.URL.Path; {
	case p == ecsCredsPath:
		e.serve(w, r, st, "")
	case strings.HasPrefix(p, ecsRolePath) && len(p) > len(ecsRolePath):
		e.serve(w, r, st, p[len(ecsRolePath):])
	default:
		e.fail(w, r, http.StatusNotFound, "NotFound", "no such path; use /creds or /role/<profile>")
	}
}

// serve answers /creds (profile "") and /role/<profile>.
func (e *ECS) serve(w http.ResponseWriter, r *http.Request, st *ecsState, profile string) {
	if r.Method != http.MethodGet {
		w.Header()["Allow"] = hdrAllowECS
		e.fail(w, r, http.StatusMethodNotAllowed, "MethodNotAllowed", "only GET is allowed")
		return
	}
	// Authorization before anything else, so that a client without the
	// token cannot learn which profiles exist.
	if !st.authorized(r) {
		e.fail(w, r, http.StatusUnauthorized, "AccessDenied",
			"missing or wrong Authorization header; set AWS_CONTAINER_AUTHORIZATION_TOKEN(_FILE) to the imdsd ECS token")
		return
	}
	if profile == "" {
		profile = st.s.DefaultProfile
	}
	cache := st.docs[profile]
	if cache == nil {
		e.fail(w, r, http.StatusNotFound, "NotFound", "profile "+profile+" is not served by imdsd")
		return
	}
	now := e.now()
	c, status, msg := lookup(r.Context(), e.src, profile, now)
	if status != http.StatusOK {
		code := "CredentialsUnavailable"
		if status == http.StatusNotFound {
			code = "NotFound"
		}
		e.fail(w, r, status, code, msg)
		return
	}
	doc := cache.get(c, now, renderECS)
	writeDoc(w, r, http.StatusOK, hdrJSON, doc.length, doc.body)
	if e.opts.OnVend != nil {
		e.opts.OnVend(r, profile, c, now)
	}
	logDebug(e.opts.Logger, r, "ecs credentials served", http.StatusOK,
		slog.String("profile", profile), slog.String("access_key_id", c.AccessKeyID))
}

// authorized compares the Authorization header with the token in constant
// time. An empty configured token refuses everyone rather than accepting a
// missing header.
func (st *ecsState) authorized(r *http.Request) bool {
	vals := r.Header["Authorization"]
	if len(st.token) == 0 || len(vals) != 1 {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(vals[0]), st.token) == 1
}

// fail writes an ECS error. The body carries both spellings of the keys:
// Go v2 reads code/message, the JS SDK Code/Message.
func (e *ECS) fail(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	logDebug(e.opts.Logger, r, "ecs request refused", status, slog.String("reason", msg))
	b := ecsErrorDoc(code, msg)
	writeDoc(w, r, status, hdrJSON, []string{strconv.Itoa(len(b))}, b)
}
