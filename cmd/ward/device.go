package main

import (
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wardproject/ward/internal/api"
	"github.com/wardproject/ward/internal/fleet"
	"github.com/wardproject/ward/internal/pki"
	"github.com/wardproject/ward/internal/store"
)

func newDeviceCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "device", Short: "Register, inspect, quarantine, revoke and retire devices"}
	cmd.AddCommand(newDeviceAddCmd(), newDeviceListCmd(), newDeviceShowCmd(), newDeviceTokenCmd(),
		newDeviceStatusCmd("revoke", "Revoke the device's certificates (published in the CRL) and disconnect it"),
		newDeviceStatusCmd("retire", "Decommission the device for good: revoke its certificates, void its token, never admit it again"),
		newDeviceStatusCmd("quarantine", "Disconnect the device and refuse it (or, with --mode restrict, confine it to quarantine/ID/#), without revoking its certificate"),
		newDeviceStatusCmd("release", "Lift a quarantine"),
		newDevicePolicyCmd(), newDeviceMetricsCmd(), newDeviceDeleteCmd(), newDeviceImportCmd(), newDeviceEventsCmd())
	return cmd
}

func newDeviceAddCmd() *cobra.Command {
	var id, model, firmware, ttl string
	var tags, pub, sub []string
	cmd := &cobra.Command{
		Use:   "add --id ID --model MODEL [--firmware VERSION]",
		Short: "Register a device and print its one-time enrollment token",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, out, err := apiOutput(cmd)
			if err != nil {
				return err
			}
			var res api.EnrollmentResponse
			req := api.AddDeviceRequest{ID: id, Model: model, Firmware: firmware, Tags: tags, TokenTTL: ttl,
				Policy: store.Policy{Publish: pub, Subscribe: sub}}
			if err := c.Post(cmd.Context(), "/api/v1/devices", req, &res); err != nil {
				return err
			}
			return printEnrollment(cmd, out, res)
		},
	}
	cmd.Flags().StringVar(&id, "id", "", "device ID: letters, digits, '.', '_', '-' (required)")
	cmd.Flags().StringVar(&model, "model", "", "device model (required)")
	cmd.Flags().StringVar(&firmware, "firmware", "", "firmware version")
	cmd.Flags().StringSliceVar(&tags, "tag", nil, "tag (repeatable)")
	cmd.Flags().StringSliceVar(&pub, "allow-publish", nil, "extra topic filter the device may publish to ({id} = device ID)")
	cmd.Flags().StringSliceVar(&sub, "allow-subscribe", nil, "extra topic filter the device may subscribe to ({id} = device ID)")
	cmd.Flags().StringVar(&ttl, "token-ttl", "", "enrollment token lifetime (default: the server's, 24h)")
	cmd.MarkFlagRequired("id")
	cmd.MarkFlagRequired("model")
	addClientFlags(cmd, true)
	return cmd
}

func printEnrollment(cmd *cobra.Command, out string, res api.EnrollmentResponse) error {
	if out == "json" {
		return printJSON(cmd.OutOrStdout(), res)
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "device:    %s (model %s, firmware %s, status %s)\n", res.ID, res.Model, res.Firmware, res.Status)
	fmt.Fprintf(w, "token:     %s\n", res.Token)
	fmt.Fprintf(w, "expires:   %s (single use)\n", fmtTime(res.TokenExpiresAt))
	fmt.Fprintf(w, "enroll:    ward enroll --server SERVER --ca ca.pem --id %s --token TOKEN\n", res.ID)
	return nil
}

func newDeviceTokenCmd() *cobra.Command {
	var ttl string
	cmd := &cobra.Command{
		Use:   "token ID",
		Short: "Issue a new one-time enrollment token (replaces the previous one; re-enrolls a revoked device)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, out, err := apiOutput(cmd)
			if err != nil {
				return err
			}
			var res api.EnrollmentResponse
			if err := c.Post(cmd.Context(), "/api/v1/devices/"+pathEscape(args[0])+"/token", api.TokenTTLRequest{TokenTTL: ttl}, &res); err != nil {
				return err
			}
			return printEnrollment(cmd, out, res)
		},
	}
	cmd.Flags().StringVar(&ttl, "token-ttl", "", "enrollment token lifetime")
	addClientFlags(cmd, true)
	return cmd
}

func activeCert(v fleet.View) (serial, notAfter string) {
	for _, c := range v.Certificates {
		if !c.Revoked() {
			return c.Serial, fmtTime(c.NotAfter)
		}
	}
	return "-", "-"
}

func connState(n int) string {
	switch n {
	case 0:
		return "offline"
	case 1:
		return "online"
	}
	return "online(" + strconv.Itoa(n) + ")"
}

func newDeviceListCmd() *cobra.Command {
	var f struct {
		search, status, model, tag, after string
		connected, all                    bool
		limit                             int
	}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List devices with status, certificate, last seen and connection state",
		Long: `List devices, ordered by ID, filtered by --search, --status, --model, --tag
and --connected (all must hold).

Without --limit every matching device is listed (read from the server a
thousand at a time). With --limit N one page of N is listed and, when more
match, the command to get the next one is printed on stderr
("next page: --after CURSOR"); --all with --limit follows every page.`,
		Example: `  ward device list --status quarantined
  ward device list --model acme-th1 --connected=false
  ward device list --tag floor-2 --limit 50
  ward device list --tag floor-2 --limit 50 --after ZC0wNDk`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, out, err := apiOutput(cmd)
			if err != nil {
				return err
			}
			q := url.Values{}
			for _, p := range []struct{ name, v string }{{"q", f.search}, {"status", f.status}, {"model", f.model}, {"tag", f.tag}, {"after", f.after}} {
				if p.v != "" {
					q.Set(p.name, p.v)
				}
			}
			if cmd.Flags().Changed("connected") {
				q.Set("connected", strconv.FormatBool(f.connected))
			}
			switch {
			case cmd.Flags().Changed("limit"):
				if f.limit < 1 || f.limit > api.MaxDevicePage {
					return fmt.Errorf("--limit %d: give a page size from 1 to %d", f.limit, api.MaxDevicePage)
				}
				q.Set("limit", strconv.Itoa(f.limit))
			default:
				q.Set("limit", strconv.Itoa(api.MaxDevicePage))
				f.all = true
			}
			var vs []fleet.View
			path := "/api/v1/devices?" + q.Encode()
			for path != "" {
				var page []fleet.View
				next, err := c.GetPage(cmd.Context(), path, &page)
				if err != nil {
					return err
				}
				vs = append(vs, page...)
				path = ""
				if next != "" && f.all {
					path = next
				} else if next != "" {
					if u, err := url.Parse(next); err == nil {
						fmt.Fprintf(cmd.ErrOrStderr(), "next page: --after %s\n", u.Query().Get("after"))
					}
				}
			}
			if vs == nil {
				vs = []fleet.View{}
			}
			if out == "json" {
				return printJSON(cmd.OutOrStdout(), vs)
			}
			rows := make([][]string, 0, len(vs))
			for _, v := range vs {
				serial, na := activeCert(v)
				rows = append(rows, []string{v.ID, v.Model, v.Firmware, statusText(v.Device), connState(v.Connected), fmtTime(v.LastSeen), serial, na})
			}
			return table(cmd.OutOrStdout(), []string{"ID", "MODEL", "FIRMWARE", "STATUS", "CONNECTION", "LAST SEEN", "CERT SERIAL", "NOT AFTER"}, rows)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.search, "search", "", "only devices whose ID, model or a tag contains this text (case-insensitive)")
	fl.StringVar(&f.status, "status", "", "only devices in this state: pending, active, quarantined, revoked or retired")
	fl.StringVar(&f.model, "model", "", "only devices of this model")
	fl.StringVar(&f.tag, "tag", "", "only devices with this tag")
	fl.BoolVar(&f.connected, "connected", false, "only devices connected now (--connected=false: only those not connected)")
	fl.IntVar(&f.limit, "limit", 0, fmt.Sprintf("list one page of this many devices (1-%d) and print the next page's --after on stderr", api.MaxDevicePage))
	fl.StringVar(&f.after, "after", "", "start after this cursor (printed as \"next page: --after CURSOR\")")
	fl.BoolVar(&f.all, "all", false, "with --limit: follow every page to the end")
	_ = cmd.RegisterFlagCompletionFunc("status", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"pending", "active", "quarantined", "revoked", "retired"}, cobra.ShellCompDirectiveNoFileComp
	})
	addClientFlags(cmd, true)
	return cmd
}

func newDeviceShowCmd() *cobra.Command {
	var events int
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show a device: status, certificates, connection state and recent events",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, out, err := apiOutput(cmd)
			if err != nil {
				return err
			}
			var v fleet.View
			if err := c.Get(cmd.Context(), fmt.Sprintf("/api/v1/devices/%s?events=%d", pathEscape(args[0]), events), &v); err != nil {
				return err
			}
			if out == "json" {
				return printJSON(cmd.OutOrStdout(), v)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "ID:          %s\nModel:       %s\nFirmware:    %s\nStatus:      %s\nConnection:  %s\nLast seen:   %s\nRegistered:  %s\n",
				v.ID, v.Model, v.Firmware, statusText(v.Device), connState(v.Connected), fmtTime(v.LastSeen), fmtTime(v.CreatedAt))
			if len(v.Tags) > 0 {
				fmt.Fprintf(w, "Tags:        %s\n", strings.Join(v.Tags, ", "))
			}
			if p := v.Policy; len(p.Publish)+len(p.Subscribe) > 0 {
				fmt.Fprintf(w, "Grants:      publish %v, subscribe %v\n", p.Publish, p.Subscribe)
			}
			fmt.Fprintln(w, "\nCertificates:")
			rows := [][]string{}
			for _, c := range v.Certificates {
				st := "valid"
				if c.Revoked() {
					st = "revoked " + fmtTime(c.RevokedAt) + " (" + c.RevokeReason + ")"
				}
				rows = append(rows, []string{c.Serial, fmtTime(c.NotBefore), fmtTime(c.NotAfter), st})
			}
			table(w, []string{"  SERIAL", "NOT BEFORE", "NOT AFTER", "STATE"}, indent(rows))
			fmt.Fprintln(w, "\nRecent events:")
			rows = rows[:0]
			for _, e := range v.Events {
				rows = append(rows, []string{fmtTime(e.Time), e.Kind, detail(e.Detail)})
			}
			return table(w, []string{"  TIME", "EVENT", "DETAIL"}, indent(rows))
		},
	}
	cmd.Flags().IntVar(&events, "events", 20, "number of recent events to show")
	addClientFlags(cmd, true)
	return cmd
}

func indent(rows [][]string) [][]string {
	for _, r := range rows {
		if len(r) > 0 {
			r[0] = "  " + r[0]
		}
	}
	return rows
}

func detail(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, " ")
}

// statusText is the device's status for tables, with the quarantine mode.
func statusText(d store.Device) string {
	if d.Quarantine != "" {
		return fmt.Sprintf("%s (%s)", d.Status, d.Quarantine)
	}
	return string(d.Status)
}

func newDeviceStatusCmd(verb, short string) *cobra.Command {
	var reason, mode string
	cmd := &cobra.Command{
		Use:   verb + " ID",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, out, err := apiOutput(cmd)
			if err != nil {
				return err
			}
			var body any
			if verb != "release" {
				body = api.ReasonRequest{Reason: reason, Mode: store.QuarantineMode(mode)}
			}
			var res api.RevokeResponse
			if err := c.Post(cmd.Context(), "/api/v1/devices/"+pathEscape(args[0])+"/"+verb, body, &res); err != nil {
				return err
			}
			if out == "json" {
				if verb == "revoke" || verb == "retire" {
					return printJSON(cmd.OutOrStdout(), res)
				}
				return printJSON(cmd.OutOrStdout(), res.Device)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "device %s is now %s\n", res.ID, statusText(res.Device))
			if verb == "revoke" || verb == "retire" {
				fmt.Fprintf(cmd.OutOrStdout(), "revoked certificates: %s\n", strings.Join(res.RevokedSerials, ", "))
			}
			return nil
		},
	}
	if verb == "quarantine" {
		cmd.Flags().StringVar(&mode, "mode", "refuse", "refuse: disconnect and refuse the device; restrict: disconnect, then admit it to quarantine/ID/# only")
	}
	if verb != "release" {
		if verb == "quarantine" {
			cmd.Flags().StringVar(&reason, "reason", "", "why (recorded in the device's events)")
		} else {
			cmd.Flags().StringVar(&reason, "reason", "", "the CRL reason, RFC 5280, any case: "+strings.Join(pki.RevocationReasons, ", ")+" (default: unspecified; retire: cessationOfOperation)")
		}
	}
	addClientFlags(cmd, true)
	return cmd
}
