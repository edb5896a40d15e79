package service

import (
	"path/filepath"
	"strings"

	"github.com/BurntSushi/toml"
)

// SystemConfig is the config the system service starts with: the metadata
// addresses SDKs use with no settings at all, plus the loopback ports of a
// user-mode imdsd. The packages install the same text (packaging/
// config.toml, checked by a test) as /etc/imdsd/config.toml.
const SystemConfig = `# imdsd system service config: /etc/imdsd/config.toml
# Reference: https://github.com/imdsd/imdsd#config-reference
#
# The service runs as the AWS user named at install
# (sudo imdsd service install --aws-user USER) and serves the profiles of
# that user's ~/.aws/config. While it runs, imdsd adds 169.254.169.254/32
# and 169.254.170.2/32 to the loopback interface (and removes them when it
# stops), so SDKs on this machine find it where they find EC2 and ECS.

# profile = "default"        # served on IMDS and at ECS /creds; default "default"
# region = ""                # default: the profile's region

[imds]
# The default SDK credential chain asks 169.254.169.254: no settings needed.
listen = ["169.254.169.254:80", "127.0.0.1:9911"]
tokens = "required"          # IMDSv2 only
# Local processes and containers on docker bridges are accepted; add
# other client ranges with allow = ["CIDR", ...].

[ecs]
# Clients set AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/creds (or
# /role/<profile> for a profile in ecs.profiles) and
# AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=<the token file below>.
listen = ["169.254.170.2:80", "127.0.0.1:9912"]
# "~" is the AWS user's home. The service creates it (mode 0600, readable
# by the AWS user only) on first start.
token_file = "~/.config/imdsd/ecs-token"
# profiles = ["ops"]         # also served at /role/<profile>
`

// loopbackSystemConfig is the service config where imdsd cannot add the
// metadata addresses (Windows): the loopback defaults.
const loopbackSystemConfig = `# imdsd service config
# Reference: https://github.com/imdsd/imdsd#config-reference
#
# Clients: AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:9911/
# or AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:9912/creds with
# AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=<token_file>.

[imds]
listen = ["127.0.0.1:9911"]
tokens = "required"

[ecs]
listen = ["127.0.0.1:9912"]
token_file = "~/.config/imdsd/ecs-token"
`

// tokenFileFor is where the daemon, running with HOME=home, keeps the ECS
// token of the config in data. config.Parse expands "~" for whoever parses,
// which at install time is root, so the raw value is read here.
func tokenFileFor(data []byte, home string) string {
	var raw struct {
		ECS struct {
			TokenFile string `toml:"token_file"`
		} `toml:"ecs"`
	}
	_, _ = toml.Decode(strings.TrimPrefix(string(data), "\ufeff"), &raw) // validated by config.Load
	p := raw.ECS.TokenFile
	switch {
	case p == "":
		return filepath.Join(home, ".config", "imdsd", "ecs-token")
	case p == "~":
		return home
	case strings.HasPrefix(p, "~/"), strings.HasPrefix(p, `~\`):
		return filepath.Join(home, p[2:])
	}
	return filepath.Clean(p)
}
