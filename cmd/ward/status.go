package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wardproject/ward/internal/alert"
	"github.com/wardproject/ward/internal/api"
	"github.com/wardproject/ward/internal/client"
	"github.com/wardproject/ward/internal/config"
	"github.com/wardproject/ward/internal/fleet"
)

// whoamiAnswer is GET /api/v1/whoami: the calling API token or user
// session. Kind is absent from servers that know only API tokens.
type whoamiAnswer struct {
	Kind      string    `json:"kind,omitempty"`
	ID        string    `json:"id,omitempty"`
	Name      string    `json:"name,omitempty"`
	Username  string    `json:"username,omitempty"`
	Role      string    `json:"role"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

func (w whoamiAnswer) kind() string {
	if w.Kind == "" {
		return "token"
	}
	return w.Kind
}

// name is the user's name for a session, the token's name otherwise.
func (w whoamiAnswer) name() string {
	if w.Username != "" {
		return w.Username
	}
	return w.Name
}

func (w whoamiAnswer) displayName() string { return w.kind() + " " + w.name() }

func newWhoamiCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "whoami",
		Short: "Show who the CLI acts as on the server: kind (token or user), name, role and expiry",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, out, err := apiOutput(cmd)
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.Get(cmd.Context(), "/api/v1/whoami", &raw); err != nil {
				return err
			}
			if out == "json" {
				var v any
				if err := json.Unmarshal(raw, &v); err != nil {
					return fmt.Errorf("decode /api/v1/whoami: %w", err)
				}
				return printJSON(cmd.OutOrStdout(), v)
			}
			var w whoamiAnswer
			if err := json.Unmarshal(raw, &w); err != nil {
				return fmt.Errorf("decode /api/v1/whoami: %w", err)
			}
			expires := "never"
			if !w.ExpiresAt.IsZero() {
				expires = fmtTime(w.ExpiresAt)
			}
			return table(cmd.OutOrStdout(), []string{"KIND", "NAME", "ROLE", "EXPIRES"}, [][]string{{w.kind(), w.name(), w.Role, expires}})
		},
	}
	addClientFlags(cmd, true)
	return cmd
}

// Status is what ward status reports: the server's health, version and
// fleet counts.
type Status struct {
	Server   string   `json:"server"`
	Health   string   `json:"health"`
	Problems []string `json:"problems,omitempty"`
	Version  string   `json:"version"`
	Revision string   `json:"revision,omitempty"`
	Devices  int      `json:"devices"`
	// DevicesByStatus counts devices per status (active, pending...).
	DevicesByStatus map[string]int `json:"devices_by_status"`
	Connected       int            `json:"connected"`
	// OpenAlerts counts open and acknowledged alerts per severity.
	OpenAlerts map[string]int `json:"open_alerts"`
}

func newStatusCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the server's health, version and fleet counts (devices by status, connected, open alerts by severity)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, err := output(cmd)
			if err != nil {
				return err
			}
			cc, err := config.LoadClient(cmd.Flags(), os.Environ(), true)
			if err != nil {
				return err
			}
			c, err := newClient(cc)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			st, err := fetchStatus(ctx, c, cc.Server)
			if err != nil {
				return err
			}
			if out == "json" {
				return printJSON(cmd.OutOrStdout(), st)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "Server:       %s\nHealth:       %s\n", st.Server, st.Health)
			for _, p := range st.Problems {
				fmt.Fprintf(w, "  problem:    %s\n", p)
			}
			v := st.Version
			if st.Revision != "" {
				v += " (" + st.Revision + ")"
			}
			fmt.Fprintf(w, "Version:      %s\nDevices:      %d (%s), %d connected\nOpen alerts:  %s\n",
				v, st.Devices, counts(st.DevicesByStatus), st.Connected, counts(st.OpenAlerts))
			return nil
		},
	}
	addClientFlags(cmd, true)
	return cmd
}

// counts prints a count map as "a 1, b 2", sorted by key ("none" when empty).
func counts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// fetchStatus asks /healthz, /api/v1/info and, for the counts, the device
// and alert listings.
func fetchStatus(ctx context.Context, c *client.Client, server string) (Status, error) {
	st := Status{Server: server, DevicesByStatus: map[string]int{}, OpenAlerts: map[string]int{}}
	var h api.HealthResponse
	if err := c.Get(ctx, "/healthz", &h); err != nil {
		var e *client.Error
		if !errors.As(err, &e) || e.Status != http.StatusServiceUnavailable {
			return st, fmt.Errorf("server health: %w", err)
		}
		h.Status = "starting"
	}
	st.Health, st.Problems = h.Status, h.Problems
	var info api.Info
	if err := c.Get(ctx, "/api/v1/info", &info); err != nil {
		return st, fmt.Errorf("server version: %w", err)
	}
	st.Version, st.Revision = info.Build.Version, info.Build.Revision
	if st.Version == "" {
		st.Version = info.Version
	}
	var devs []fleet.View
	if err := c.Get(ctx, "/api/v1/devices", &devs); err != nil {
		return st, fmt.Errorf("count devices: %w", err)
	}
	st.Devices = len(devs)
	for _, d := range devs {
		st.DevicesByStatus[string(d.Status)]++
		if d.Connected > 0 {
			st.Connected++
		}
	}
	var as []alert.Alert
	if err := c.Get(ctx, "/api/v1/alerts?state=active&limit=10000", &as); err != nil {
		return st, fmt.Errorf("count open alerts: %w", err)
	}
	for _, a := range as {
		st.OpenAlerts[string(a.Severity)]++
	}
	return st, nil
}
