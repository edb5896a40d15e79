// Package relay is `imdsd relay`: an ECS endpoint inside a docker network
// that forwards containers' credential requests to the host daemon, adding
// its token, for Docker Desktop, colima and OrbStack.
package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"github.com/imdsd/imdsd/config"
	"github.com/imdsd/imdsd/imds"
)

// Options configure `imdsd relay`.
type Options struct {
	// Listen is where containers find the ECS endpoint, normally
	// 169.254.170.2:80 on a docker network with subnet 169.254.170.0/24.
	Listen string
	// Upstream is the host daemon's ECS endpoint, e.g.
	// http://host.docker.internal:9912.
	Upstream string
	// Token is the host daemon's ECS token; the relay adds it, so the
	// containers need only AWS_CONTAINER_CREDENTIALS_RELATIVE_URI.
	Token  string
	Logger *slog.Logger
}

// Run forwards the ECS credential requests of containers to the host
// daemon, for Docker Desktop, colima and OrbStack, whose containers cannot
// reach the host's link-local addresses.
func Run(ctx context.Context, o Options) error {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	up, err := url.Parse(o.Upstream)
	if err != nil || up.Scheme != "http" && up.Scheme != "https" || up.Host == "" {
		return fmt.Errorf("--upstream %q: give the host daemon's ECS endpoint, e.g. http://host.docker.internal:9912", o.Upstream)
	}
	if o.Token == "" {
		return errors.New("the host daemon's ECS token is needed: --token-file (mount the host's ~/.config/imdsd/ecs-token) or $IMDSD_ECS_TOKEN")
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(up)
			r.Out.Header.Set("Authorization", o.Token)
			// The host daemon accepts metadata host names; the upstream
			// name (host.docker.internal) would look like DNS rebinding.
			r.Out.Host = config.MetadataECSHost
			r.Out.Header.Del("X-Forwarded-For")
		},
		Transport: &http.Transport{DialContext: (&net.Dialer{Timeout: 2 * time.Second}).DialContext, ResponseHeaderTimeout: 10 * time.Second},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			o.Logger.Error("relay: the host daemon did not answer", "upstream", o.Upstream, "err", err)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadGateway)
			fmt.Fprintf(w, `{"code":"RelayError","message":%q,"Code":"RelayError","Message":%q}`, "imdsd relay cannot reach the host daemon at "+o.Upstream, "imdsd relay cannot reach the host daemon at "+o.Upstream)
		},
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			w.Write([]byte("ok"))
			return
		}
		if r.Method != http.MethodGet || !(r.URL.Path == "/creds" || strings.HasPrefix(r.URL.Path, "/role/")) {
			http.NotFound(w, r)
			return
		}
		o.Logger.Info("relay", "client", r.RemoteAddr, "path", r.URL.Path)
		proxy.ServeHTTP(w, r)
	})
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("--listen %q: %w", o.Listen, err)
	}
	srv := imds.NewServer(h, o.Logger)
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	o.Logger.Info("relay serving", "listen", ln.Addr().String(), "upstream", o.Upstream)
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
