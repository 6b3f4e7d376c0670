package main

import (
	"context"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/wardproject/ward/internal/alert"
	"github.com/wardproject/ward/internal/client"
	"github.com/wardproject/ward/internal/config"
	"github.com/wardproject/ward/internal/pki"
	"github.com/wardproject/ward/internal/store"
)

// completionTimeout bounds the API call behind a dynamic completion: a
// shell must never hang on TAB.
const completionTimeout = 2 * time.Second

// enumCompletions are the values offered for enum flags, by flag name;
// enumOverrides are those of one command's flag where the same name means
// something else (command path + " --" + flag).
var (
	severities      = []string{string(alert.Critical), string(alert.High), string(alert.Medium), string(alert.Low)}
	enumCompletions = map[string][]string{
		"role":           {string(store.RoleAdmin), string(store.RoleOperator), string(store.RoleViewer), string(store.RoleProvisioning)},
		"status":         {string(store.StatusPending), string(store.StatusActive), string(store.StatusQuarantined), string(store.StatusRevoked), string(store.StatusRetired)},
		"severity":       {string(alert.Critical), string(alert.High), string(alert.Medium), string(alert.Low)},
		"state":          {string(alert.Open), string(alert.Acknowledged), string(alert.Cleared), "active"},
		"mode":           {"refuse", "restrict"},
		"reason":         pki.RevocationReasons,
		"output":         {"table", "json"},
		"format":         reportFormats,
		"window":         {"1m", "5m", "1h"},
		"halt-on-alerts": append(slices.Clone(severities), "none"),
		"action":         {"quarantine", "quarantine-restrict", "revoke", "log-level", "notify"},
	}
	enumOverrides = map[string][]string{
		"ward rollout show --state":       {"pending", "downloading", "installing", "installed", "failed", "skipped", "aborted"},
		"ward update keys rotate --role":  {"root", "targets", "snapshot", "timestamp", "models/"},
		"ward audit suppress --reason":    nil, // free text: why the risk is accepted
		"ward device quarantine --reason": nil, // free text: why
		"ward report --output":            nil, // a file (an alias of --out)
		"ward serve --log-format":         {"text", "json"},
		"ward serve --role":               config.Roles,
		"ward profile show --output":      {"yaml", "json"},
		"ward ids analyze --output":       {"text", "json"},
		"ward ids eval --output":          {"text", "json"},
		"ward ids sniff --output":         {"text", "json"},
	}
)

// addCompletions wires shell completion into the command tree: device IDs
// for the ID argument of ward device commands, alert IDs for ward alert
// commands (both fetched from the API with the current context, within
// completionTimeout, nothing on error), and the values of enum flags.
func addCompletions(root *cobra.Command) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if c.ValidArgsFunction == nil && takesID(c) {
			switch c.Parent().Name() {
			case "device":
				c.ValidArgsFunction = completeIDs(listDeviceIDs)
			case "alert":
				c.ValidArgsFunction = completeIDs(listAlertIDs)
			}
		}
		c.Flags().VisitAll(func(f *pflag.Flag) {
			values, ok := enumOverrides[c.CommandPath()+" --"+f.Name]
			if !ok {
				values, ok = enumCompletions[f.Name]
			}
			if !ok || values == nil {
				return
			}
			if _, exists := c.GetFlagCompletionFunc(f.Name); exists {
				return
			}
			_ = c.RegisterFlagCompletionFunc(f.Name, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
		})
	}
	walk(root)
}

// takesID reports whether a command's first argument is an ID (its Use
// reads "verb ID ..." or "verb ID|MODEL").
func takesID(c *cobra.Command) bool {
	f := strings.Fields(c.Use)
	return len(f) > 1 && c.Parent() != nil && (f[1] == "ID" || strings.HasPrefix(f[1], "ID|"))
}

// completeIDs completes the first argument from list; later arguments
// and failures complete nothing (no file names either).
func completeIDs(list func(ctx context.Context, cmd *cobra.Command, prefix string) ([]string, error)) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx, cancel := context.WithTimeout(cmd.Context(), completionTimeout)
		defer cancel()
		ids, err := list(ctx, cmd, toComplete)
		if err != nil {
			cobra.CompDebugln("ward: completion: "+err.Error(), false)
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ids = slices.DeleteFunc(ids, func(id string) bool { return !strings.HasPrefix(id, toComplete) })
		slices.Sort(ids)
		return slices.Compact(ids), cobra.ShellCompDirectiveNoFileComp
	}
}

// completionClient is the API client of the command being completed: its
// flags so far, the environment, the current context.
func completionClient(cmd *cobra.Command) (*client.Client, error) {
	cc, err := config.LoadClient(cmd.Flags(), os.Environ(), true)
	if err != nil {
		return nil, err
	}
	return newClient(cc)
}

// maxCompletions bounds the candidates fetched for one completion.
const maxCompletions = 500

func listDeviceIDs(ctx context.Context, cmd *cobra.Command, prefix string) ([]string, error) {
	c, err := completionClient(cmd)
	if err != nil {
		return nil, err
	}
	var devs []struct {
		ID string `json:"id"`
	}
	q := url.Values{"limit": {strconv.Itoa(maxCompletions)}}
	if prefix != "" {
		q.Set("q", prefix) // searched in IDs, models and tags: the prefix test below keeps IDs
	}
	if err := c.Get(ctx, "/api/v1/devices?"+q.Encode(), &devs); err != nil {
		return nil, err
	}
	ids := make([]string, len(devs))
	for i, d := range devs {
		ids[i] = d.ID
	}
	return ids, nil
}

func listAlertIDs(ctx context.Context, cmd *cobra.Command, _ string) ([]string, error) {
	c, err := completionClient(cmd)
	if err != nil {
		return nil, err
	}
	var as []struct {
		ID string `json:"id"`
	}
	if err := c.Get(ctx, "/api/v1/alerts?limit="+strconv.Itoa(maxCompletions), &as); err != nil {
		return nil, err
	}
	ids := make([]string, len(as))
	for i, a := range as {
		ids[i] = a.ID
	}
	return ids, nil
}
