package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/wardproject/ward/internal/alert"
	"github.com/wardproject/ward/internal/client"
	"github.com/wardproject/ward/internal/store"
)

// followStream prints what a list command shows, then each change the live
// stream (GET /api/v1/stream?query) brings, until Ctrl-C (exit 0). The
// stream is opened before the list is read, so that nothing raised in
// between is missed; after a cut, Follow resumes with Last-Event-ID, and
// after a reset (the server no longer has what was missed) the list is
// printed again.
func followStream(cmd *cobra.Command, c *client.Client, query url.Values, list func() error, each func(e client.Event) error) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := c.Follow(ctx, "/api/v1/stream?"+query.Encode(), client.FollowOptions{
		Opened: func(first bool) error {
			if first {
				return list()
			}
			return nil
		},
	}, func(e client.Event) error {
		switch e.Type {
		case "reset":
			fmt.Fprintln(cmd.ErrOrStderr(), "ward: the live stream was cut for too long; listing again")
			return list()
		case "overflow":
			fmt.Fprintln(cmd.ErrOrStderr(), "ward: this terminal fell behind the live stream; resuming")
			return nil
		}
		return each(e)
	})
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil // Ctrl-C, or the caller's context: a clean end
	}
	return err
}

// alertLine is one alert change in table mode.
func alertLine(change string, a alert.Alert) string {
	return strings.Join([]string{change, a.ID, a.Device, a.Rule, string(a.Severity), string(a.State), fmtTime(a.RaisedAt),
		strconv.Itoa(a.Count), a.Description}, "  ")
}

// printAlertChange prints one alert event of the stream: the notification
// as one JSON line, or one table line; alerts the list's filters exclude
// are skipped.
func printAlertChange(cmd *cobra.Command, out string, e client.Event, keep func(alert.Alert) bool) error {
	if e.Type != "alert" {
		return nil
	}
	var n alert.Notification
	if err := json.Unmarshal(e.Data, &n); err != nil {
		return fmt.Errorf("live stream: alert event %s: %w", e.ID, err)
	}
	if !keep(n.Alert) {
		return nil
	}
	if out == "json" {
		return json.NewEncoder(cmd.OutOrStdout()).Encode(n)
	}
	_, err := fmt.Fprintln(cmd.OutOrStdout(), alertLine(string(n.Change), n.Alert))
	return err
}

// printDeviceEvent prints one device event of the stream.
func printDeviceEvent(cmd *cobra.Command, out string, e client.Event) error {
	if e.Type != "device" && e.Type != "event" {
		return nil
	}
	var ev store.Event
	if err := json.Unmarshal(e.Data, &ev); err != nil {
		return fmt.Errorf("live stream: device event %s: %w", e.ID, err)
	}
	if out == "json" {
		return json.NewEncoder(cmd.OutOrStdout()).Encode(ev)
	}
	_, err := fmt.Fprintln(cmd.OutOrStdout(), deviceEventLine(ev))
	return err
}
