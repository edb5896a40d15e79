package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/imdsd/imdsd/daemon"
	"github.com/imdsd/imdsd/internal/service"
	"github.com/imdsd/imdsd/internal/ssosession"
)

func newServiceCmd() *cobra.Command {
	var o service.Options
	cmd := &cobra.Command{
		Use:   "service",
		Short: "Install and control imdsd as a system service",
		Long: `Install and control imdsd as a service of the platform's service manager:
systemd (a system unit, or a user unit with --user), launchd (a LaunchDaemon,
or a LaunchAgent with --user) or the Windows service manager.

The system service runs "imdsd serve --config /etc/imdsd/config.toml" as the
user named with --aws-user (whose ~/.aws it serves), restarts on failure and
logs to the platform's log (the journal under systemd). Its default config
serves IMDS on 169.254.169.254:80 and ECS on 169.254.170.2:80, where SDKs look
without any settings; imdsd adds those addresses to the loopback interface
while it runs. See docs/service.md.`,
	}
	cmd.PersistentFlags().BoolVar(&o.User, "user", false, "the per-user service (systemd --user unit, launchd LaunchAgent) instead of the system one")

	install := &cobra.Command{
		Use:   "install",
		Short: "Install the service and enable it at boot (does not start it)",
		Example: `  sudo imdsd service install --aws-user alice
  sudo imdsd service start
  imdsd service install --user && imdsd service start --user`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Out = cmd.OutOrStdout()
			return service.Install(o)
		},
	}
	install.Flags().StringVarP(&o.ConfigPath, "config", "c", "", "config file the service runs with (default /etc/imdsd/config.toml, written with the system defaults if missing; a --user service: the user's default config)")
	install.Flags().StringVar(&o.AWSUser, "aws-user", "", "user the system service runs as and whose ~/.aws it serves (default $SUDO_USER)")
	install.Flags().StringVar(&o.Executable, "executable", "", "imdsd binary the service runs (default this one)")

	uninstall := &cobra.Command{
		Use:   "uninstall",
		Short: "Stop and remove the service, and the link-local addresses it added",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Out = cmd.OutOrStdout()
			return service.Uninstall(o)
		},
	}

	control := func(action, short string) *cobra.Command {
		return &cobra.Command{
			Use:   action,
			Short: short,
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				o.Out = cmd.OutOrStdout()
				return service.Control(o, action)
			},
		}
	}

	status := &cobra.Command{
		Use:   "status",
		Short: "Say whether the service is installed and running, and where it listens",
		Long: `Say whether the service is installed and running, and list the listeners of
its config, probing each while it runs. Exit status: 0 running, 3 stopped or
failed, 4 not installed (as LSB init scripts do).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := service.GetStatus(o)
			if err != nil {
				return err
			}
			printServiceStatus(cmd.OutOrStdout(), st)
			switch st.State {
			case service.Running:
				return nil
			case service.NotInstalled, service.Unconfigured:
				os.Exit(4)
			}
			os.Exit(3)
			return nil
		},
	}
	status.Flags().StringVarP(&o.ConfigPath, "config", "c", "", "config to read the listeners from (default the one in the installed unit)")

	// run is what the Windows service manager starts: serve with the
	// service handshake.
	var logLevel string
	runCmd := &cobra.Command{
		Use:    "run",
		Short:  "Run the daemon under the service manager (used by the Windows service)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			level := new(slog.LevelVar)
			return service.Run(nil, level, func(ctx context.Context, log *slog.Logger) error {
				d, err := daemon.New(daemon.Options{ConfigPath: o.ConfigPath, Logger: log, LogLevel: level, LogLevelFlag: logLevel, Notify: ssosession.Desktop})
				if err != nil {
					return err
				}
				return d.Run(ctx)
			})
		},
	}
	runCmd.Flags().StringVarP(&o.ConfigPath, "config", "c", "", "config file")
	runCmd.Flags().StringVar(&logLevel, "log-level", "", "debug, info, warn or error")

	cmd.AddCommand(install, uninstall,
		control("start", "Start the service and wait until it answers"),
		control("stop", "Stop the service"),
		control("restart", "Restart the service and wait until it answers"),
		status, runCmd)
	return cmd
}

func printServiceStatus(w io.Writer, st *service.Status) {
	fmt.Fprintf(w, "imdsd %s service (%s): %s\n", st.Scope, st.Platform, st.State)
	switch st.State {
	case service.NotInstalled:
		return
	case service.Unconfigured:
		fmt.Fprintln(w, "  the package's unit has no AWS user yet: sudo imdsd service install --aws-user USER")
	}
	if len(st.Files) > 0 {
		fmt.Fprintf(w, "  files:   %s\n", strings.Join(st.Files, ", "))
	}
	if st.AWSUser != "" {
		fmt.Fprintf(w, "  user:    %s\n", st.AWSUser)
	}
	cfg := st.ConfigPath
	if cfg == "" {
		cfg = "(the user's default config)"
	}
	fmt.Fprintf(w, "  config:  %s\n", cfg)
	if st.ConfigErr != nil {
		fmt.Fprintf(w, "  config error: %v\n", st.ConfigErr)
	}
	for _, l := range st.Listeners {
		state := ""
		switch {
		case st.State != service.Running:
		case l.Answering:
			state = "  (answering)"
		default:
			state = "  (NOT answering)"
		}
		fmt.Fprintf(w, "  %-5s    %s%s\n", l.Face+":", l.URL, state)
	}
}
