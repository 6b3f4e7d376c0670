package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/wardproject/ward/internal/client"
	"github.com/wardproject/ward/internal/config"
)

// contextsFile reads the CLI configuration and returns it with its path.
func contextsFile() (*config.Contexts, string, error) {
	path, err := config.ContextsPath()
	if err != nil {
		return nil, "", err
	}
	all, err := config.ReadContexts(path)
	return all, path, err
}

// contextNamed returns the context called name ("" = the current one).
func contextNamed(all *config.Contexts, name string) (*config.Context, error) {
	if name == "" {
		name = all.Current
	}
	if name == "" {
		return nil, errors.New("no current context: name one (ward context list)")
	}
	x, ok := all.Get(name)
	if !ok {
		return nil, fmt.Errorf("no context named %q (ward context list shows the saved ones)", name)
	}
	return x, nil
}

func newLogoutCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "logout [CONTEXT]",
		Short: "End a context's user session on the server and remove its secret (default: the current context)",
		Long: `Remove the secret of a context (default: the current one) from the CLI
configuration; the server and its CA stay, so ward login needs only the
credentials again. A user session is deleted on the server first
(DELETE /api/v1/session). An API token stays valid on the server: revoke it
with ward token revoke when it should stop working everywhere.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			all, path, err := contextsFile()
			if err != nil {
				return err
			}
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			x, err := contextNamed(all, name)
			if err != nil {
				return err
			}
			if x.Token == "" {
				fmt.Fprintf(cmd.OutOrStdout(), "context %q holds no secret: already logged out\n", x.Name)
				return nil
			}
			if x.Kind == config.KindSession {
				if err := deleteSession(cmd.Context(), *x); err != nil {
					return fmt.Errorf("end the session of %s on %s (the secret is kept, so you can try again): %w", x.User, x.Server, err)
				}
			}
			x.Token, x.ExpiresAt = "", time.Time{}
			if err := all.Write(path); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "logged out of context %q (%s)\n", x.Name, x.Server)
			return nil
		},
	}
}

// deleteSession ends a context's session on the server; a session the
// server no longer knows (401) counts as ended.
func deleteSession(ctx context.Context, x config.Context) error {
	c, err := newClient(config.Client{Server: x.Server, Token: x.Token, CAPEM: []byte(x.CAPEM), Context: x.Name})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err = c.DeleteSession(ctx)
	var e *client.Error
	if errors.As(err, &e) && e.Status == http.StatusUnauthorized {
		return nil
	}
	return err
}

// contextRow is a context as ward context list shows it: never its secret.
type contextRow struct {
	Name      string    `json:"name"`
	Current   bool      `json:"current"`
	Server    string    `json:"server"`
	Kind      string    `json:"kind"`
	User      string    `json:"user,omitempty"`
	LoggedIn  bool      `json:"logged_in"`
	PinnedCA  bool      `json:"pinned_ca"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

func newContextCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "context", Short: "List, switch and delete the contexts saved by ward login"}
	list := &cobra.Command{
		Use: "list", Short: "List the saved contexts (* marks the current one); never shows a secret", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, err := output(cmd)
			if err != nil {
				return err
			}
			all, _, err := contextsFile()
			if err != nil {
				return err
			}
			rows := make([]contextRow, 0, len(all.Contexts))
			for _, x := range all.Contexts {
				rows = append(rows, contextRow{Name: x.Name, Current: x.Name == all.Current, Server: x.Server, Kind: x.Kind, User: x.User,
					LoggedIn: x.Token != "", PinnedCA: x.CAPEM != "", ExpiresAt: x.ExpiresAt})
			}
			if out == "json" {
				return printJSON(cmd.OutOrStdout(), rows)
			}
			var tab [][]string
			for _, r := range rows {
				cur, state := "", "logged in"
				if r.Current {
					cur = "*"
				}
				switch {
				case !r.LoggedIn:
					state = "logged out"
				case !r.ExpiresAt.IsZero() && !r.ExpiresAt.After(time.Now()):
					state = "expired"
				}
				who := r.Kind
				if r.User != "" {
					who += " " + r.User
				}
				tab = append(tab, []string{cur, r.Name, r.Server, who, state, fmtTime(r.ExpiresAt)})
			}
			return table(cmd.OutOrStdout(), []string{"CURRENT", "NAME", "SERVER", "AUTH", "STATE", "EXPIRES"}, tab)
		},
	}
	list.Flags().StringP("output", "o", "table", "output format: table or json")
	use := &cobra.Command{
		Use: "use NAME", Short: "Make a saved context the current one", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			all, path, err := contextsFile()
			if err != nil {
				return err
			}
			if _, err := contextNamed(all, args[0]); err != nil {
				return err
			}
			all.Current = args[0]
			if err := all.Write(path); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "context %q is now current\n", args[0])
			return nil
		},
	}
	del := &cobra.Command{
		Use: "delete NAME", Short: "Delete a saved context (run ward logout NAME first to end a user session on the server)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			all, path, err := contextsFile()
			if err != nil {
				return err
			}
			if !all.Delete(args[0]) {
				return fmt.Errorf("no context named %q (ward context list shows the saved ones)", args[0])
			}
			if err := all.Write(path); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "context %q deleted\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(list, use, del)
	return cmd
}
