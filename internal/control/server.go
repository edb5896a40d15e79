package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/imdsd/imdsd/imds"
	"github.com/imdsd/imdsd/internal/audit"
)

// Backend is what the control API drives: the daemon.
type Backend interface {
	Status() Status
	Reload(ctx context.Context) error
	// RefreshAll fetches every profile anew and waits for the outcomes.
	RefreshAll(ctx context.Context) []ProfileRefresh
	Lock()
	// LockRevoke locks, then revokes at AWS the sessions of every role
	// that was served, and reports each outcome.
	LockRevoke(ctx context.Context) []RevokeResult
	// Unlock serves again; passphrase ("" = none given) opens the file
	// keyring.
	Unlock(ctx context.Context, passphrase string) error
	// Revoke invalidates at AWS every session of a profile's role issued
	// until now ("" = the IMDS profile) and serves new credentials.
	Revoke(ctx context.Context, profile string) (RevokeResult, error)
	Use(ctx context.Context, profile string) error
	MFA(ctx context.Context, profile, code string) (MFAResult, error)
	// Creds returns a profile's credentials for the CLI ("" = the IMDS
	// profile), audited as a vend to r's client.
	Creds(r *http.Request, profile string) (imds.Credentials, error)
	Sessions() []audit.Consumer
	// Exec serves a profile for an `imdsd exec` command until release.
	Exec(ctx context.Context, profile string) (ExecSession, func(), error)
}

// Server serves the control API on a unix socket.
type Server struct {
	path   string
	srv    *http.Server
	done   chan struct{}
	cancel context.CancelFunc // ends held requests (exec) at Close
}

// Listen binds the socket at path (0600 in a 0700 directory) and serves b
// on it until Close.
func Listen(path string, b Backend, log *slog.Logger) (*Server, error) {
	if err := checkSocketDir(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("control_socket %s: %w", path, err)
	}
	if _, err := os.Lstat(path); err == nil {
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("control_socket %s: another imdsd is running and answers there; stop it first (imdsd status shows its pid)", path)
		}
		os.Remove(path) // stale, from a daemon that did not stop cleanly
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control_socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control_socket %s: %w", path, err)
	}
	base, cancel := context.WithCancel(context.Background())
	s := &Server{path: path, done: make(chan struct{}), cancel: cancel}
	s.srv = &http.Server{
		Handler: Handler(b), ReadHeaderTimeout: 5 * time.Second,
		BaseContext: func(net.Listener) context.Context { return base },
		// The audit names `imdsd creds` callers by the socket's peer.
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if uid, pid, err := peer(c); err == nil && uid >= 0 {
				return audit.WithPeer(ctx, uid, pid)
			}
			return ctx
		},
	}
	go func() {
		defer close(s.done)
		s.srv.Serve(&peerCheckListener{Listener: ln, log: log})
	}()
	log.Info("control socket ready", "path", path)
	return s, nil
}

// Close stops serving, lets requests in flight finish briefly, and removes
// the socket.
func (s *Server) Close() {
	s.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if s.srv.Shutdown(ctx) != nil {
		s.srv.Close()
	}
	<-s.done
	os.Remove(s.path)
}

// peerCheckListener drops connections from other users before any byte is
// read: the file mode already keeps them out, this holds even if someone
// loosens it.
type peerCheckListener struct {
	net.Listener
	log *slog.Logger
}

func (l *peerCheckListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		uid, err := peerUID(c)
		if err == nil && (uid < 0 || trustedUID(uid)) {
			return c, nil
		}
		l.log.Warn("control socket: refused a connection from another user", "uid", uid, "err", err)
		c.Close()
	}
}

type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, apiError{Error: err.Error()})
}

// Handler is the control API over b.
func Handler(b Backend) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, b.Status())
	})
	mux.HandleFunc("POST /v1/reload", func(w http.ResponseWriter, r *http.Request) {
		if err := b.Reload(r.Context()); err != nil {
			fail(w, http.StatusUnprocessableEntity, err)
			return
		}
		writeJSON(w, 200, b.Status())
	})
	mux.HandleFunc("POST /v1/refresh", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, b.RefreshAll(r.Context()))
	})
	mux.HandleFunc("POST /v1/lock", func(w http.ResponseWriter, r *http.Request) {
		// The body is optional: plain lock sends none.
		var in struct{ Revoke bool }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil && !errors.Is(err, io.EOF) {
			fail(w, 400, errors.New(`body must be empty or {"revoke": true}`))
			return
		}
		if in.Revoke {
			writeJSON(w, 200, b.LockRevoke(r.Context()))
			return
		}
		b.Lock()
		writeJSON(w, 200, b.Status())
	})
	mux.HandleFunc("POST /v1/revoke", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Profile string }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			fail(w, 400, errors.New(`body must be {"profile": "NAME"}`))
			return
		}
		res, err := b.Revoke(r.Context(), in.Profile)
		if err != nil {
			fail(w, http.StatusUnprocessableEntity, err)
			return
		}
		writeJSON(w, 200, res)
	})
	mux.HandleFunc("POST /v1/unlock", func(w http.ResponseWriter, r *http.Request) {
		// The body is optional; the passphrase is never logged or echoed.
		var in struct{ Passphrase string }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil && !errors.Is(err, io.EOF) {
			fail(w, 400, errors.New(`body must be empty or {"passphrase": "..."}`))
			return
		}
		if err := b.Unlock(r.Context(), in.Passphrase); err != nil {
			fail(w, http.StatusUnprocessableEntity, err)
			return
		}
		writeJSON(w, 200, b.Status())
	})
	mux.HandleFunc("POST /v1/use", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Profile string }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Profile == "" {
			fail(w, 400, errors.New(`body must be {"profile": "NAME"}`))
			return
		}
		if err := b.Use(r.Context(), in.Profile); err != nil {
			fail(w, http.StatusUnprocessableEntity, err)
			return
		}
		writeJSON(w, 200, b.Status())
	})
	mux.HandleFunc("POST /v1/mfa", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Profile, Code string }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			fail(w, 400, errors.New(`body must be {"profile": "NAME", "code": "123456"}`))
			return
		}
		res, err := b.MFA(r.Context(), in.Profile, in.Code)
		if err != nil {
			fail(w, http.StatusUnprocessableEntity, err)
			return
		}
		writeJSON(w, 200, res)
	})
	mux.HandleFunc("GET /v1/creds", func(w http.ResponseWriter, r *http.Request) {
		profile := r.URL.Query().Get("profile")
		c, err := b.Creds(r, profile)
		switch {
		case errors.Is(err, imds.ErrUnknownProfile):
			fail(w, 404, fmt.Errorf("profile %s is not served; serve it with `imdsd use %s` or add it to ecs.profiles", profile, profile))
			return
		case err != nil:
			fail(w, 503, err)
			return
		}
		writeJSON(w, 200, CredentialProcessOutput{Version: 1, AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken, Expiration: c.Expires.UTC().Format(time.RFC3339)})
	})
	// exec holds the request open for as long as the command runs: the
	// profile stays served until the CLI's connection closes, so a
	// command killed with SIGKILL releases it too.
	mux.HandleFunc("POST /v1/exec", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Profile string }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Profile == "" {
			fail(w, 400, errors.New(`body must be {"profile": "NAME"}`))
			return
		}
		sess, release, err := b.Exec(r.Context(), in.Profile)
		if err != nil {
			fail(w, http.StatusUnprocessableEntity, err)
			return
		}
		defer release()
		writeJSON(w, 200, sess)
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		<-r.Context().Done()
	})
	mux.HandleFunc("GET /v1/sessions", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, b.Sessions())
	})
	return mux
}
