package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/imdsd/imdsd/config"
	"github.com/imdsd/imdsd/internal/clientenv"
	"github.com/imdsd/imdsd/internal/relay"
)

func newEnv() *cobra.Command {
	var cfgPath string
	var o clientenv.Options
	cmd := &cobra.Command{
		Use:   "env",
		Short: "Print the settings that point clients at imdsd (shell exports, or docker flags)",
		Long: `Print the settings that point clients at imdsd: the endpoint, the ECS token
file, and AWS_REGION/AWS_DEFAULT_REGION from imdsd's region setting or the
served profile's region. It warns on stderr when nothing answers at the
endpoint yet; the exports are printed either way.`,
		Example: `  eval "$(imdsd env)"                      # this shell's SDKs use IMDS
  eval "$(imdsd env --profile ops)"        # ... or another served profile over ECS
  imdsd env --shell fish | source
  imdsd env --shell powershell | Out-String | Invoke-Expression
  docker run $(imdsd env --docker --profile ops) IMAGE
  imdsd env --compose --profile ops        # an environment: block for compose`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("shell") && (o.Docker || o.Compose) {
				return errors.New("--shell sets the syntax of shell exports, and --docker and --compose print none: leave one of them out")
			}
			cfg, err := config.Load(cfgPath)
			if err != nil {
				return err
			}
			addr, err := clientenv.Endpoint(cfg, o)
			if err != nil {
				return err
			}
			warn := func(format string, args ...any) {
				fmt.Fprintf(cmd.ErrOrStderr(), "imdsd env: warning: "+format+"\n", args...)
			}
			o.Region = envRegion(cmd.Context(), cfg, clientenv.ServedProfile(cfg, o), warn)
			out, err := clientenv.Render(cfg, o)
			if err != nil {
				return err
			}
			fmt.Print(out)
			if !answers(addr) {
				warn("nothing answers at %s; start the daemon with \"imdsd serve\" or \"imdsd service start\"", addr)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "config file (default $IMDSD_CONFIG, else $XDG_CONFIG_HOME/imdsd/config.toml)")
	cmd.Flags().StringVarP(&o.Profile, "profile", "p", "", "served profile (default: the one IMDS serves)")
	cmd.Flags().StringVar(&o.Shell, "shell", "sh", "syntax of the exports: sh (for bash and zsh too), fish or powershell")
	cmd.Flags().BoolVar(&o.Docker, "docker", false, "print -e flags for docker run instead of exports")
	cmd.Flags().BoolVar(&o.Compose, "compose", false, "print an environment: block for docker compose instead of exports")
	return cmd
}

// envRegion is the region clients are given: imdsd's region setting, else
// the served profile's. Without one, boto3 and CLI v1 stop at "You must
// specify a region", so its absence is a warning unless the environment
// has one already.
func envRegion(ctx context.Context, cfg *config.Config, profile string, warn func(string, ...any)) string {
	if cfg.Region != "" {
		return cfg.Region
	}
	p, err := config.ResolveProfile(ctx, config.DefaultAWSFiles(), profile)
	if err != nil {
		warn("AWS_REGION not set: %v", err)
		return ""
	}
	if p.Region == "" && os.Getenv("AWS_REGION") == "" && os.Getenv("AWS_DEFAULT_REGION") == "" {
		section := "[profile " + profile + "]"
		if profile == "default" {
			section = "[default]"
		}
		own := cfg.Path
		if own == "" {
			own = config.DefaultPath()
		}
		warn("AWS_REGION not set: profile %s has no region; add region = <name> to %s in %s, or region = \"<name>\" to imdsd's config %s", profile, section, config.DefaultAWSFiles().Config[0], own)
	}
	return p.Region
}

// answers says whether something accepts connections at addr: the
// daemon, most likely. Loopback refuses at once; the timeout bounds
// addresses that drop packets.
func answers(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func newRelay() *cobra.Command {
	var o relay.Options
	var tokenFile string
	cmd := &cobra.Command{
		Use:   "relay",
		Short: "Forward containers' ECS credential requests to the host daemon (Docker Desktop, colima, OrbStack)",
		Long: `Run inside a container at 169.254.170.2 on a docker network with subnet
169.254.170.0/24; containers on that network set only
AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/role/<profile>. See docs/docker.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Token = os.Getenv("IMDSD_ECS_TOKEN")
			if tokenFile != "" {
				b, err := os.ReadFile(tokenFile)
				if err != nil {
					return fmt.Errorf("--token-file: %w", err)
				}
				o.Token = strings.TrimSpace(string(b))
			}
			o.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return relay.Run(ctx, o)
		},
	}
	cmd.Flags().StringVar(&o.Listen, "listen", "169.254.170.2:80", "address containers reach")
	cmd.Flags().StringVar(&o.Upstream, "upstream", "http://host.docker.internal:9912", "the host daemon's ECS endpoint")
	cmd.Flags().StringVar(&tokenFile, "token-file", "", "file with the host daemon's ECS token (else $IMDSD_ECS_TOKEN)")
	return cmd
}
