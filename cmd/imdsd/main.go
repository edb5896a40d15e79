// Command imdsd serves short-lived AWS credentials to local SDKs, CLIs and
// containers by emulating EC2 IMDS and the ECS credentials endpoint. This
// file only wires packages: the logic lives in daemon, imds and config.
package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/imdsd/imdsd/daemon"
	"github.com/imdsd/imdsd/internal/ssosession"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if err := newRoot().Execute(); err != nil {
		var code exitCode
		if errors.As(err, &code) {
			os.Exit(int(code))
		}
		fmt.Fprintln(os.Stderr, "imdsd:", err)
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "imdsd",
		Short:         "Local EC2 metadata and ECS credentials endpoints for AWS SDKs",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	// Every command, in one list (help sorts them by name).
	root.AddCommand(
		newServe(),
		newStatus(), newUse(), newMFA(), newLock(), newUnlock(), newRevoke(), newCreds(), newSessions(), newReload(), newRefresh(),
		newProfiles(), newKeys(), newExec(), newEnv(), newRelay(), newLogin(), newSSO(),
		newServiceCmd(),
		newVersion(),
	)
	// Shell completion offers profile names wherever a profile is named.
	for _, c := range root.Commands() {
		switch c.Name() {
		case "use":
			c.ValidArgsFunction = completeProfiles
		case "exec":
			c.ValidArgsFunction = func(cmd *cobra.Command, args []string, s string) ([]string, cobra.ShellCompDirective) {
				if len(args) == 0 {
					return completeProfiles(cmd, args, s)
				}
				return nil, cobra.ShellCompDirectiveDefault // the command and its arguments
			}
		}
		if c.Flags().Lookup("profile") != nil {
			c.RegisterFlagCompletionFunc("profile", completeProfiles)
		}
	}
	return root
}

func newServe() *cobra.Command {
	var (
		cfgPath  string
		demo     bool
		logLevel string
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the daemon in the foreground",
		Long: `Run the daemon in the foreground, logging to stderr.

Without --config, the config is read from $XDG_CONFIG_HOME/imdsd/config.toml
(else ~/.config/imdsd/config.toml); a missing file means defaults. With --demo
no AWS account is needed: generated dummy credentials are served.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			daemon.TuneGC()
			level := new(slog.LevelVar)
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			d, err := daemon.New(daemon.Options{ConfigPath: cfgPath, Demo: demo, Logger: log, LogLevel: level, LogLevelFlag: logLevel, Notify: ssosession.Desktop})
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return d.Run(ctx)
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "config file (default $IMDSD_CONFIG, else $XDG_CONFIG_HOME/imdsd/config.toml)")
	cmd.Flags().BoolVar(&demo, "demo", false, "serve generated dummy credentials; needs no AWS account")
	cmd.Flags().StringVar(&logLevel, "log-level", "", "debug, info, warn or error (overrides log_level in the config)")
	return cmd
}

func newVersion() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print imdsd's version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Printf("imdsd %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		},
	}
}
