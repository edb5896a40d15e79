package imds

import (
	"crypto/sha256"
	"log/slog"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gorilla/mux"
)

// Paths of the EC2 face.
const (
	tokenPath    = "/latest/api/token"
	metaPath     = "/latest/meta-data"
	iamPath      = metaPath + "/iam"
	credsPath    = iamPath + "/security-credentials"
	credsExtPath = iamPath + "/security-credentials-extended"
	// credsDocPrefix precedes the role name in a credential document path.
	credsDocPrefix = credsPath + "/"
	iamInfoPath    = iamPath + "/info"
	placementPath  = metaPath + "/placement"
	dynamicPath    = "/latest/dynamic"
	identityPath   = dynamicPath + "/instance-identity"
	tokenHeader    = "X-Aws-Ec2-Metadata-Token"
	ttlHeader      = "X-Aws-Ec2-Metadata-Token-Ttl-Seconds"
)

// EC2 is the instance-metadata face (IMDSv2, optionally IMDSv1). It is an
// http.Handler; put it behind a Guard.
type EC2 struct {
	src    Source
	opts   Options
	tokens *tokenSigner // kept across Update so issued tokens stay valid
	state  atomic.Pointer[ec2State]
	router *mux.Router
	// credsDoc is the router's handler for security-credentials, kept to
	// be called directly on the hot path.
	credsDoc http.Handler
	// started is the identity document's pendingTime.
	started time.Time
	// now is the clock; tests replace it before serving.
	now func() time.Time
}

// ec2State is everything derived from one EC2Settings, computed at Update so
// that requests only load a pointer.
type ec2State struct {
	s         EC2Settings
	az        string
	profileID string // iam/info InstanceProfileId
	imageID   string
	// Rendered credential documents, plain and extended. They live here so
	// that a settings change drops them. Also roles share them: the cache is
	// keyed by the credentials, so sharing costs a re-render, never a wrong
	// document.
	doc, extDoc docCache
}

// NewEC2 returns the EC2 face serving s.Profile from src.
func NewEC2(src Source, s EC2Settings, o Options) *EC2 {
	e := &EC2{
		src:     src,
		opts:    o,
		tokens:  newTokenSigner(),
		started: time.Now().UTC().Truncate(time.Second),
		now:     time.Now,
	}
	e.Update(s)
	e.router = e.routes()
	return e
}

// Update swaps the settings atomically; requests in flight finish with the
// settings they started with. Issued tokens stay valid.
func (e *EC2) Update(s EC2Settings) {
	s.Also = slices.Clone(s.Also) // the caller may reuse its slice
	e.state.Store(newEC2State(s))
}

func newEC2State(s EC2Settings) *ec2State {
	return &ec2State{
		s:         s,
		az:        s.Region + "a",
		profileID: "AIPA" + derivedID(s.Profile, 17),
		imageID:   "ami-" + strings.ToLower(derivedID(s.InstanceID, 17)),
	}
}

// derivedID makes a stable, realistic-looking identifier (uppercase
// letters and digits) from a name, so the same profile always reports the
// same InstanceProfileId.
func derivedID(name string, n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	sum := sha256.Sum256([]byte("imdsd:" + name))
	out := make([]byte, n)
	for i := range out {
		out[i] = alphabet[sum[i]&31]
	}
	return string(out)
}

// ServeHTTP implements http.Handler.
func (e *EC2) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The credential document is nearly all the traffic, and a mux match
	// costs six allocations (route variables, two request copies). It goes
	// straight to the handler the router would have chosen.
	if p := r.URL.Path; len(p) > len(credsDocPrefix) && strings.HasPrefix(p, credsDocPrefix) {
		e.credsDoc.ServeHTTP(w, r)
		return
	}
	e.router.ServeHTTP(w, r)
}

// routes builds the router once; everything that a reload may change is
// read from e.state inside the handlers, so the routes never change.
func (e *EC2) routes() *mux.Router {
	r := mux.NewRouter()
	// No cleaning: a 301 for "/a/../b" would send PUT clients elsewhere,
	// and nothing legitimate needs it. Odd paths are simply 404.
	r.SkipClean(true)
	// Unknown paths get the same method and token checks as known ones, so
	// that a tokenless GET is always 401 and a POST always 405, as on EC2.
	r.NotFoundHandler = e.read(func(w http.ResponseWriter, r *http.Request, _ *ec2State, _ time.Time) { e.notFound(w, r) })
	r.MethodNotAllowedHandler = r.NotFoundHandler

	e.credsDoc = e.read(e.serveCreds(false))
	r.MatcherFunc(under(credsPath)).Handler(e.credsDoc)
	r.MatcherFunc(under(credsExtPath)).Handler(e.read(e.serveCreds(true)))
	r.MatcherFunc(exact(tokenPath)).HandlerFunc(e.serveToken)
	r.MatcherFunc(dir(iamInfoPath)).Handler(e.read(e.serveIAMInfo))
	r.MatcherFunc(dir(metaPath + "/instance-id")).Handler(e.read(e.serveInstanceID))
	r.MatcherFunc(dir(placementPath + "/region")).Handler(e.read(e.serveRegion))
	r.MatcherFunc(dir(placementPath + "/availability-zone")).Handler(e.read(e.serveAZ))
	r.MatcherFunc(exact(identityPath + "/document")).Handler(e.read(e.serveIdentity))
	for path, body := range listings {
		r.MatcherFunc(dir(path)).Handler(e.read(e.serveListing(body)))
	}
	return r
}

// listings are the directory pages, each served with and without the
// trailing slash as EC2 does. Entries ending in "/" are directories.
var listings = map[string]string{
	"":            "latest",
	"/latest":     "dynamic\nmeta-data",
	metaPath:      "iam/\ninstance-id\nplacement/",
	iamPath:       "info\nsecurity-credentials/",
	placementPath: "availability-zone\nregion",
	dynamicPath:   "instance-identity/",
	identityPath:  "document",
}

// Matchers compare strings instead of using mux path templates: no
// regular expressions, and the paths are fixed anyway.

// exact matches one path.
func exact(path string) mux.MatcherFunc {
	return func(r *http.Request, _ *mux.RouteMatch) bool { return r.URL.Path == path }
}

// dir matches path with or without a trailing slash.
func dir(path string) mux.MatcherFunc {
	slash := path + "/"
	return func(r *http.Request, _ *mux.RouteMatch) bool {
		return r.URL.Path == path || r.URL.Path == slash
	}
}

// under matches path, path/ and anything below path/.
func under(path string) mux.MatcherFunc {
	slash := path + "/"
	return func(r *http.Request, _ *mux.RouteMatch) bool {
		return r.URL.Path == path || strings.HasPrefix(r.URL.Path, slash)
	}
}

// ec2Handler serves a metadata GET with the settings of this request.
type ec2Handler func(w http.ResponseWriter, r *http.Request, st *ec2State, now time.Time)

// read wraps a metadata handler with the method and token checks.
func (e *EC2) read(h ec2Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header()["Allow"] = hdrAllowGet
			e.fail(w, r, http.StatusMethodNotAllowed, "Method Not Allowed")
			return
		}
		st, now := e.state.Load(), e.now()
		switch e.authorize(r, st, now) {
		case http.StatusUnauthorized:
			e.fail(w, r, http.StatusUnauthorized, "Unauthorized")
		case http.StatusForbidden:
			e.fail(w, r, http.StatusForbidden, "Forbidden: a request without a token must not come through a proxy")
		default:
			h(w, r, st, now)
		}
	})
}

// authorize applies the IMDSv2 rule and returns 0 if r may be answered, or
// the status to refuse it with. A token, if sent, must be valid (even when
// tokens are optional, as on EC2), else 401, which SDKs treat as "get a new
// token". Without one only IMDSv1 mode answers, and never a request that a
// proxy forwarded: that is the server-side request forgery IMDSv2 exists
// to stop (a web app tricked into fetching the metadata URL for an
// attacker), so it gets 403 where a direct one would have been served.
func (e *EC2) authorize(r *http.Request, st *ec2State, now time.Time) int {
	vals, sent := r.Header[tokenHeader]
	switch {
	case sent:
		if len(vals) == 1 && e.tokens.valid(now, vals[0]) {
			return 0
		}
		return http.StatusUnauthorized
	case st.s.TokensRequired:
		return http.StatusUnauthorized
	case proxied(r):
		return http.StatusForbidden
	}
	return 0
}

// proxied reports whether r carries a proxy's forwarding header, with any
// value: a forwarder adds one, a client talking to us directly has no
// reason to.
func proxied(r *http.Request) bool {
	_, xff := r.Header["X-Forwarded-For"]
	_, fwd := r.Header["Forwarded"]
	return xff || fwd
}

func (e *EC2) notFound(w http.ResponseWriter, r *http.Request) {
	e.fail(w, r, http.StatusNotFound, "Not Found")
}

// fail writes a plain-text error as EC2 does.
func (e *EC2) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	logDebug(e.opts.Logger, r, "imds request refused", status, slog.String("reason", msg))
	writeText(w, r, status, msg)
}

// ok writes a plain-text value.
func (e *EC2) ok(w http.ResponseWriter, r *http.Request, body string) {
	logDebug(e.opts.Logger, r, "imds request", http.StatusOK)
	writeText(w, r, http.StatusOK, body)
}

// arch is the identity document's architecture in EC2's spelling.
func arch() string {
	switch runtime.GOARCH {
	case "amd64":
		return "x86_64"
	case "386":
		return "i386"
	default:
		return runtime.GOARCH
	}
}
