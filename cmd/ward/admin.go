package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/wardproject/ward/internal/api"
	"github.com/wardproject/ward/internal/pki"
	"github.com/wardproject/ward/internal/store"
)

func newTokenCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Manage operator API tokens (admin only)"}
	var role, name, ttl string
	create := &cobra.Command{
		Use:   "create --role admin|operator|viewer|provisioning",
		Short: "Create an API token; it is printed once and stored only as a hash",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, out, err := apiOutput(cmd)
			if err != nil {
				return err
			}
			var res api.CreateTokenResponse
			if err := c.Post(cmd.Context(), "/api/v1/tokens", api.CreateTokenRequest{Name: name, Role: store.Role(role), TTL: ttl}, &res); err != nil {
				return err
			}
			if out == "json" {
				return printJSON(cmd.OutOrStdout(), res)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "token id: %s (role %s)\ntoken:    %s\nThis is the only time the token is shown.\n", res.ID, res.Role, res.Token)
			return nil
		},
	}
	create.Flags().StringVar(&role, "role", "", "admin, operator, viewer or provisioning (register devices and issue enrollment tokens only, for factory lines) (required)")
	create.Flags().StringVar(&name, "name", "", "a label for the token")
	create.Flags().StringVar(&ttl, "ttl", "", "lifetime between 1m and 8760h, e.g. 720h (default: 2160h, 90 days)")
	create.MarkFlagRequired("role")
	addClientFlags(create, true)

	list := &cobra.Command{
		Use: "list", Short: "List API tokens (never their secrets)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, out, err := apiOutput(cmd)
			if err != nil {
				return err
			}
			var ts []store.APIToken
			if err := c.Get(cmd.Context(), "/api/v1/tokens", &ts); err != nil {
				return err
			}
			if out == "json" {
				return printJSON(cmd.OutOrStdout(), ts)
			}
			rows := [][]string{}
			for _, t := range ts {
				st := "active"
				if !t.RevokedAt.IsZero() {
					st = "revoked"
				}
				rows = append(rows, []string{t.ID, string(t.Role), t.Name, fmtTime(t.CreatedAt), fmtTime(t.ExpiresAt), st})
			}
			return table(cmd.OutOrStdout(), []string{"ID", "ROLE", "NAME", "CREATED", "EXPIRES", "STATE"}, rows)
		},
	}
	addClientFlags(list, true)

	revoke := &cobra.Command{
		Use: "revoke ID", Short: "Revoke an API token", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := apiClient(cmd)
			if err != nil {
				return err
			}
			if err := c.Do(cmd.Context(), "DELETE", "/api/v1/tokens/"+pathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "token %s revoked\n", args[0])
			return nil
		},
	}
	addClientFlags(revoke, false)
	cmd.AddCommand(create, list, revoke, newRotateAdminCmd())
	return cmd
}

// newRotateAdminCmd is ward token rotate-admin: the server issues a new
// admin token and revokes the one the CLI called with; --write stores the
// new one atomically, mode 0600 (on the server's machine: the data
// directory's admin.token).
func newRotateAdminCmd() *cobra.Command {
	var write string
	cmd := &cobra.Command{
		Use:   "rotate-admin [--write FILE]",
		Short: "Replace the admin token you call with by a new one (revoking it); --write stores the new one 0600",
		Long: `Replace the admin token the command authenticates with: the server issues a new
admin token (lifetime api.admin_token_ttl, 90 days by default) and revokes the
calling one. On the server's machine, rewrite the data directory's admin.token:

  WARD_TOKEN=$(cat ward-data/admin.token) ward token rotate-admin --write ward-data/admin.token

The file is replaced atomically with mode 0600. Without --write the new token is
printed once. If the admin token has already expired, delete admin.token and
restart ward serve: a new one is minted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := apiClient(cmd)
			if err != nil {
				return err
			}
			var res api.RotateAdminResponse
			if err := c.Post(cmd.Context(), "/api/v1/tokens/rotate-admin", nil, &res); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if write == "" {
				fmt.Fprintf(out, "admin token rotated: %s revoked\ntoken id: %s (expires %s)\ntoken:    %s\nThis is the only time the token is shown.\n",
					res.RevokedID, res.ID, fmtTime(res.ExpiresAt), res.Token)
				return nil
			}
			if err := pki.WriteSecretFile(write, []byte(res.Token+"\n")); err != nil {
				// The old token is revoked: the new one must not be lost.
				fmt.Fprintf(cmd.ErrOrStderr(), "new admin token (store it now, it is not shown again): %s\n", res.Token)
				return fmt.Errorf("write the new admin token to %s: %w", write, err)
			}
			fmt.Fprintf(out, "admin token rotated: %s revoked, %s (expires %s) written to %s (mode 0600)\n",
				res.RevokedID, res.ID, fmtTime(res.ExpiresAt), write)
			return nil
		},
	}
	cmd.Flags().StringVar(&write, "write", "", "write the new token to this file (atomically, mode 0600), e.g. ward-data/admin.token")
	addClientFlags(cmd, false)
	return cmd
}

func newCACmd() *cobra.Command {
	cmd := &cobra.Command{Use: "ca", Short: "Inspect the certificate authority"}
	show := &cobra.Command{
		Use: "show", Short: "Show the root and issuing CA, their fingerprints and the CRL", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, out, err := apiOutput(cmd)
			if err != nil {
				return err
			}
			var info api.CAInfo
			if err := c.Get(cmd.Context(), "/api/v1/ca", &info); err != nil {
				return err
			}
			if out == "json" {
				return printJSON(cmd.OutOrStdout(), info)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "Root CA:        %s\n  SHA-256:      %s\n  not after:    %s\n", info.RootSubject, info.RootFingerprint, fmtTime(info.RootNotAfter))
			fmt.Fprintf(w, "Issuing CA:     %s\n  SHA-256:      %s\n  not after:    %s\n", info.IssuerSubject, info.IssuerFingerprint, fmtTime(info.IssuerNotAfter))
			fmt.Fprintf(w, "CRL:            number %s, %d revoked, next update %s (GET /crl)\n", info.CRLNumber, info.RevokedCount, fmtTime(info.CRLNextUpdate))
			return nil
		},
	}
	addClientFlags(show, true)
	cmd.AddCommand(show)
	return cmd
}

func newCertCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "cert", Short: "Inspect issued certificates"}
	var device string
	list := &cobra.Command{
		Use: "list [--device ID]", Short: "List certificates issued by the CA", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, out, err := apiOutput(cmd)
			if err != nil {
				return err
			}
			var cs []store.Certificate
			path := "/api/v1/certificates"
			if device != "" {
				path += "?device=" + pathEscape(device)
			}
			if err := c.Get(cmd.Context(), path, &cs); err != nil {
				return err
			}
			if out == "json" {
				return printJSON(cmd.OutOrStdout(), cs)
			}
			rows := [][]string{}
			for _, c := range cs {
				st := "valid"
				if c.Revoked() {
					st = "revoked"
				}
				who := c.DeviceID
				if who == "" {
					who = "(" + c.Kind + ")"
				}
				rows = append(rows, []string{c.Serial, who, fmtTime(c.IssuedAt), fmtTime(c.NotAfter), st})
			}
			return table(cmd.OutOrStdout(), []string{"SERIAL", "DEVICE", "ISSUED", "NOT AFTER", "STATE"}, rows)
		},
	}
	list.Flags().StringVar(&device, "device", "", "only this device's certificates")
	addClientFlags(list, true)
	cmd.AddCommand(list)
	return cmd
}
