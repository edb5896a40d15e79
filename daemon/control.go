package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/imdsd/imdsd/imds"
)

// The control API: HTTP over a unix socket that only the daemon's user can
// open (0600 in a 0700 directory), and whose peer uid is checked where the
// OS tells it. The CLI's status, mfa, use, lock, unlock, creds and sessions
// commands are its clients.

type controlServer struct {
	path string
	ln   net.Listener
	srv  *http.Server
}

func (d *Daemon) startControl() (*controlServer, error) {
	path := d.cfg.ControlSocket
	if path == "" {
		d.log.Warn("no control socket: the home directory is unknown; set control_socket in the config")
		return &controlServer{}, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("control_socket %s: %w", path, err)
	}
	if fi, err := os.Stat(filepath.Dir(path)); err == nil && fi.Mode().Perm()&0o022 != 0 {
		return nil, fmt.Errorf("control_socket %s: its directory is writable by other users, who could replace the socket; chmod go-w %s or choose another path", path, filepath.Dir(path))
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
	cs := &controlServer{path: path, ln: &peerCheckListener{Listener: ln, log: d.log}}
	cs.srv = &http.Server{Handler: d.controlHandler(), ReadHeaderTimeout: 5 * time.Second}
	go cs.srv.Serve(cs.ln)
	d.log.Info("control socket ready", "path", path)
	return cs, nil
}

func (cs *controlServer) close() {
	if cs.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	cs.srv.Shutdown(ctx)
	os.Remove(cs.path)
}

// peerCheckListener drops connections from other users before any byte is
// read: the file mode already keeps them out, this holds even if someone
// loosens it.
type peerCheckListener struct {
	net.Listener
	log interface {
		Warn(msg string, args ...any)
	}
}

func (l *peerCheckListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		uid, err := peerUID(c)
		if err == nil && (uid < 0 || uid == os.Geteuid() || uid == 0) {
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

// CredentialProcessOutput is the credential_process JSON format.
type CredentialProcessOutput struct {
	Version         int    `json:"Version"`
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
	SessionToken    string `json:"SessionToken"`
	Expiration      string `json:"Expiration"`
}

// MFAResult answers `imdsd mfa`.
type MFAResult struct {
	Profile     string    `json:"profile"`
	MFAExpires  time.Time `json:"mfa_expires"`
	AccessKeyID string    `json:"access_key_id,omitempty"`
	Expires     time.Time `json:"expires,omitzero"`
}

func (d *Daemon) controlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, d.Status())
	})
	mux.HandleFunc("POST /v1/reload", func(w http.ResponseWriter, r *http.Request) {
		if err := d.Reload(); err != nil {
			fail(w, http.StatusUnprocessableEntity, err)
			return
		}
		writeJSON(w, 200, d.Status())
	})
	mux.HandleFunc("POST /v1/refresh", func(w http.ResponseWriter, r *http.Request) {
		d.refreshAll()
		writeJSON(w, 200, struct{}{})
	})
	mux.HandleFunc("POST /v1/lock", func(w http.ResponseWriter, r *http.Request) {
		d.Lock()
		writeJSON(w, 200, d.Status())
	})
	mux.HandleFunc("POST /v1/unlock", func(w http.ResponseWriter, r *http.Request) {
		if err := d.Unlock(); err != nil {
			fail(w, http.StatusUnprocessableEntity, err)
			return
		}
		writeJSON(w, 200, d.Status())
	})
	mux.HandleFunc("POST /v1/use", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Profile string }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Profile == "" {
			fail(w, 400, errors.New(`body must be {"profile": "NAME"}`))
			return
		}
		if err := d.Use(in.Profile); err != nil {
			fail(w, http.StatusUnprocessableEntity, err)
			return
		}
		writeJSON(w, 200, d.Status())
	})
	mux.HandleFunc("POST /v1/mfa", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Profile, Code string }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			fail(w, 400, errors.New(`body must be {"profile": "NAME", "code": "123456"}`))
			return
		}
		res, err := d.MFA(r.Context(), in.Profile, in.Code)
		if err != nil {
			fail(w, http.StatusUnprocessableEntity, err)
			return
		}
		writeJSON(w, 200, res)
	})
	mux.HandleFunc("GET /v1/creds", func(w http.ResponseWriter, r *http.Request) {
		profile := r.URL.Query().Get("profile")
		if profile == "" {
			profile = d.currentProfile()
		}
		now := time.Now()
		c, err := d.Credentials(r.Context(), profile, now)
		switch {
		case errors.Is(err, imds.ErrUnknownProfile):
			fail(w, 404, fmt.Errorf("profile %s is not served; serve it with `imdsd use %s` or add it to ecs.profiles", profile, profile))
			return
		case err != nil:
			fail(w, 503, err)
			return
		}
		d.audit.vend("control")(r, profile, c, now)
		writeJSON(w, 200, CredentialProcessOutput{Version: 1, AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken, Expiration: c.Expires.UTC().Format(time.RFC3339)})
	})
	mux.HandleFunc("GET /v1/sessions", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, d.audit.sessions())
	})
	return mux
}

func (d *Daemon) currentProfile() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg.Profile
}

// MFA starts an MFA session for a profile with a code, then has its broker
// fetch with it and waits (briefly) for the result.
func (d *Daemon) MFA(ctx context.Context, profile, code string) (MFAResult, error) {
	if profile == "" {
		profile = d.currentProfile()
	}
	if d.locked.Load() {
		return MFAResult{}, errors.New("imdsd is locked; run `imdsd unlock` first")
	}
	b := (*d.brokers.Load())[profile]
	switch {
	case b == nil:
		return MFAResult{}, fmt.Errorf("profile %s is not served", profile)
	case b.up == nil || b.up.p.MFASerial == "":
		return MFAResult{}, fmt.Errorf("profile %s has no mfa_serial; nothing to do", profile)
	}
	exp, err := d.mfa.login(ctx, b.up, code)
	if err != nil {
		return MFAResult{}, errors.New(explain(err))
	}
	res := MFAResult{Profile: profile, MFAExpires: exp}
	start := time.Now()
	b.refreshNow()
	// Wait for the broker to use the session, so the user learns at once
	// whether the role can be assumed with it.
	for time.Since(start) < 15*time.Second {
		var st ProfileStatus
		if b.fillStatus(&st); st.LastRefresh.After(start) {
			if st.LastError != "" {
				return res, fmt.Errorf("MFA session started, but fetching credentials with it failed: %s", st.LastError)
			}
			res.AccessKeyID, res.Expires = st.AccessKeyID, st.Expires
			return res, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return res, nil
}
