package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/imdsd/imdsd/internal/control"
)

// confirm asks a y/N question on out and reads the answer from in; yes
// skips it. Anything but y/yes, including no input at all, is a no.
func confirm(in io.Reader, out io.Writer, question string, yes bool) error {
	if yes {
		return nil
	}
	fmt.Fprintf(out, "%s [y/N] ", question)
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && line == "" {
		fmt.Fprintln(out)
		return errors.New("not confirmed (no answer on stdin): nothing was done; pass --yes to skip the question")
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return errors.New("not confirmed: nothing was done")
}

func newRevoke() *cobra.Command {
	var f socketFlags
	var profile string
	var yes bool
	cmd := &cobra.Command{
		Use:   "revoke",
		Short: "Invalidate at AWS every session of a profile's role issued until now, then serve new credentials (needs iam:PutRolePolicy)",
		Long: `Invalidate at AWS every session of a profile's role issued until now, as
the IAM console's "Revoke active sessions" does: the inline policy
AWSRevokeOlderSessions on the role denies everything to sessions issued
before now, wherever they were copied to. imdsd then drops its cached
credentials and serves new ones, issued after the cut-off.

IAM is called with the profile's source credentials (its source_profile),
which need iam:PutRolePolicy on the role.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c := f.client()
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			st, err := c.Status(ctx)
			if err != nil {
				return err
			}
			name, role := profile, ""
			if name == "" {
				name = st.IMDSProfile
			}
			if i := slices.IndexFunc(st.Profiles, func(p control.ProfileStatus) bool { return p.Name == name }); i >= 0 {
				role = st.Profiles[i].RoleARN
			}
			what := "the role of profile " + name
			if role != "" {
				what = role + " (profile " + name + ")"
			}
			q := fmt.Sprintf("Revoke at AWS every session of %s issued until now? Every client holding one, on this machine or elsewhere, loses access", what)
			if err := confirm(cmd.InOrStdin(), os.Stderr, q, yes); err != nil {
				return err
			}
			stop := progress("revoking the sessions of " + name)
			res, err := c.Revoke(ctx, name)
			stop()
			if err != nil {
				return err
			}
			fmt.Printf("revoked: sessions of %s issued before %s are denied at AWS (IAM may take a few seconds to apply it everywhere)\n", res.RoleARN, res.Cutoff.Local().Format(time.RFC3339))
			if res.AccessKeyID != "" {
				fmt.Printf("%s: serving %s, issued after the cut-off, expires in %s\n", res.Profile, res.AccessKeyID, time.Until(res.Expires).Round(time.Second))
			}
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().StringVarP(&profile, "profile", "p", "", "profile (default: the one IMDS serves)")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

func newLock() *cobra.Command {
	var f socketFlags
	var revoke, yes bool
	cmd := &cobra.Command{
		Use:   "lock",
		Short: "Drop every cached credential at once and refuse to serve until unlock (--revoke: also invalidate at AWS what was served)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c := f.client()
			if !revoke {
				if _, err := c.Lock(cmd.Context()); err != nil {
					return err
				}
				fmt.Println("locked: every credential was dropped from memory; clients get 503 until `imdsd unlock`")
				return nil
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			if _, err := c.Status(ctx); err != nil {
				return err // not running: say so before asking anything
			}
			q := "Lock imdsd and revoke at AWS every session of the roles it served, issued until now? Every client holding one, on this machine or elsewhere, loses access"
			if err := confirm(cmd.InOrStdin(), os.Stderr, q, yes); err != nil {
				return err
			}
			stop := progress("locking and revoking")
			res, err := c.LockRevoke(ctx)
			stop()
			if err != nil {
				return err
			}
			fmt.Println("locked: every credential was dropped from memory; clients get 503 until `imdsd unlock`")
			failed := 0
			for _, r := range res {
				switch {
				case r.Error != "":
					failed++
					fmt.Printf("%s: NOT REVOKED: %s\n", r.Profile, r.Error)
				case r.Note != "":
					fmt.Printf("%s: %s\n", r.Profile, r.Note)
				default:
					fmt.Printf("%s: revoked sessions of %s issued before %s\n", r.Profile, r.RoleARN, r.Cutoff.Local().Format(time.RFC3339))
				}
			}
			if failed > 0 {
				return exitCode(1)
			}
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVar(&revoke, "revoke", false, "also revoke at AWS every session of the served roles issued until now (needs iam:PutRolePolicy; see imdsd revoke)")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "with --revoke: do not ask for confirmation")
	return cmd
}
