package main

import (
	"fmt"
	"io"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/wardproject/ward/internal/rollout"
)

func newRolloutCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "rollout", Short: "Staged firmware rollouts: create, follow, pause, resume, abort, next wave"}
	cmd.AddCommand(newRolloutCreateCmd(), newRolloutListCmd(), newRolloutShowCmd(), newRolloutWatchCmd(),
		rolloutVerb("pause", "Pause a rollout: no more orders, no wave advances (reports are still recorded)"),
		rolloutVerb("resume", "Resume a paused or halted rollout (its gates are checked again at once)"),
		rolloutVerb("abort", "Abort a rollout: pending devices are aborted and get no orders"),
		rolloutVerb("next", "Start the next wave now, whatever the gates say"))
	return cmd
}

func newRolloutCreateCmd() *cobra.Command {
	var spec rollout.Spec
	var waves, maxFailure string
	cmd := &cobra.Command{
		Use:   "create --model MODEL --version VERSION --waves 1%,10%,50%,100% --max-failure 2% --halt-on-alerts high [--soak 10m]",
		Short: "Start a staged rollout of a release published in the TUF repository",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, out, err := apiOutput(cmd)
			if err != nil {
				return err
			}
			if spec.Waves, err = rollout.ParseWaves(waves); err != nil {
				return fmt.Errorf("--waves: %w", err)
			}
			if spec.MaxFailure, err = rollout.ParsePercent(maxFailure); err != nil {
				return fmt.Errorf("--max-failure: %w", err)
			}
			var v rollout.View
			if err := c.Post(cmd.Context(), "/api/v1/rollouts", spec, &v); err != nil {
				return err
			}
			if out == "json" {
				return printJSON(cmd.OutOrStdout(), v)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "rollout %s created: %s %s, waves %s, wave %d %s\nfollow it with: ward rollout watch %s\n",
				v.ID, v.Model, v.Version, rollout.FormatWaves(v.Waves), v.Wave, v.Status, v.ID)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&spec.Model, "model", "", "device model (required)")
	f.StringVar(&spec.Version, "version", "", "firmware version, published with ward firmware publish (required)")
	f.StringVar(&waves, "waves", "1%,10%,50%,100%", "cumulative share of the model's devices in each wave")
	f.StringVar(&maxFailure, "max-failure", "2%", "share of a wave that may fail before the rollout halts")
	f.StringVar(&spec.HaltOnAlerts, "halt-on-alerts", "high", "alert severity on an updated device that halts the rollout: low, medium, high, critical or none")
	f.StringVar(&spec.Soak, "soak", "10m", "how long a wave's updated devices must stay healthy before the next wave")
	cmd.MarkFlagRequired("model")
	cmd.MarkFlagRequired("version")
	addClientFlags(cmd, true)
	return cmd
}

func newRolloutListCmd() *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use: "list", Short: "List rollouts, newest first", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, out, err := apiOutput(cmd)
			if err != nil {
				return err
			}
			var vs []rollout.View
			if err := c.Get(cmd.Context(), "/api/v1/rollouts?limit="+strconv.Itoa(limit), &vs); err != nil {
				return err
			}
			if out == "json" {
				if vs == nil {
					vs = []rollout.View{}
				}
				return printJSON(cmd.OutOrStdout(), vs)
			}
			rows := [][]string{}
			for _, v := range vs {
				rows = append(rows, []string{v.ID, v.Model, v.Version, v.Status, fmt.Sprintf("%d/%d", v.Wave, len(v.Waves)),
					countsText(v.Devices), fmtTime(v.CreatedAt), v.Reason})
			}
			return table(cmd.OutOrStdout(), []string{"ID", "MODEL", "VERSION", "STATUS", "WAVE", "DEVICES", "CREATED", "REASON"}, rows)
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 100, "at most this many (1-1000)")
	addClientFlags(cmd, true)
	return cmd
}

// countsText renders per-state counts in a fixed order: "installed 3, pending 2".
func countsText(m map[string]int) string {
	var parts []string
	for _, s := range []string{"installed", "failed", "installing", "downloading", "pending", "skipped", "aborted"} {
		if m[s] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", s, m[s]))
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

func newRolloutShowCmd() *cobra.Command {
	var state, after string
	var limit int
	cmd := &cobra.Command{
		Use: "show ID [--state failed] [--limit N] [--after DEVICE]", Short: "Show a rollout: its waves, history and devices", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, out, err := apiOutput(cmd)
			if err != nil {
				return err
			}
			q := url.Values{"limit": {strconv.Itoa(limit)}}
			if state != "" {
				q.Set("state", state)
			}
			if after != "" {
				q.Set("after", after)
			}
			var d rollout.Detail
			if err := c.Get(cmd.Context(), "/api/v1/rollouts/"+pathEscape(args[0])+"?"+q.Encode(), &d); err != nil {
				return err
			}
			if out == "json" {
				return printJSON(cmd.OutOrStdout(), d)
			}
			return printDetail(cmd.OutOrStdout(), d)
		},
	}
	cmd.Flags().StringVar(&state, "state", "", "only devices in these states (comma-separated: pending, downloading, installing, installed, failed, skipped, aborted)")
	cmd.Flags().StringVar(&after, "after", "", "list devices after this device ID (the next page)")
	cmd.Flags().IntVar(&limit, "limit", 100, "devices per page (1-1000)")
	addClientFlags(cmd, true)
	return cmd
}

func printDetail(w io.Writer, d rollout.Detail) error {
	fmt.Fprintf(w, "rollout %s: %s %s, %s, wave %d of %d\n", d.ID, d.Model, d.Version, d.Status, d.Wave, len(d.Waves))
	if d.Reason != "" {
		fmt.Fprintf(w, "reason: %s\n", d.Reason)
	}
	fmt.Fprintf(w, "waves %s, max-failure %s%%, halt-on-alerts %s, soak %s, created by %s at %s\n\n",
		rollout.FormatWaves(d.Waves), strconv.FormatFloat(d.MaxFailure, 'f', -1, 64), orDash(d.HaltOnAlerts), d.Soak, d.CreatedBy, fmtTime(d.CreatedAt))
	rows := [][]string{}
	for _, c := range d.WaveCounts {
		rows = append(rows, []string{strconv.Itoa(c.Wave), strconv.FormatFloat(c.Percent, 'f', -1, 64) + "%", strconv.Itoa(c.Total), countsText(c.States), fmtTime(c.LastInstalledAt)})
	}
	if err := table(w, []string{"WAVE", "UP TO", "DEVICES", "STATES", "LAST INSTALL"}, rows); err != nil {
		return err
	}
	fmt.Fprintln(w)
	rows = [][]string{}
	for _, h := range d.History {
		rows = append(rows, []string{fmtTime(h.Time), h.Action, h.Actor, h.Status, strconv.Itoa(h.Wave), h.Reason})
	}
	if err := table(w, []string{"TIME", "ACTION", "ACTOR", "STATUS", "WAVE", "REASON"}, rows); err != nil {
		return err
	}
	fmt.Fprintln(w)
	rows = [][]string{}
	for _, x := range d.DeviceList {
		rows = append(rows, []string{x.Device, strconv.Itoa(x.Wave), x.State, x.FromVersion, fmtTime(x.UpdatedAt), x.Reason})
	}
	if err := table(w, []string{"DEVICE", "WAVE", "STATE", "FROM", "UPDATED", "REASON"}, rows); err != nil {
		return err
	}
	if d.Next != "" {
		fmt.Fprintf(w, "\nmore devices: ward rollout show %s --after %s\n", d.ID, d.Next)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func rolloutVerb(verb, short string) *cobra.Command {
	cmd := &cobra.Command{
		Use: verb + " ID", Short: short, Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, out, err := apiOutput(cmd)
			if err != nil {
				return err
			}
			var v rollout.View
			if err := c.Post(cmd.Context(), "/api/v1/rollouts/"+pathEscape(args[0])+"/"+verb, nil, &v); err != nil {
				return err
			}
			if out == "json" {
				return printJSON(cmd.OutOrStdout(), v)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "rollout %s: %s, wave %d of %d (%s)\n", v.ID, v.Status, v.Wave, len(v.Waves), countsText(v.Devices))
			return nil
		},
	}
	addClientFlags(cmd, true)
	return cmd
}

// errRolloutStopped is returned by watch when the rollout halts or is
// aborted, so that the command exits non-zero.
type errRolloutStopped struct{ v rollout.View }

func (e errRolloutStopped) Error() string {
	msg := fmt.Sprintf("rollout %s %s in wave %d", e.v.ID, e.v.Status, e.v.Wave)
	if e.v.Reason != "" {
		msg += ": " + e.v.Reason
	}
	if e.v.Status == "halted" {
		msg += fmt.Sprintf(" (inspect: ward rollout show %s --state failed; then resume, next or abort)", e.v.ID)
	}
	return msg
}

func newRolloutWatchCmd() *cobra.Command {
	var every time.Duration
	cmd := &cobra.Command{
		Use:   "watch ID",
		Short: "Follow a rollout until it completes (exit 0), halts or is aborted (exit 1)",
		Long: "Follow a rollout: on a terminal, a progress bar of the devices updated so far; in a pipe, one line per change. " +
			"Exits 0 when the rollout completes, 1 when it halts or is aborted.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := apiClient(cmd)
			if err != nil {
				return err
			}
			if every < 100*time.Millisecond {
				return fmt.Errorf("--interval %s: at least 100ms", every)
			}
			w := cmd.OutOrStdout()
			f, ok := w.(*os.File)
			tty := ok && term.IsTerminal(int(f.Fd()))
			var bar *progressbar.ProgressBar
			last := ""
			tick := time.NewTicker(every)
			defer tick.Stop()
			for {
				var v rollout.View
				if err := c.Get(cmd.Context(), "/api/v1/rollouts/"+pathEscape(args[0]), &v); err != nil {
					return err
				}
				total := 0
				for _, n := range v.Devices {
					total += n
				}
				done := v.Devices["installed"] + v.Devices["skipped"]
				line := fmt.Sprintf("%s %s wave %d/%d: %s", v.ID, v.Status, v.Wave, len(v.Waves), countsText(v.Devices))
				if tty {
					if bar == nil {
						bar = progressbar.NewOptions(max(total, 1), progressbar.OptionSetWriter(w), progressbar.OptionShowCount(),
							progressbar.OptionSetWidth(30), progressbar.OptionClearOnFinish())
					}
					bar.Describe(fmt.Sprintf("%s wave %d/%d %s", v.Status, v.Wave, len(v.Waves), shortCounts(v.Devices)))
					bar.Set(done)
				} else if line != last {
					fmt.Fprintln(w, time.Now().UTC().Format(time.RFC3339)+" "+line)
				}
				last = line
				switch v.Status {
				case "completed":
					if bar != nil {
						bar.Finish()
						fmt.Fprintln(w, line)
					}
					return nil
				case "halted", "aborted":
					if bar != nil {
						fmt.Fprintln(w)
					}
					return errRolloutStopped{v}
				}
				select {
				case <-cmd.Context().Done():
					return cmd.Context().Err()
				case <-tick.C:
				}
			}
		},
	}
	cmd.Flags().DurationVar(&every, "interval", 2*time.Second, "how often to ask the server")
	addClientFlags(cmd, false)
	return cmd
}

// shortCounts renders the failed and in-progress counts for the bar.
func shortCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		if k != "installed" && k != "skipped" && m[k] > 0 {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, " ")
}
