// Package clientenv renders the settings that point an SDK, a CLI or a
// container at imdsd: shell exports (sh, fish, PowerShell), `docker run`
// flags and compose blocks (`imdsd env`).
package clientenv

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/imdsd/imdsd/config"
)

// Options choose what `imdsd env` prints.
type Options struct {
	Profile string // "" = the profile IMDS serves
	Docker  bool   // flags for `docker run` instead of shell exports
	Compose bool   // a compose `environment:` block (implies Docker)
	// Shell is the syntax of the exports: "sh" (also "", "bash", "zsh"),
	// "fish" or "powershell" ("pwsh"). Not used with Docker or Compose.
	Shell string
	// Region, when set, is exported as AWS_REGION and AWS_DEFAULT_REGION,
	// as `aws-vault exec` does: boto3 and CLI v1 find no region otherwise.
	// The caller resolves it (imdsd's region setting, else the served
	// profile's), so rendering reads no AWS files.
	Region string
}

// ServedProfile is the profile o points clients at.
func ServedProfile(cfg *config.Config, o Options) string {
	if o.Profile != "" {
		return o.Profile
	}
	return cfg.Profile
}

// target is where clients are sent.
type target struct {
	profile string
	imds    bool   // the IMDS endpoint; else ECS
	addr    string // host:port clients connect to
}

// choose picks the endpoint the output points clients at.
func choose(cfg *config.Config, o Options) (target, error) {
	profile := ServedProfile(cfg, o)
	if profile != cfg.Profile && !slices.Contains(cfg.ECS.Profiles, profile) {
		return target{}, fmt.Errorf("profile %s is not served: add it to ecs.profiles in %s (or `imdsd use %s` to serve it on IMDS)", profile, cfg.DisplayPath(), profile)
	}
	if o.Docker || o.Compose {
		ecs := config.MetadataECSHost + ":80"
		imds := config.MetadataIMDSHost + ":80"
		switch {
		case slices.Contains(cfg.ECS.Listen, ecs):
			return target{profile: profile, addr: ecs}, nil
		case slices.Contains(cfg.IMDS.Listen, imds) && profile == cfg.Profile:
			return target{profile: profile, imds: true, addr: imds}, nil
		}
		return target{}, fmt.Errorf("containers cannot reach imdsd: it listens on loopback only. Install it as a service (`imdsd service install`) so it serves %s and %s, or, on Docker Desktop, colima or OrbStack, run the relay (see docs/docker.md)", config.MetadataIMDSHost, config.MetadataECSHost)
	}
	if profile == cfg.Profile {
		if a, ok := pickListen(cfg.IMDS.Listen); ok {
			return target{profile: profile, imds: true, addr: a}, nil
		}
	}
	a, ok := pickListen(cfg.ECS.Listen)
	if !ok {
		return target{}, errors.New("neither endpoint listens on an address this host can use; check imds.listen and ecs.listen")
	}
	return target{profile: profile, addr: a}, nil
}

// Endpoint returns the address (host:port) that Render's output sends
// clients to, for checking that something answers there. Its errors are
// Render's.
func Endpoint(cfg *config.Config, o Options) (string, error) {
	if !o.Docker && !o.Compose {
		if _, err := shellFor(o.Shell); err != nil {
			return "", err
		}
	}
	t, err := choose(cfg, o)
	return t.addr, err
}

// Render renders the settings that point a client at imdsd, from the config
// (and the ECS token file): users never copy tokens by hand.
func Render(cfg *config.Config, o Options) (string, error) {
	var sh shell
	if !o.Docker && !o.Compose {
		var err error
		if sh, err = shellFor(o.Shell); err != nil {
			return "", err
		}
	}
	t, err := choose(cfg, o)
	if err != nil {
		return "", err
	}
	if o.Docker || o.Compose {
		return dockerEnv(cfg, t, o)
	}
	var b strings.Builder
	b.WriteString("# clients use these before any profile or keys in the environment\n")
	sh.unset(&b, "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
	sh.prependList(&b, "NO_PROXY", config.MetadataIMDSHost+","+config.MetadataECSHost+",127.0.0.1")
	if t.imds {
		// The trailing slash matters to botocore 1.29 and CLI 2.9.
		sh.unset(&b, "AWS_CONTAINER_CREDENTIALS_FULL_URI")
		sh.set(&b, "AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://"+t.addr+"/")
	} else {
		sh.unset(&b, "AWS_EC2_METADATA_SERVICE_ENDPOINT")
		sh.set(&b, "AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://"+t.addr+"/role/"+t.profile)
		sh.set(&b, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", cfg.ECS.TokenFile)
	}
	if o.Region != "" {
		sh.set(&b, "AWS_REGION", o.Region)
		sh.set(&b, "AWS_DEFAULT_REGION", o.Region)
	}
	if !t.imds {
		b.WriteString("# clients too old for the token file (botocore < 1.32, CLI < 2.15) need instead:\n")
		b.WriteString("# " + sh.setFromFile("AWS_CONTAINER_AUTHORIZATION_TOKEN", cfg.ECS.TokenFile) + "\n")
	}
	return b.String(), nil
}

func dockerEnv(cfg *config.Config, t target, o Options) (string, error) {
	var vars [][2]string
	if !t.imds {
		tok, err := config.ReadTokenFile(cfg.ECS.TokenFile)
		if err != nil {
			return "", fmt.Errorf("reading the ECS token: %w (the daemon creates %s on first start)", err, cfg.ECS.TokenFile)
		}
		vars = append(vars, [2]string{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/role/" + t.profile}, [2]string{"AWS_CONTAINER_AUTHORIZATION_TOKEN", tok})
	}
	if o.Region != "" {
		vars = append(vars, [2]string{"AWS_REGION", o.Region}, [2]string{"AWS_DEFAULT_REGION", o.Region})
	}
	if o.Compose {
		if len(vars) == 0 {
			// The SDKs' default chain finds 169.254.169.254 by itself.
			return "environment: {}  # containers reach IMDS at " + config.MetadataIMDSHost + " with no settings\n", nil
		}
		var b strings.Builder
		b.WriteString("environment:\n")
		for _, v := range vars {
			b.WriteString("  " + v[0] + ": " + strconv.Quote(v[1]) + "\n")
		}
		return b.String(), nil
	}
	var parts []string
	for _, v := range vars {
		parts = append(parts, "-e "+v[0]+"="+v[1])
	}
	return strings.Join(parts, " ") + "\n", nil
}

// pickListen prefers a loopback listen address, which every SDK accepts
// over plain http; unspecified addresses are reached through 127.0.0.1.
func pickListen(list []string) (string, bool) {
	var fallback string
	for _, a := range list {
		host, port, err := net.SplitHostPort(a)
		if err != nil || port == "0" {
			continue
		}
		if host == "localhost" {
			return net.JoinHostPort("127.0.0.1", port), true
		}
		ip, err := netip.ParseAddr(host)
		switch {
		case err != nil:
		case ip.IsLoopback():
			return a, true
		case ip.IsUnspecified():
			return net.JoinHostPort("127.0.0.1", port), true
		case fallback == "" && (host == config.MetadataIMDSHost || host == config.MetadataECSHost):
			fallback = a
		}
	}
	return fallback, fallback != ""
}
