package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/imdsd/imdsd/internal/control"
)

// The commands that talk to a running daemon over its control socket.

type socketFlags struct{ config, socket string }

func (f *socketFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&f.config, "config", "c", "", "config file naming the control socket (default $XDG_CONFIG_HOME/imdsd/config.toml)")
	cmd.Flags().StringVar(&f.socket, "socket", "", "control socket (default: control_socket from the config, or $IMDSD_SOCKET)")
}

func (f *socketFlags) client() *control.Client {
	if f.socket != "" {
		return control.NewClient(f.socket)
	}
	return control.NewClient(control.SocketFor(f.config))
}

func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newStatus() *cobra.Command {
	var f socketFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show what the running daemon serves: profiles, keys, expiry, errors, listeners",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := f.client().Status(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(st)
			}
			st.WriteText(os.Stdout, time.Now())
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newMFA() *cobra.Command {
	var f socketFlags
	var profile string
	cmd := &cobra.Command{
		Use:   "mfa [CODE]",
		Short: "Start an MFA session for a profile with mfa_serial (prompts for the code if not given)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			code := ""
			if len(args) == 1 {
				code = args[0]
			} else {
				fmt.Fprint(os.Stderr, "MFA code: ")
				line, err := bufio.NewReader(os.Stdin).ReadString('\n')
				if err != nil && line == "" {
					return fmt.Errorf("reading the MFA code: %w", err)
				}
				code = strings.TrimSpace(line)
			}
			res, err := f.client().MFA(cmd.Context(), profile, code)
			if err != nil {
				return err
			}
			fmt.Printf("MFA session for %s until %s (%s)\n", res.Profile, res.MFAExpires.Local().Format(time.RFC1123), time.Until(res.MFAExpires).Round(time.Minute))
			if res.AccessKeyID != "" {
				fmt.Printf("serving %s, expires in %s\n", res.AccessKeyID, time.Until(res.Expires).Round(time.Second))
			}
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().StringVarP(&profile, "profile", "p", "", "profile (default: the one IMDS serves)")
	return cmd
}

func newUse() *cobra.Command {
	var f socketFlags
	cmd := &cobra.Command{
		Use:   "use PROFILE",
		Short: "Switch the profile IMDS serves (saved in the config file)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := f.client().Use(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Printf("IMDS now serves %s\n", st.IMDSProfile)
			return nil
		},
	}
	f.add(cmd)
	return cmd
}

// simpleCmd is a command that makes one call and prints one line.
func simpleCmd(use, short, done string, call func(context.Context, *control.Client) error) func() *cobra.Command {
	return func() *cobra.Command {
		var f socketFlags
		cmd := &cobra.Command{
			Use:   use,
			Short: short,
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				if err := call(cmd.Context(), f.client()); err != nil {
					return err
				}
				fmt.Println(done)
				return nil
			},
		}
		f.add(cmd)
		return cmd
	}
}

var (
	newLock = simpleCmd("lock", "Drop every cached credential at once and refuse to serve until unlock",
		"locked: every credential was dropped from memory; clients get 503 until `imdsd unlock`",
		func(ctx context.Context, c *control.Client) error { _, err := c.Lock(ctx); return err })
	newUnlock = simpleCmd("unlock", "Serve again after lock (profiles fetch new credentials)", "unlocked",
		func(ctx context.Context, c *control.Client) error { _, err := c.Unlock(ctx); return err })
	newReload = simpleCmd("reload", "Re-read the config and AWS files now (as SIGHUP does)", "reloaded",
		func(ctx context.Context, c *control.Client) error { _, err := c.Reload(ctx); return err })
	newRefresh = simpleCmd("refresh", "Fetch new credentials for every profile now (cached ones keep serving meanwhile)", "refresh requested",
		func(ctx context.Context, c *control.Client) error { return c.Refresh(ctx) })
)

func newCreds() *cobra.Command {
	var f socketFlags
	var profile string
	cmd := &cobra.Command{
		Use:   "creds",
		Short: "Print credentials in the credential_process format (credential_process = imdsd creds --profile P)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, err := f.client().Creds(cmd.Context(), profile)
			if err != nil {
				return err
			}
			return json.NewEncoder(os.Stdout).Encode(out)
		},
	}
	f.add(cmd)
	cmd.Flags().StringVarP(&profile, "profile", "p", "", "profile (default: the one IMDS serves)")
	return cmd
}

func newSessions() *cobra.Command {
	var f socketFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "sessions",
		Short: "Who took which credentials recently, per profile",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cs, err := f.client().Sessions(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cs)
			}
			tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PROFILE\tVIA\tCONSUMER\tREQUESTS\tLAST\tACCESS KEY")
			for _, c := range cs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s ago\t%s\n", c.Profile, c.Face, c.Who, c.Requests, time.Since(c.Last).Round(time.Second), c.AccessKeyID)
			}
			return tw.Flush()
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
