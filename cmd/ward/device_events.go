package main

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wardproject/ward/internal/client"
	"github.com/wardproject/ward/internal/store"
)

func newDeviceEventsCmd() *cobra.Command {
	var limit int
	var follow bool
	cmd := &cobra.Command{
		Use:   "events ID [--limit N] [--follow]",
		Short: "Show a device's latest events, oldest first; --follow prints each new one live",
		Long: "Show a device's latest events, oldest first (connections, refusals, ACL denials, limits, enrollment, quarantine, revocation). " +
			"With --follow, then print each new event as it happens (from the server's live stream, GET /api/v1/stream), " +
			"one line each in table mode or one JSON object per line with -o json, until Ctrl-C. A cut stream is resumed without losing events.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, out, err := apiOutput(cmd)
			if err != nil {
				return err
			}
			if limit < 1 || limit > 10000 {
				return fmt.Errorf("--limit %d: use 1 to 10000", limit)
			}
			id := args[0]
			list := func() error { return printDeviceEvents(cmd, c, out, id, limit) }
			if !follow {
				return list()
			}
			q := url.Values{"types": {"device,event"}, "device": {id}}
			return followStream(cmd, c, q, list, func(e client.Event) error { return printDeviceEvent(cmd, out, e) })
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 100, "how many of the latest events (1-10000)")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "after the list, print each new event as it happens, until Ctrl-C")
	addClientFlags(cmd, true)
	return cmd
}

// printDeviceEvents prints a device's latest events, oldest first.
func printDeviceEvents(cmd *cobra.Command, c *client.Client, out, id string, limit int) error {
	var evs []store.Event
	if err := c.Get(cmd.Context(), fmt.Sprintf("/api/v1/devices/%s/events?limit=%d", pathEscape(id), limit), &evs); err != nil {
		return err
	}
	slices.Reverse(evs) // the API answers newest first
	if out == "json" {
		if evs == nil {
			evs = []store.Event{}
		}
		return printJSON(cmd.OutOrStdout(), evs)
	}
	rows := make([][]string, 0, len(evs))
	for _, e := range evs {
		rows = append(rows, []string{fmtTime(e.Time), e.Kind, detail(e.Detail)})
	}
	return table(cmd.OutOrStdout(), []string{"TIME", "EVENT", "DETAIL"}, rows)
}

// deviceEventLine is one device event in table mode.
func deviceEventLine(e store.Event) string {
	return strings.Join([]string{fmtTime(e.Time), e.Kind, detail(e.Detail)}, "  ")
}
