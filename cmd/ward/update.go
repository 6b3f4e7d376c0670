package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/wardproject/ward/internal/config"
	"github.com/wardproject/ward/internal/server"
	"github.com/wardproject/ward/internal/update"
)

func newUpdateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "update",
		Short: "Manage the TUF repository that signs firmware updates (see docs/updates.md)",
	}

	siteInit := &cobra.Command{
		Use:   "init",
		Short: "Create the site's TUF repository and all its keys in the data directory, or finish one whose root was made offline",
		Long: `Create <data-dir>/tuf (the repository devices fetch) and <data-dir>/tuf-keys
(root, targets, snapshot and timestamp keys, mode 0600, encrypted with the CA
passphrase from WARD_CA_PASSPHRASE or pki.key_passphrase_file when set).

If <data-dir>/tuf already holds a root made offline with ward update keys init
(copy DIR/repository/* to <data-dir>/tuf and DIR/online/*.key to
<data-dir>/tuf-keys first), init signs the first snapshot and timestamp with the
online keys and creates no other key.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cmd.Flags(), os.Environ())
			if err != nil {
				return err
			}
			pass := []byte(cfg.PKI.KeyPassphrase)
			out := cmd.OutOrStdout()
			repoDir := filepath.Join(cfg.DataDir, update.SiteRepoDir)
			if _, err := os.Stat(filepath.Join(repoDir, "root.json")); err == nil {
				return finishSite(cmd, cfg)
			}
			warnPlain(cmd.ErrOrStderr(), pass)
			r, err := update.InitSite(cmd.Context(), cfg.DataDir, pass, nil, update.Options{Expiries: server.UpdateExpiries(cfg)})
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "TUF repository created in %s (keys in %s)\n", repoDir, filepath.Join(cfg.DataDir, update.SiteKeysDir))
			printRoles(out, r.Root())
			fmt.Fprintf(out, "Devices trust %s: ship it with the firmware.\n", filepath.Join(repoDir, "root.json"))
			return nil
		},
	}
	config.RegisterFlags(siteInit.Flags())

	resign := &cobra.Command{
		Use:   "resign",
		Short: "Re-sign snapshot and timestamp with the online keys (run before the timestamp expires, and after copying metadata signed offline)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cmd.Flags(), os.Environ())
			if err != nil {
				return err
			}
			r, err := openSite(cfg)
			if err != nil {
				return err
			}
			if err := r.Resign(cmd.Context()); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "snapshot and timestamp re-signed in %s\n", filepath.Join(cfg.DataDir, update.SiteRepoDir))
			return nil
		},
	}
	config.RegisterFlags(resign.Flags())

	keys := &cobra.Command{Use: "keys", Short: "Create the TUF keys that stay offline"}
	var dir string
	var rootTh, targetsTh int
	keysInit := &cobra.Command{
		Use:   "init --dir DIR",
		Short: "Create root and targets keys offline in DIR, the online keys to move to the server, and the initial signed root.json",
		Long: `Run on a machine without a server (the key ceremony). Creates:
  DIR/keys        root and targets keys: they stay offline
  DIR/online      snapshot and timestamp keys: move them to <data-dir>/tuf-keys on the server
  DIR/repository  root.json, 1.root.json, 1.targets.json: copy them to <data-dir>/tuf
then run ward update init on the server. Keys are encrypted with the passphrase
from WARD_CA_PASSPHRASE or --ca-passphrase-file (use the server's CA passphrase
for the online keys, or none).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cmd.Flags(), os.Environ())
			if err != nil {
				return err
			}
			pass := []byte(cfg.PKI.KeyPassphrase)
			warnPlain(cmd.ErrOrStderr(), pass)
			th := update.Thresholds{metadata.ROOT: rootTh, metadata.TARGETS: targetsTh}
			r, err := update.InitOffline(cmd.Context(), dir, pass, th, update.Options{Expiries: server.UpdateExpiries(cfg)})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "offline keys in %s, online keys in %s, repository in %s\n",
				filepath.Join(dir, update.OfflineKeysDir), filepath.Join(dir, update.OfflineOnlineDir), filepath.Join(dir, update.OfflineRepoDir))
			printRoles(out, r.Root())
			fmt.Fprintln(out, "Next: copy the repository and the online keys to the server, then run ward update init there (docs/updates.md).")
			return nil
		},
	}
	keysInit.Flags().StringVar(&dir, "dir", "", "directory for the offline keys and the initial repository (required)")
	keysInit.Flags().IntVar(&rootTh, "root-threshold", 1, "root keys to create, all needed to sign root")
	keysInit.Flags().IntVar(&targetsTh, "targets-threshold", 1, "targets keys to create, all needed to sign targets")
	keysInit.Flags().String("ca-passphrase-file", "", "file holding the passphrase that encrypts the keys (or set WARD_CA_PASSPHRASE)")
	keysInit.MarkFlagRequired("dir")
	keys.AddCommand(keysInit)

	var rotDir, rotRole string
	var rotTh int
	rotate := &cobra.Command{
		Use:   "rotate --role ROLE [--dir DIR]",
		Short: "Replace a role's keys with new ones (root, targets, snapshot, timestamp or models/<model>): offline in DIR, or on the site's data directory",
		Long: `Generates --threshold new keys for ROLE and rotates to them. A top-level role
gets root version N+1, signed by root N's keys and by root N+1's; then the
rotated role is re-signed with its new keys. models/<model> gets a new
delegation in targets. With --dir, this runs on the offline key directory:
new snapshot or timestamp keys go to DIR/online; copy the new files of
DIR/repository (and new online keys) to the server and run ward update resign.
Without --dir, it runs on <data-dir> (a site holding every key).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cmd.Flags(), os.Environ())
			if err != nil {
				return err
			}
			if err := update.CheckRole(rotRole); err != nil {
				return err
			}
			pass := []byte(cfg.PKI.KeyPassphrase)
			var r *update.Repository
			var newKeys *update.Keyring
			if rotDir != "" {
				kr, err := update.LoadKeyring(filepath.Join(rotDir, update.OfflineKeysDir), pass)
				if err != nil {
					return err
				}
				online, err := update.LoadKeyring(filepath.Join(rotDir, update.OfflineOnlineDir), pass)
				if err != nil {
					return err
				}
				newKeys = kr
				if rotRole == metadata.SNAPSHOT || rotRole == metadata.TIMESTAMP {
					newKeys = online
				}
				kr.Merge(online)
				if r, err = update.Open(update.Options{Dir: filepath.Join(rotDir, update.OfflineRepoDir), Keys: kr, Offline: true, Expiries: server.UpdateExpiries(cfg)}); err != nil {
					return err
				}
			} else {
				if r, err = openSite(cfg); err != nil {
					return err
				}
				newKeys = r.Keys()
			}
			if !r.Initialized() {
				return update.ErrNotInitialized
			}
			var ks []*metadata.Key
			for range max(rotTh, 1) {
				k, err := newKeys.Generate(rotRole)
				if err != nil {
					return err
				}
				ks = append(ks, k)
			}
			if err := r.Rotate(cmd.Context(), rotRole, ks, rotTh); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s rotated to %d new key(s) in %s\n", rotRole, len(ks), newKeys.Dir())
			printRoles(cmd.OutOrStdout(), r.Root())
			return nil
		},
	}
	rotate.Flags().StringVar(&rotDir, "dir", "", "the offline key directory made by ward update keys init (default: the site's data directory)")
	rotate.Flags().StringVar(&rotRole, "role", "", "root, targets, snapshot, timestamp or models/<model> (required)")
	rotate.Flags().IntVar(&rotTh, "threshold", 1, "new keys to create, all needed to sign")
	rotate.MarkFlagRequired("role")
	config.RegisterFlags(rotate.Flags())
	keys.AddCommand(rotate)

	var signDir string
	sign := &cobra.Command{
		Use:   "sign --dir DIR METADATA",
		Short: "Add the signatures of the keys in DIR to a TUF metadata file (a new root for a rotation, targets, a model's delegation)",
		Long: `Adds this machine's signatures to METADATA for its role, which its file name
says (root.json, <N>.root.json, <V>.targets.json, <V>.models%2F<model>.json, ...),
keeping the signatures already there, so several key holders can sign in turn.
The keys that count come from DIR/repository (the current root and targets):
a new root needs the threshold of the current root's keys and of its own.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pass, err := offlinePassphrase(cmd)
			if err != nil {
				return err
			}
			kr, err := update.LoadKeyring(filepath.Join(signDir, update.OfflineKeysDir), pass)
			if err != nil {
				return err
			}
			online, err := update.LoadKeyring(filepath.Join(signDir, update.OfflineOnlineDir), pass)
			if err != nil {
				return err
			}
			kr.Merge(online)
			if len(kr.IDs()) == 0 {
				return fmt.Errorf("no TUF key in %s or %s (create them with ward update keys init --dir %s)",
					filepath.Join(signDir, update.OfflineKeysDir), filepath.Join(signDir, update.OfflineOnlineDir), signDir)
			}
			r, err := update.Open(update.Options{Dir: filepath.Join(signDir, update.OfflineRepoDir), Keys: kr, Offline: true})
			if err != nil {
				return err
			}
			res, err := r.SignFile(args[0])
			if err != nil {
				return err
			}
			short := make([]string, len(res.Added))
			for i, id := range res.Added {
				short[i] = id[:12]
			}
			printRoles(cmd.OutOrStdout(), res.Root)
			for _, p := range res.Targets {
				fmt.Fprintf(cmd.OutOrStdout(), "  target %s\n", p)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s version %d (expires %s): added %d signature(s) (%s); %d signature(s), threshold %d\n",
				res.Role, res.Version, res.Expires.Format("2006-01-02T15:04:05Z07:00"), len(res.Added), strings.Join(short, ", "), res.Signatures, res.Threshold)
			return nil
		},
	}
	sign.Flags().StringVar(&signDir, "dir", "", "the offline key directory made by ward update keys init (required)")
	sign.Flags().String("ca-passphrase-file", "", "file holding the passphrase that decrypts the keys (or set WARD_CA_PASSPHRASE)")
	sign.MarkFlagRequired("dir")

	cmd.AddCommand(siteInit, resign, keys, sign)
	return cmd
}

// finishSite completes a repository whose root was made offline.
func finishSite(cmd *cobra.Command, cfg *config.Config) error {
	dataDir := cfg.DataDir
	r, err := openSite(cfg)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dataDir, update.SiteRepoDir, "timestamp.json")); err == nil {
		return fmt.Errorf("%s: %w (ward update resign re-signs snapshot and timestamp)", filepath.Join(dataDir, update.SiteRepoDir), update.ErrExists)
	}
	if err := r.Init(cmd.Context(), nil); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "TUF repository in %s finished with the online keys\n", filepath.Join(dataDir, update.SiteRepoDir))
	printRoles(cmd.OutOrStdout(), r.Root())
	return nil
}

// openSite opens the data directory's repository with its keys, signing
// with the configured lifetimes (update.*_expiry).
func openSite(cfg *config.Config) (*update.Repository, error) {
	kr, err := update.LoadKeyring(filepath.Join(cfg.DataDir, update.SiteKeysDir), []byte(cfg.PKI.KeyPassphrase))
	if err != nil {
		return nil, err
	}
	r, err := update.Open(update.Options{Dir: filepath.Join(cfg.DataDir, update.SiteRepoDir), Keys: kr, Expiries: server.UpdateExpiries(cfg)})
	if err != nil {
		return nil, err
	}
	if !r.Initialized() {
		return nil, update.ErrNotInitialized
	}
	return r, nil
}

// offlinePassphrase reads the key passphrase as the server does
// (WARD_CA_PASSPHRASE or --ca-passphrase-file), without the server flags.
func offlinePassphrase(cmd *cobra.Command) ([]byte, error) {
	cfg, err := config.Load(cmd.Flags(), os.Environ())
	if err != nil {
		return nil, err
	}
	return []byte(cfg.PKI.KeyPassphrase), nil
}

func warnPlain(w io.Writer, pass []byte) {
	if len(pass) == 0 {
		fmt.Fprintln(w, "warning: no passphrase set (WARD_CA_PASSPHRASE or pki.key_passphrase_file): TUF keys are stored unencrypted, mode 0600")
	}
}

func printRoles(w io.Writer, root *metadata.Metadata[metadata.RootType]) {
	if root == nil {
		return
	}
	fmt.Fprintf(w, "root version %d, expires %s\n", root.Signed.Version, root.Signed.Expires.Format("2006-01-02"))
	for _, role := range []string{metadata.ROOT, metadata.TARGETS, metadata.SNAPSHOT, metadata.TIMESTAMP} {
		r := root.Signed.Roles[role]
		ids := make([]string, len(r.KeyIDs))
		for i, id := range r.KeyIDs {
			ids[i] = id[:12]
		}
		fmt.Fprintf(w, "  %-9s threshold %d of %s\n", role, r.Threshold, strings.Join(ids, ", "))
	}
}
