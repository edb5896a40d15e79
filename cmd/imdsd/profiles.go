package main

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/imdsd/imdsd/config"
	"github.com/imdsd/imdsd/internal/keyops"
)

func newProfiles() *cobra.Command {
	var cfgPath string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "profiles",
		Short: "List the profiles of the AWS files: kind, role, source, MFA, region, and where imdsd serves each",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cfgPath)
			if err != nil {
				return err
			}
			ps, err := config.DescribeProfiles(cmd.Context(), keyops.FilesWithKeyring(cfg.Keyring, config.DefaultAWSFiles()), cfg)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(ps)
			}
			tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PROFILE\tKIND\tROLE\tSOURCE\tMFA\tREGION\tSERVED AT")
			for _, p := range ps {
				kind := p.Kind
				if p.Error != "" {
					kind = "INVALID"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Name, kind, dash(p.Role), dash(p.Source), yes(p.MFA != ""), dash(p.Region), dash(strings.Join(p.ServedAt, ", ")))
			}
			tw.Flush()
			for _, p := range ps {
				if p.Error != "" {
					fmt.Printf("\n%s: %s\n", p.Name, p.Error)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "imdsd config, for where each profile is served (default $IMDSD_CONFIG, else $XDG_CONFIG_HOME/imdsd/config.toml)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// completeProfiles offers the AWS files' profile names to the shell.
func completeProfiles(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	names, err := config.ListProfiles(config.DefaultAWSFiles())
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "-"
}
