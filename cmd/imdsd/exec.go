package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/imdsd/imdsd/internal/clientenv"
)

func newExec() *cobra.Command {
	var f socketFlags
	cmd := &cobra.Command{
		Use:   "exec PROFILE -- COMMAND [ARGS...]",
		Short: "Run a command with a profile's credentials from the running daemon, kept fresh while it runs",
		Long: `Run COMMAND with PROFILE's credentials, served by the running daemon on its
ECS endpoint for as long as the command runs (any profile of the AWS files,
whether or not the config serves it). The command gets the endpoint, its token
and the profile's region in AWS_CONTAINER_CREDENTIALS_FULL_URI,
AWS_CONTAINER_AUTHORIZATION_TOKEN and AWS_REGION; AWS_* variables that would
take precedence are removed. SDKs refresh from the endpoint, so a long command
never runs out of credentials. The exit code is the command's.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 || cmd.ArgsLenAtDash() != 1 {
				return errors.New("usage: imdsd exec PROFILE -- COMMAND [ARGS...]")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			profile, argv := args[0], args[1:]
			path, err := exec.LookPath(argv[0])
			if err != nil {
				return err
			}
			stop := progress("fetching credentials for " + profile)
			sess, hold, err := f.client().Exec(cmd.Context(), profile)
			stop()
			if err != nil {
				return err
			}
			defer hold.Close() // the daemon stops serving the profile
			child := exec.Command(path, argv[1:]...)
			child.Args[0] = argv[0]
			child.Stdin, child.Stdout, child.Stderr = os.Stdin, os.Stdout, os.Stderr
			child.Env = clientenv.ExecEnv(os.Environ(), sess.Profile, sess.URL, sess.Token, sess.Region)
			// The command's signals are its own: forward them, and let it
			// decide when to end.
			sigs := make(chan os.Signal, 4)
			signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
			defer signal.Stop(sigs)
			if err := child.Start(); err != nil {
				return err
			}
			go func() {
				for s := range sigs {
					child.Process.Signal(s)
				}
			}()
			err = child.Wait()
			var ee *exec.ExitError
			switch {
			case errors.As(err, &ee) && ee.ExitCode() >= 0:
				return exitCode(ee.ExitCode())
			case errors.As(err, &ee):
				return exitCode(128 + signalNumber(ee))
			case err != nil:
				return fmt.Errorf("running %s: %w", argv[0], err)
			}
			return nil
		},
	}
	f.add(cmd)
	return cmd
}
