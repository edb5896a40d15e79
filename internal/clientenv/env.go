// Package clientenv renders the settings that point an SDK, a CLI or a
// container at imdsd: shell exports, `docker run` flags and compose blocks
// (`imdsd env`).
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
}

// Render renders the settings that point a client at imdsd, from the config
// (and the ECS token file): users never copy tokens by hand.
func Render(cfg *config.Config, o Options) (string, error) {
	profile := o.Profile
	if profile == "" {
		profile = cfg.Profile
	}
	if profile != cfg.Profile && !slices.Contains(cfg.ECS.Profiles, profile) {
		return "", fmt.Errorf("profile %s is not served: add it to ecs.profiles in %s (or `imdsd use %s` to serve it on IMDS)", profile, cfg.DisplayPath(), profile)
	}
	token := func() (string, error) {
		tok, err := config.ReadTokenFile(cfg.ECS.TokenFile)
		if err != nil {
			return "", fmt.Errorf("reading the ECS token: %w (the daemon creates %s on first start)", err, cfg.ECS.TokenFile)
		}
		return tok, nil
	}
	if o.Docker || o.Compose {
		return dockerEnv(cfg, profile, o.Compose, token)
	}
	var b strings.Builder
	b.WriteString("# clients use these before any profile or keys in the environment\n")
	b.WriteString("unset AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_CONTAINER_CREDENTIALS_RELATIVE_URI\n")
	b.WriteString("export NO_PROXY=\"" + config.MetadataIMDSHost + "," + config.MetadataECSHost + ",127.0.0.1${NO_PROXY:+,$NO_PROXY}\"\n")
	if profile == cfg.Profile {
		if a, ok := pickListen(cfg.IMDS.Listen); ok {
			// The trailing slash matters to botocore 1.29 and CLI 2.9.
			b.WriteString("unset AWS_CONTAINER_CREDENTIALS_FULL_URI\n")
			b.WriteString("export AWS_EC2_METADATA_SERVICE_ENDPOINT=http://" + a + "/\n")
			return b.String(), nil
		}
	}
	a, ok := pickListen(cfg.ECS.Listen)
	if !ok {
		return "", errors.New("neither endpoint listens on an address this host can use; check imds.listen and ecs.listen")
	}
	b.WriteString("unset AWS_EC2_METADATA_SERVICE_ENDPOINT\n")
	b.WriteString("export AWS_CONTAINER_CREDENTIALS_FULL_URI=http://" + a + "/role/" + profile + "\n")
	b.WriteString("export AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=" + config.ShellQuote(cfg.ECS.TokenFile) + "\n")
	b.WriteString("# clients too old for the token file (botocore < 1.32, CLI < 2.15) need instead:\n")
	b.WriteString("# export AWS_CONTAINER_AUTHORIZATION_TOKEN=\"$(cat " + config.ShellQuote(cfg.ECS.TokenFile) + ")\"\n")
	return b.String(), nil
}

func dockerEnv(cfg *config.Config, profile string, compose bool, token func() (string, error)) (string, error) {
	ecsLinkLocal := slices.ContainsFunc(cfg.ECS.Listen, func(a string) bool { return a == config.MetadataECSHost+":80" })
	imdsLinkLocal := slices.ContainsFunc(cfg.IMDS.Listen, func(a string) bool { return a == config.MetadataIMDSHost+":80" })
	switch {
	case ecsLinkLocal:
		tok, err := token()
		if err != nil {
			return "", err
		}
		vars := [][2]string{{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/role/" + profile}, {"AWS_CONTAINER_AUTHORIZATION_TOKEN", tok}}
		if compose {
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
	case imdsLinkLocal && profile == cfg.Profile:
		// The SDKs' default chain finds 169.254.169.254 by itself.
		if compose {
			return "environment: {}  # containers reach IMDS at " + config.MetadataIMDSHost + " with no settings\n", nil
		}
		return "\n", nil
	}
	return "", fmt.Errorf("containers cannot reach imdsd: it listens on loopback only. Install it as a service (`imdsd service install`) so it serves %s and %s, or, on Docker Desktop, colima or OrbStack, run the relay (see docs/docker.md)", config.MetadataIMDSHost, config.MetadataECSHost)
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
