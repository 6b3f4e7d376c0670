package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/wardproject/ward/internal/alert"
	"github.com/wardproject/ward/internal/api"
	"github.com/wardproject/ward/internal/auditlog"
	"github.com/wardproject/ward/internal/client"
	"github.com/wardproject/ward/internal/detect"
	"github.com/wardproject/ward/internal/store"
)

func newAlertCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "alert", Short: "List, acknowledge, clear and mitigate security alerts"}
	var state, device, rule string
	var limit int
	var follow bool
	list := &cobra.Command{
		Use: "list [--state open|acknowledged|cleared|active] [--device ID] [--follow]", Short: "List alerts, newest first; --follow prints each change live", Args: cobra.NoArgs,
		Long: "List alerts, newest first. With --follow, then print each new or changed alert as it happens (from the server's live stream, GET /api/v1/stream), " +
			"one line each in table mode (the change first) or one JSON object per line with -o json ({\"change\", \"time\", \"alert\"}), until Ctrl-C. " +
			"A cut stream is resumed without losing changes.",
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, out, err := apiOutput(cmd)
			if err != nil {
				return err
			}
			q := url.Values{}
			for k, v := range map[string]string{"state": state, "device": device, "rule": rule} {
				if v != "" {
					q.Set(k, v)
				}
			}
			q.Set("limit", strconv.Itoa(limit))
			if !follow {
				return printAlerts(cmd, c, out, q)
			}
			keep, err := alertKeep(state, rule)
			if err != nil {
				return err
			}
			sq := url.Values{"types": {"alert"}}
			if device != "" {
				sq.Set("device", device)
			}
			return followStream(cmd, c, sq, func() error { return printAlerts(cmd, c, out, q) },
				func(e client.Event) error { return printAlertChange(cmd, out, e, keep) })
		},
	}
	list.Flags().StringVar(&state, "state", "", "open, acknowledged, cleared or active (open + acknowledged); comma-separated")
	list.Flags().StringVar(&device, "device", "", "only this device's alerts")
	list.Flags().StringVar(&rule, "rule", "", "only this rule's alerts")
	list.Flags().IntVar(&limit, "limit", 1000, "at most this many")
	list.Flags().BoolVarP(&follow, "follow", "f", false, "after the list, print each new or changed alert as it happens, until Ctrl-C")
	addClientFlags(list, true)

	show := &cobra.Command{
		Use: "show ID", Short: "Show one alert with its evidence", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, out, err := apiOutput(cmd)
			if err != nil {
				return err
			}
			var a alert.Alert
			if err := c.Get(cmd.Context(), "/api/v1/alerts/"+pathEscape(args[0]), &a); err != nil {
				return err
			}
			if out == "json" {
				return printJSON(cmd.OutOrStdout(), a)
			}
			return printAlert(cmd.OutOrStdout(), a)
		},
	}
	addClientFlags(show, true)
	cmd.AddCommand(list, show, alertVerb("ack", "Acknowledge an alert"), alertVerb("clear", "Clear (close) an alert"), newMitigateCmd())
	return cmd
}

// printAlert prints one alert for a reader: its fields, then its evidence
// as indented JSON (its shape depends on the rule).
func printAlert(w io.Writer, a alert.Alert) error {
	rows := [][]string{{"ID:", a.ID}, {"Device:", a.Device}, {"Rule:", a.Rule + " (" + a.Source + ")"}, {"Severity:", string(a.Severity)},
		{"State:", string(a.State)}, {"Title:", a.Title}, {"Raised:", fmtTime(a.RaisedAt)}, {"Updated:", fmtTime(a.UpdatedAt)}, {"Count:", strconv.Itoa(a.Count)}}
	if a.Description != "" {
		rows = append(rows, []string{"Description:", a.Description})
	}
	if len(a.MITRE) > 0 {
		rows = append(rows, []string{"MITRE ATT&CK:", strings.Join(a.MITRE, ", ")})
	}
	if !a.AcknowledgedAt.IsZero() {
		rows = append(rows, []string{"Acknowledged:", fmtTime(a.AcknowledgedAt) + " by " + a.AcknowledgedBy})
	}
	if !a.ClearedAt.IsZero() {
		rows = append(rows, []string{"Cleared:", fmtTime(a.ClearedAt) + " by " + a.ClearedBy})
	}
	if len(a.Mitigations) > 0 {
		rows = append(rows, []string{"Mitigations:", strings.Join(a.Mitigations, ", ")})
	}
	if err := table(w, nil, rows); err != nil {
		return err
	}
	fmt.Fprintln(w, "Evidence:")
	ev, err := json.MarshalIndent(a.Evidence, "  ", "  ")
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "  %s\n", ev)
	return nil
}

// printAlerts prints the alerts the query selects, as a table or JSON.
func printAlerts(cmd *cobra.Command, c *client.Client, out string, q url.Values) error {
	var as []alert.Alert
	if err := c.Get(cmd.Context(), "/api/v1/alerts?"+q.Encode(), &as); err != nil {
		return err
	}
	if out == "json" {
		if as == nil {
			as = []alert.Alert{}
		}
		return printJSON(cmd.OutOrStdout(), as)
	}
	rows := [][]string{}
	for _, a := range as {
		rows = append(rows, []string{a.ID, a.Device, a.Rule, string(a.Severity), string(a.State), fmtTime(a.RaisedAt), strconv.Itoa(a.Count), a.Description})
	}
	return table(cmd.OutOrStdout(), []string{"ID", "DEVICE", "RULE", "SEVERITY", "STATE", "RAISED", "COUNT", "EVIDENCE"}, rows)
}

// alertKeep is the --state and --rule filter of alert list, for the
// changes --follow prints (the stream filters by device only).
func alertKeep(states, rule string) (func(alert.Alert) bool, error) {
	want := map[alert.State]bool{}
	for s := range strings.SplitSeq(states, ",") {
		switch s = strings.TrimSpace(s); s {
		case "":
		case "active":
			want[alert.Open], want[alert.Acknowledged] = true, true
		case string(alert.Open), string(alert.Acknowledged), string(alert.Cleared):
			want[alert.State(s)] = true
		default:
			return nil, fmt.Errorf("--state %q: use open, acknowledged, cleared or active", s)
		}
	}
	return func(a alert.Alert) bool {
		return (len(want) == 0 || want[a.State]) && (rule == "" || a.Rule == rule)
	}, nil
}

func alertVerb(verb, short string) *cobra.Command {
	cmd := &cobra.Command{
		Use: verb + " ID", Short: short, Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, out, err := apiOutput(cmd)
			if err != nil {
				return err
			}
			var a alert.Alert
			if err := c.Post(cmd.Context(), "/api/v1/alerts/"+pathEscape(args[0])+"/"+verb, nil, &a); err != nil {
				return err
			}
			if out == "json" {
				return printJSON(cmd.OutOrStdout(), a)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "alert %s (%s on %s) is now %s\n", a.ID, a.Rule, a.Device, a.State)
			return nil
		},
	}
	addClientFlags(cmd, true)
	return cmd
}

func newMitigateCmd() *cobra.Command {
	var action string
	cmd := &cobra.Command{
		Use: "mitigate ID --action quarantine|quarantine-restrict|revoke|log-level|notify", Short: "Carry out a mitigation for an alert (recorded in the audit trail)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := apiClient(cmd)
			if err != nil {
				return err
			}
			var a alert.Alert
			if err := c.Post(cmd.Context(), "/api/v1/alerts/"+pathEscape(args[0])+"/mitigate", api.MitigateRequest{Action: action}, &a); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "alert %s: %s\n", a.ID, strings.Join(a.Mitigations, ", "))
			return nil
		},
	}
	cmd.Flags().StringVar(&action, "action", "", "quarantine, quarantine-restrict (connected, limited to quarantine/ID/#), revoke, log-level or notify (required)")
	cmd.MarkFlagRequired("action")
	addClientFlags(cmd, false)
	return cmd
}

func newProfileCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "profile", Short: "Show and replace the detection profiles (rules and baselines)"}
	var format string
	show := &cobra.Command{
		Use: "show", Short: "Print the active profiles (YAML or JSON)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := apiClient(cmd)
			if err != nil {
				return err
			}
			var ps []detect.Profile
			if err := c.Get(cmd.Context(), "/api/v1/profiles", &ps); err != nil {
				return err
			}
			if format == "json" {
				return printJSON(cmd.OutOrStdout(), ps)
			}
			enc := yaml.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent(2)
			return enc.Encode(ps)
		},
	}
	show.Flags().StringVarP(&format, "output", "o", "yaml", "yaml or json")
	addClientFlags(show, false)
	apply := &cobra.Command{
		Use: "apply FILE", Short: "Replace the profiles with those in FILE (YAML or JSON; validated first)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			if _, err := detect.ParseProfiles(data); err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			c, err := apiClient(cmd)
			if err != nil {
				return err
			}
			var ps []detect.Profile
			if err := c.DoRaw(cmd.Context(), "PUT", "/api/v1/profiles", "application/yaml", data, &ps); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d profile(s) active\n", len(ps))
			return nil
		},
	}
	addClientFlags(apply, false)
	cmd.AddCommand(show, apply)
	return cmd
}

func newDeviceMetricsCmd() *cobra.Command {
	var window string
	cmd := &cobra.Command{
		Use: "metrics ID [--window 1m|5m|1h]", Short: "Show a device's recent metric windows", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, out, err := apiOutput(cmd)
			if err != nil {
				return err
			}
			var dps []detect.Datapoint
			if err := c.Get(cmd.Context(), "/api/v1/devices/"+pathEscape(args[0])+"/metrics?window="+url.QueryEscape(window), &dps); err != nil {
				return err
			}
			if out == "json" {
				return printJSON(cmd.OutOrStdout(), dps)
			}
			cols := []string{detect.MessagesSent, detect.BytesSent, detect.MessagesReceived, detect.AuthzFailures, detect.ConnectionAttempts, detect.Disconnects, detect.DestinationIPCount}
			rows := [][]string{}
			for _, d := range dps {
				r := []string{fmtTime(d.End)}
				for _, m := range cols {
					r = append(r, strconv.FormatFloat(d.Values[m], 'f', -1, 64))
				}
				rows = append(rows, r)
			}
			return table(cmd.OutOrStdout(), append([]string{"WINDOW END"}, cols...), rows)
		},
	}
	cmd.Flags().StringVar(&window, "window", "1m", "1m, 5m or 1h (multiples of the server's detection window)")
	addClientFlags(cmd, true)
	return cmd
}

func newAuditLogCmd() *cobra.Command {
	var limit int
	var verify bool
	cmd := &cobra.Command{
		Use:   "log [--limit N] [--verify]",
		Short: "Show the hash-chained audit trail of operator and automatic actions (admin); --verify checks all of it (viewer)",
		Long: `Show the latest entries of the hash-chained audit trail (admin); a break in the
chain within the entries shown is reported as a WARNING.

With --verify (viewer), the server checks the whole trail instead, from its first
entry to its head, and holds the head to the latest checkpoint it signed with the
anchor key in its data directory (audit-anchor.key; checkpoints in
audit-anchors.jsonl and the server log). A deleted tail (truncation), deleted
entries at the start or in the middle, an altered entry or a rewritten chain make
the command fail with what was found where.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, out, err := apiOutput(cmd)
			if err != nil {
				return err
			}
			if verify {
				return verifyAuditLog(cmd, c, out)
			}
			var es []store.AuditEntry
			if err := c.Get(cmd.Context(), "/api/v1/audit-log?limit="+strconv.Itoa(limit), &es); err != nil {
				return err
			}
			oldestFirst := make([]store.AuditEntry, len(es))
			for i, e := range es {
				oldestFirst[len(es)-1-i] = e
			}
			if err := store.VerifyAudit(oldestFirst); err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "WARNING: %v (run ward audit log --verify)\n", err)
			}
			if out == "json" {
				return printJSON(cmd.OutOrStdout(), es)
			}
			rows := [][]string{}
			for _, e := range es {
				rows = append(rows, []string{strconv.FormatInt(e.Seq, 10), fmtTime(e.Time), e.Actor, e.Action, e.Target, detail(e.Detail)})
			}
			return table(cmd.OutOrStdout(), []string{"SEQ", "TIME", "ACTOR", "ACTION", "TARGET", "DETAIL"}, rows)
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 50, "entries to show")
	cmd.Flags().BoolVar(&verify, "verify", false, "verify the whole trail against the server's signed checkpoints instead of listing it")
	addClientFlags(cmd, true)
	return cmd
}

// errAuditBroken is returned when --verify finds the trail broken, so the
// command exits non-zero.
var errAuditBroken = errors.New("the audit trail does not verify")

func verifyAuditLog(cmd *cobra.Command, c *client.Client, out string) error {
	var rep auditlog.Report
	if err := c.Get(cmd.Context(), "/api/v1/audit-log/verify", &rep); err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	if out == "json" {
		if err := printJSON(w, rep); err != nil {
			return err
		}
	} else if rep.OK {
		fmt.Fprintf(w, "audit trail verified: %d entries, 1 to %d, head %s\n", rep.Entries, rep.HeadSeq, short(rep.HeadHash))
		if cp := rep.Checkpoint; cp != nil {
			fmt.Fprintf(w, "latest signed checkpoint: entry %d (%s) at %s, key %s\n", cp.Seq, short(cp.Hash), fmtTime(cp.Time), cp.Key)
		} else {
			fmt.Fprintf(w, "no signed checkpoint yet (the trail is empty), key %s\n", rep.KeyID)
		}
	}
	if !rep.OK {
		return fmt.Errorf("%w: %s: %s", errAuditBroken, rep.Problem, rep.Message)
	}
	return nil
}

func short(h string) string {
	if len(h) > 16 {
		return h[:16] + "..."
	}
	return h
}
