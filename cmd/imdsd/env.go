package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

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
		Example: `  eval "$(imdsd env)"                      # this shell's SDKs use IMDS
  eval "$(imdsd env --profile ops)"        # ... or another served profile over ECS
  docker run $(imdsd env --docker --profile ops) IMAGE
  imdsd env --compose --profile ops        # an environment: block for compose`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cfgPath)
			if err != nil {
				return err
			}
			out, err := clientenv.Render(cfg, o)
			if err != nil {
				return err
			}
			fmt.Print(out)
			return nil
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "config file (default $IMDSD_CONFIG, else $XDG_CONFIG_HOME/imdsd/config.toml)")
	cmd.Flags().StringVarP(&o.Profile, "profile", "p", "", "served profile (default: the one IMDS serves)")
	cmd.Flags().BoolVar(&o.Docker, "docker", false, "print `docker run` -e flags for containers")
	cmd.Flags().BoolVar(&o.Compose, "compose", false, "print a compose environment: block")
	return cmd
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
