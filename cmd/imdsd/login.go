package main

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/imdsd/imdsd/config"
	"github.com/imdsd/imdsd/internal/ssologin"
)

// loginBrowser opens the sign-in URL; nil means the system's browser.
// Tests replace it to play the browser.
var loginBrowser func(url string) error

func newLogin() *cobra.Command {
	var (
		profile, session string
		noBrowser        bool
		scopes           []string
	)
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Sign in to IAM Identity Center (SSO) once for every SDK, the AWS CLI and imdsd",
		Long: `Sign in to IAM Identity Center (SSO) for a profile with sso_session (or
the legacy sso_start_url), or for an sso-session, as 'aws sso login' does:
in the browser (authorization code with PKCE, answered on 127.0.0.1), or with
--no-browser (or where no browser can be opened) with a URL and a code to
confirm on any device. The token goes to the SDKs' shared cache
(~/.aws/sso/cache), where imdsd, the SDKs and the AWS CLI read it; with the
sso:account:access scope (the default) they renew it without a new sign-in.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if profile == "" && session == "" {
				profile = os.Getenv("AWS_PROFILE")
				if profile == "" {
					profile = "default"
				}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			// The AWS CLI gives the user 10 minutes to sign in, too.
			ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
			defer cancel()
			res, err := ssologin.Login(ctx, ssologin.Options{
				Profile: profile, SSOSession: session, NoBrowser: noBrowser, Scopes: scopes,
				Files: config.DefaultAWSFiles(), Out: os.Stdout, OpenBrowser: loginBrowser,
			})
			if err != nil {
				return err
			}
			who := res.StartURL
			if res.Session != "" {
				who = fmt.Sprintf("%s (sso-session %s)", res.StartURL, res.Session)
			}
			fmt.Printf("Signed in to %s until %s; token cached in %s.\n", who, res.Expires.Local().Format(time.RFC1123), res.CacheFile)
			if res.Refresh {
				fmt.Println("It is renewed without a new sign-in until the SSO session ends.")
			}
			fmt.Println("A running imdsd serving these profiles picks the token up at once.")
			return nil
		},
	}
	cmd.Flags().StringVarP(&profile, "profile", "p", "", "profile to sign in for (default $AWS_PROFILE, else default)")
	cmd.Flags().StringVar(&session, "sso-session", "", "sso-session section to sign in to")
	cmd.Flags().BoolVar(&noBrowser, "no-browser", false, "sign in with a URL and a code on any device (device-code flow)")
	cmd.Flags().StringSliceVar(&scopes, "scopes", nil, "registration scopes (default sso:account:access, which allows renewal)")
	cmd.MarkFlagsMutuallyExclusive("profile", "sso-session")
	return cmd
}

func newSSO() *cobra.Command {
	cmd := &cobra.Command{Use: "sso", Short: "IAM Identity Center (SSO): what your sign-in gives"}
	var profile, session string
	var write bool
	profiles := &cobra.Command{
		Use:   "profiles",
		Short: "A profile for each account role your SSO sign-in gives: printed, or added to ~/.aws/config",
		Long: `Print a config-file profile for each account role the IAM Identity Center
sign-in of a profile or sso-session gives (ListAccounts, ListAccountRoles with
the cached token; an expired token is renewed first), to paste into your AWS
config file. With --write they are appended to it instead (AWS_CONFIG_FILE
respected): profiles whose names exist already are skipped and named, and
nothing already in the file changes. Sign in first with imdsd login.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if profile == "" && session == "" {
				profile = cmp.Or(os.Getenv("AWS_PROFILE"), "default")
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
			defer cancel()
			roles, res, err := ssologin.Roles(ctx, ssologin.Options{Profile: profile, SSOSession: session, Files: config.DefaultAWSFiles()})
			if err != nil {
				return err
			}
			if len(roles) == 0 {
				return fmt.Errorf("your sign-in to %s gives no account roles", res.StartURL)
			}
			if !write {
				fmt.Print(ssologin.ProfileSections(roles, res))
				return nil
			}
			files := config.DefaultAWSFiles()
			sections := ssologin.ProfileSectionList(roles, res)
			added, skipped, err := config.AppendProfiles(files, sections)
			if err != nil {
				return err
			}
			for _, n := range skipped {
				fmt.Printf("skipped [profile %s]: a profile of that name exists already\n", n)
			}
			if len(added) == 0 {
				fmt.Printf("Nothing added to %s.\n", files.Config[0])
				return nil
			}
			fmt.Printf("Added to %s:\n\n", files.Config[0])
			for _, s := range sections {
				if slices.Contains(added, s.Profile) {
					fmt.Println(s.Text)
				}
			}
			return nil
		},
	}
	profiles.Flags().BoolVar(&write, "write", false, "append the profiles to the AWS config file, skipping names that exist")
	profiles.Flags().StringVarP(&profile, "profile", "p", "", "a profile with the sign-in (default $AWS_PROFILE, else default)")
	profiles.Flags().StringVar(&session, "sso-session", "", "an sso-session section")
	profiles.MarkFlagsMutuallyExclusive("profile", "sso-session")
	profiles.RegisterFlagCompletionFunc("profile", completeProfiles)
	cmd.AddCommand(profiles)
	return cmd
}
