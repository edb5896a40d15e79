package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/imdsd/imdsd/config"
	"github.com/imdsd/imdsd/internal/control"
	"github.com/imdsd/imdsd/internal/keyops"
)

// keysFlags: the config names the keyring and the control socket.
type keysFlags struct{ socketFlags }

func (f *keysFlags) options() (keyops.Options, *config.Config, *keyops.Prompter, error) {
	cfg, err := config.Load(f.config)
	if err != nil {
		return keyops.Options{}, nil, nil, err
	}
	pr := &keyops.Prompter{In: os.Stdin, Out: os.Stderr}
	return keyops.Options{Keyring: cfg.Keyring, Passphrase: pr.Passphrase, Files: config.DefaultAWSFiles()}, cfg, pr, nil
}

// reloadDaemon has a running daemon serve the keyring's change at once.
func (f *keysFlags) reloadDaemon(ctx context.Context) {
	_, err := f.client().Reload(ctx)
	var nr *control.NotRunningError
	if err != nil && !errors.As(err, &nr) {
		fmt.Fprintf(os.Stderr, "imdsd: the running daemon did not reload (%v); run `imdsd reload`\n", err)
	}
}

func newKeys() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Keep long-term AWS keys in the OS keyring instead of ~/.aws/credentials",
	}
	cmd.AddCommand(newKeysAdd(), newKeysList(), newKeysRemove(), newKeysRotate())
	return cmd
}

func newKeysAdd() *cobra.Command {
	var f keysFlags
	var fromCreds, fromVault, removePlain bool
	var vaultBackend string
	cmd := &cobra.Command{
		Use:   "add PROFILE",
		Short: "Store a profile's access key in the keyring (typed without echo, or moved from ~/.aws/credentials), after STS accepts it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Minute)
			defer cancel()
			o, _, pr, err := f.options()
			if err != nil {
				return err
			}
			profile := args[0]
			var added keyops.Added
			switch {
			case fromCreds && fromVault:
				return errors.New("--from-credentials and --from-aws-vault are two sources; give one")
			case fromCreds:
				added, err = keyops.Import(ctx, o, profile)
			case fromVault:
				added, err = keyops.ImportAWSVault(ctx, o, profile, vaultBackend)
			default:
				var id, secret string
				if id, err = pr.Secret("Access key id: "); err == nil {
					secret, err = pr.Secret("Secret access key: ")
				}
				if err != nil {
					return err
				}
				added, err = keyops.Add(ctx, o, profile, id, secret)
			}
			if err != nil {
				return err
			}
			fmt.Printf("stored %s for profile %s in the %s keyring (it is %s)\n", added.AccessKeyID, profile, o.Keyring.Backend, added.ARN)
			if fromCreds {
				remove := removePlain
				if !remove {
					if remove, err = pr.Confirm(fmt.Sprintf("remove the plaintext keys of [%s] from %s?", profile, added.File)); err != nil {
						return err
					}
				}
				if remove {
					if err := keyops.RemovePlaintext(o, profile); err != nil {
						return err
					}
					fmt.Printf("removed [%s] from %s\n", profile, added.File)
				} else {
					fmt.Printf("the plaintext keys remain in %s; the keyring's are used (imdsd status warns until they are removed)\n", added.File)
				}
			}
			f.reloadDaemon(ctx)
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVar(&fromCreds, "from-credentials", false, "move the profile's keys from the AWS credentials file ($AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials)")
	cmd.Flags().BoolVar(&fromVault, "from-aws-vault", false, "copy the profile's key from aws-vault's keyring (aws-vault keeps its copy)")
	cmd.Flags().StringVar(&vaultBackend, "aws-vault-backend", "", "aws-vault's keyring backend (default $AWS_VAULT_BACKEND, else imdsd's)")
	cmd.Flags().BoolVar(&removePlain, "remove-plaintext", false, "with --from-credentials: remove the profile's section from the credentials file without asking")
	cmd.Flags().BoolVarP(&removePlain, "yes", "y", false, "same as --remove-plaintext")
	return cmd
}

func newKeysList() *cobra.Command {
	var f keysFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the keys in the keyring: profile, key id, age (never the secret)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, cfg, _, err := f.options()
			if err != nil {
				return err
			}
			list, err := keyops.List(o)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(list)
			}
			tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PROFILE\tACCESS KEY\tAGE")
			now := time.Now()
			for _, e := range list {
				fmt.Fprintf(tw, "%s\t%s\t%d days\n", e.Profile, e.AccessKeyID, int(now.Sub(e.Created).Hours()/24))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			for _, w := range keyops.DueWarnings(list, cfg.Rotation.RotateAfter, now) {
				fmt.Println("warning: " + w)
			}
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newKeysRemove() *cobra.Command {
	var f keysFlags
	cmd := &cobra.Command{
		Use:   "remove PROFILE",
		Short: "Delete a profile's key from the keyring (the key stays valid at AWS: deactivate it in IAM if it is no longer needed)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o, _, _, err := f.options()
			if err != nil {
				return err
			}
			if err := keyops.Remove(o, args[0]); err != nil {
				return err
			}
			fmt.Printf("removed the key of profile %s from the keyring\n", args[0])
			f.reloadDaemon(cmd.Context())
			return nil
		},
	}
	f.add(cmd)
	return cmd
}

func newKeysRotate() *cobra.Command {
	var f keysFlags
	cmd := &cobra.Command{
		Use:   "rotate PROFILE",
		Short: "Replace a profile's key in the keyring: create a new one in IAM, wait until it works, store it, delete the old one",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// The wait for IAM is bounded at 2 minutes; the rest is a few calls.
			ctx, cancel := context.WithTimeout(cmd.Context(), 4*time.Minute)
			defer cancel()
			o, _, _, err := f.options()
			if err != nil {
				return err
			}
			res, err := keyops.Rotate(ctx, o, args[0], func(msg string) { fmt.Fprintln(os.Stderr, msg) })
			if res.Stored != "" && res.Stored != res.OldKeyID {
				// The new key is stored even when a later step failed:
				// the daemon must use it now.
				defer f.reloadDaemon(context.WithoutCancel(ctx))
			}
			if err != nil {
				return err
			}
			fmt.Printf("rotated profile %s: %s replaces %s (deleted in IAM)\n", args[0], res.NewKeyID, res.OldKeyID)
			return nil
		},
	}
	f.add(cmd)
	return cmd
}

func newUnlock() *cobra.Command {
	var f socketFlags
	cmd := &cobra.Command{
		Use:   "unlock",
		Short: "Serve again after lock (profiles fetch new credentials); asks for the keyring file's passphrase when it needs one",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c := f.client()
			st, err := c.Status(cmd.Context())
			if err != nil {
				return err
			}
			pass := ""
			if st.KeyringLocked {
				pr := &keyops.Prompter{In: os.Stdin, Out: os.Stderr}
				if pass, err = pr.Passphrase("Passphrase of the imdsd keyring file", false); err != nil {
					return err
				}
			}
			if _, err := c.UnlockWith(cmd.Context(), pass); err != nil {
				return err
			}
			fmt.Println("unlocked")
			return nil
		},
	}
	f.add(cmd)
	return cmd
}
