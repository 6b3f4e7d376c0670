package main

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/wardproject/ward/internal/api"
	"github.com/wardproject/ward/internal/client"
)

// newUserCmd is `ward user`: people's accounts, for the console and
// `ward login`. Passwords come from a prompt without echo or, for
// scripts, standard input (--password-stdin); never from a flag, which
// every user of the machine can read in ps.
func newUserCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Manage user accounts (admin; ward user passwd for your own password too)"}
	var role string
	var fromStdin bool
	add := &cobra.Command{
		Use:   "add NAME --role admin|operator|viewer|provisioning",
		Short: "Create a user; the password is prompted for twice, or read from standard input with --password-stdin",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, out, err := apiOutput(cmd)
			if err != nil {
				return err
			}
			pw, err := newPassword(cmd, fromStdin)
			if err != nil {
				return err
			}
			u, err := c.CreateUser(cmd.Context(), args[0], role, pw)
			if err != nil {
				return err
			}
			if out == "json" {
				return printJSON(cmd.OutOrStdout(), u)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "user %s created (role %s)\n", u.Name, u.Role)
			return nil
		},
	}
	add.Flags().StringVar(&role, "role", "", "admin, operator, viewer or provisioning (required)")
	add.Flags().BoolVar(&fromStdin, "password-stdin", false, "read the password from the first line of standard input")
	add.MarkFlagRequired("role")
	addClientFlags(add, true)

	list := &cobra.Command{
		Use: "list", Short: "List users: role, state, failed sign-ins, lockout (never a password)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, out, err := apiOutput(cmd)
			if err != nil {
				return err
			}
			us, err := c.ListUsers(cmd.Context())
			if err != nil {
				return err
			}
			if out == "json" {
				if us == nil {
					us = []client.User{}
				}
				return printJSON(cmd.OutOrStdout(), us)
			}
			rows := [][]string{}
			for _, u := range us {
				state := "enabled"
				if !u.DisabledAt.IsZero() {
					state = "disabled"
				}
				rows = append(rows, []string{u.Name, u.Role, state, strconv.Itoa(u.FailedLogins), fmtTime(u.LockedUntil), fmtTime(u.PasswordChangedAt), fmtTime(u.CreatedAt)})
			}
			return table(cmd.OutOrStdout(), []string{"NAME", "ROLE", "STATE", "FAILED", "LOCKED UNTIL", "PASSWORD CHANGED", "CREATED"}, rows)
		},
	}
	addClientFlags(list, true)

	var passwdStdin bool
	passwd := &cobra.Command{
		Use: "passwd NAME",
		Short: "Set a user's password (admin), or change your own: the current password first, then the new one twice " +
			"(with --password-stdin: the current password on the first line when it is your own, then the new one)",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := apiClient(cmd)
			if err != nil {
				return err
			}
			var who api.Whoami
			if err := c.Get(cmd.Context(), "/api/v1/whoami", &who); err != nil {
				return err
			}
			// Your own password: the server asks for the current one.
			self := who.Kind == api.PrincipalUser && who.Name == args[0]
			var cur, pw string
			switch {
			case passwdStdin && self:
				ss, err := readSecrets(cmd, cmd.InOrStdin(), true, "", "")
				if err != nil {
					return err
				}
				cur, pw = ss[0], ss[1]
			case self:
				ss, err := readSecrets(cmd, cmd.InOrStdin(), false, "Current password: ")
				if err != nil {
					return err
				}
				cur = ss[0]
				fallthrough
			default:
				if pw, err = newPassword(cmd, passwdStdin); err != nil {
					return err
				}
			}
			if err := c.SetPassword(cmd.Context(), args[0], pw, cur); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "password of %s changed; the user's other sessions are signed out\n", args[0])
			return nil
		},
	}
	passwd.Flags().BoolVar(&passwdStdin, "password-stdin", false, "read the password(s) from standard input, one a line")
	addClientFlags(passwd, false)

	setDisabled := func(use, short, done string, disabled bool) *cobra.Command {
		c := &cobra.Command{
			Use: use + " NAME", Short: short, Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, out, err := apiOutput(cmd)
				if err != nil {
					return err
				}
				u, err := c.SetUserDisabled(cmd.Context(), args[0], disabled)
				if err != nil {
					return err
				}
				if out == "json" {
					return printJSON(cmd.OutOrStdout(), u)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "user %s %s\n", u.Name, done)
				return nil
			},
		}
		addClientFlags(c, true)
		return c
	}
	cmd.AddCommand(add, list, passwd,
		setDisabled("disable", "Disable a user: no more sign-ins, every session signed out at once", "disabled; every session signed out", true),
		setDisabled("enable", "Enable a disabled user (ends a lockout too)", "enabled", false))
	return cmd
}

// newPassword reads a new password: the first line of standard input, or
// prompted twice on the terminal, which must match.
func newPassword(cmd *cobra.Command, fromStdin bool) (string, error) {
	if fromStdin {
		return readSecret(cmd, cmd.InOrStdin(), true, "")
	}
	ss, err := readSecrets(cmd, cmd.InOrStdin(), false, "New password (at least 12 characters): ", "Again: ")
	if err != nil {
		return "", err
	}
	if ss[0] != ss[1] {
		return "", errors.New("the two passwords differ: nothing changed")
	}
	return ss[0], nil
}
