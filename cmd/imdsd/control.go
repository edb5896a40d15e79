package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/imdsd/imdsd/internal/control"
)

// The commands that talk to a running daemon over its control socket.

type socketFlags struct{ config, socket string }

func (f *socketFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&f.config, "config", "c", "", "config file naming the control socket (default $IMDSD_CONFIG, else $XDG_CONFIG_HOME/imdsd/config.toml)")
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
	var asJSON, short, watch bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show what the running daemon serves: profiles, keys, expiry, errors, listeners (exit 1 when a profile has no valid credentials)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if watch {
				return watchStatus(cmd.Context(), f.client())
			}
			st, err := f.client().Status(cmd.Context())
			if err != nil {
				return err
			}
			now := time.Now()
			switch {
			case asJSON:
				if err := printJSON(st); err != nil {
					return err
				}
			case short:
				fmt.Println(st.Short(now))
			default:
				st.WriteText(os.Stdout, now)
			}
			// Scripts and shell prompts read the outcome from the code.
			if !st.Healthy(now) {
				return exitCode(1)
			}
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "redraw once a second, with the most recent consumers (Ctrl-C ends it)")
	cmd.Flags().BoolVar(&short, "short", false, "print one line (for shell prompts); the exit code is 1 when a served profile has no valid credentials")
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
			// The daemon bounds the exchange at 20 s; this is a backstop.
			ctx, cancel := context.WithTimeout(cmd.Context(), 25*time.Second)
			defer cancel()
			stop := progress("starting the MFA session with STS")
			res, err := f.client().MFA(ctx, profile, code)
			stop()
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
			// The daemon switches only once the profile has credentials;
			// bounded so a hung STS cannot hang the shell.
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			stop := progress("fetching credentials for " + args[0])
			st, err := f.client().Use(ctx, args[0])
			stop()
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
	newReload = simpleCmd("reload", "Re-read the config and AWS files now (as SIGHUP does)", "reloaded",
		func(ctx context.Context, c *control.Client) error { _, err := c.Reload(ctx); return err })
)

func newRefresh() *cobra.Command {
	var f socketFlags
	cmd := &cobra.Command{
		Use:   "refresh",
		Short: "Fetch new credentials for every profile now and report each outcome (cached ones keep serving meanwhile)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 40*time.Second)
			defer cancel()
			stop := progress("fetching new credentials")
			res, err := f.client().Refresh(ctx)
			stop()
			if err != nil {
				return err
			}
			failed := 0
			for _, r := range res {
				if r.Error != "" {
					failed++
					fmt.Printf("%s: FAILED: %s\n", r.Name, r.Error)
					continue
				}
				fmt.Printf("%s: %s, expires in %s\n", r.Name, r.AccessKeyID, time.Until(r.Expires).Round(time.Second))
			}
			if failed > 0 {
				return exitCode(1)
			}
			return nil
		},
	}
	f.add(cmd)
	return cmd
}

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
			return control.WriteSessions(os.Stdout, cs, time.Now())
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// exitCode ends the command with that code and no further message: what
// went wrong was printed already.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// progress says on stderr what is being waited for, once the wait passes
// 300 ms (a fast answer prints nothing); the returned func ends it.
func progress(what string) (stop func()) {
	done := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		t := time.NewTimer(300 * time.Millisecond)
		defer t.Stop()
		select {
		case <-done:
			return
		case <-t.C:
		}
		start := time.Now()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			fmt.Fprintf(os.Stderr, "\r%s... %ds ", what, int(time.Since(start).Seconds()))
			select {
			case <-done:
				fmt.Fprint(os.Stderr, "\r\033[K")
				return
			case <-tick.C:
			}
		}
	}()
	return func() { close(done); <-ended }
}

// watchStatus redraws the status in place once a second, for a terminal
// kept open beside the work.
func watchStatus(ctx context.Context, c *control.Client) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		st, err := c.Status(ctx)
		var b strings.Builder
		b.WriteString("\033[H\033[2J") // home, clear
		now := time.Now()
		if err != nil {
			fmt.Fprintf(&b, "%s  %v\n", now.Format(time.TimeOnly), err)
		} else {
			fmt.Fprintf(&b, "%s  (Ctrl-C to stop)\n", now.Format(time.TimeOnly))
			st.WriteText(&b, now)
			if cs, err := c.Sessions(ctx); err == nil && len(cs) > 0 {
				sort.Slice(cs, func(i, j int) bool { return cs[i].Last.After(cs[j].Last) })
				b.WriteString("\nRECENT CONSUMERS\n")
				tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
				for _, c := range cs[:min(len(cs), 8)] {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s ago\n", c.Profile, c.Face, c.Who, c.Requests, now.Sub(c.Last).Round(time.Second))
				}
				tw.Flush()
			}
		}
		os.Stdout.WriteString(b.String())
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
