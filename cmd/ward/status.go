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

	"github.com/wardproject/ward/internal/api"
	"github.com/wardproject/ward/internal/client"
	"github.com/wardproject/ward/internal/config"
)

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
			var w api.Whoami
			if err := json.Unmarshal(raw, &w); err != nil {
				return fmt.Errorf("decode /api/v1/whoami: %w", err)
			}
			expires := "never"
			if !w.ExpiresAt.IsZero() {
				expires = fmtTime(w.ExpiresAt)
			}
			return table(cmd.OutOrStdout(), []string{"KIND", "NAME", "ROLE", "EXPIRES"}, [][]string{{w.Kind, w.Name, string(w.Role), expires}})
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
	OpenAlerts         map[string]int `json:"open_alerts"`
	RolloutsInProgress int            `json:"rollouts_in_progress"`
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
			fmt.Fprintf(w, "Version:      %s\nDevices:      %d (%s), %d connected\nOpen alerts:  %s\nRollouts:     %d in progress\n",
				v, st.Devices, counts(st.DevicesByStatus), st.Connected, counts(st.OpenAlerts), st.RolloutsInProgress)
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

// fetchStatus asks /healthz, /api/v1/info and /api/v1/overview.
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
	var ov api.Overview
	if err := c.Get(ctx, "/api/v1/overview", &ov); err != nil {
		return st, fmt.Errorf("fleet counts: %w", err)
	}
	st.Devices, st.Connected = ov.Devices.Total, ov.Devices.Connected
	for k, n := range ov.Devices.ByStatus {
		if n > 0 {
			st.DevicesByStatus[string(k)] = n
		}
	}
	for k, n := range ov.Alerts.ActiveBySeverity {
		if n > 0 {
			st.OpenAlerts[k] = n
		}
	}
	if ov.Rollouts != nil {
		st.RolloutsInProgress = ov.Rollouts.InProgress
	}
	return st, nil
}
