package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
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
