package main

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wardproject/ward/internal/api"
	"github.com/wardproject/ward/internal/fleet"
	"github.com/wardproject/ward/internal/store"
)

// policyLimitFlags are the limit flags of ward device policy, with the
// policy member each sets.
var policyLimitFlags = []struct{ flag, member string }{
	{"max-message-bytes", "max_message_bytes"},
	{"messages-per-second", "messages_per_second"},
	{"bytes-per-second", "bytes_per_second"},
	{"connects-per-minute", "connects_per_minute"},
}

func newDevicePolicyCmd() *cobra.Command {
	var pub, sub, unpub, unsub []string
	var maxBytes, cpm int
	var mps, bps float64
	var model, replace, dryRun bool
	cmd := &cobra.Command{
		Use:   "policy ID|MODEL [flags]",
		Short: "Change a device's (or with --model, a model's) topic grants and limit overrides: only the fields given",
		Long: `Changes only what the flags name: --messages-per-second 5 keeps the topic grants,
--allow-publish adds a grant and --remove-publish takes one out, and two
changes made at once both apply (the server merges them in one transaction).
A limit set to 0 goes back to the default. A call that names nothing to
change is refused.

--replace sets the whole policy instead: every field not given is reset
(no grants, default limits). --dry-run prints what would change (old -> new)
and changes nothing. 'ward device policy show ID' prints the policy.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, out, err := apiOutput(cmd)
			if err != nil {
				return err
			}
			fl := cmd.Flags()
			what, path := "device", "/api/v1/devices/"+pathEscape(args[0])+"/policy"
			if model {
				what, path = "model", "/api/v1/models/"+pathEscape(args[0])+"/policy"
			}
			var doc map[string]any
			if replace {
				if len(unpub)+len(unsub) > 0 {
					return errors.New("--remove-publish and --remove-subscribe change a policy; --replace sets it whole: leave the grant out instead")
				}
				p := store.Policy{Publish: pub, Subscribe: sub, MaxMessageBytes: maxBytes, MessagesPerSecond: mps, BytesPerSecond: bps, ConnectsPerMinute: cpm}
				if err := fleet.CheckPolicy(p); err != nil {
					return err
				}
				if !dryRun {
					var res any
					if err := c.Do(cmd.Context(), "PUT", path, p, &res); err != nil {
						return err
					}
					if out == "json" {
						return printJSON(cmd.OutOrStdout(), res)
					}
					fmt.Fprintf(cmd.OutOrStdout(), "policy of %s %s replaced:\n", what, args[0])
					return printPolicy(cmd.OutOrStdout(), "  ", p)
				}
				// A dry run of a replacement is the patch that sets every field.
				doc = map[string]any{"publish": orNull(pub), "subscribe": orNull(sub)}
				for _, f := range policyLimitFlags {
					doc[f.member] = nil
				}
				setLimits(doc, maxBytes, mps, bps, cpm, func(string) bool { return true })
			} else {
				doc = map[string]any{}
				for k, v := range map[string][]string{"add_publish": pub, "add_subscribe": sub, "remove_publish": unpub, "remove_subscribe": unsub} {
					if len(v) > 0 {
						doc[k] = v
					}
				}
				setLimits(doc, maxBytes, mps, bps, cpm, fl.Changed)
				if len(doc) == 0 {
					return errors.New("nothing to change: give a grant to add or remove (--allow-publish, --remove-publish, --allow-subscribe, --remove-subscribe) or a limit; --replace sets the whole policy")
				}
			}
			if dryRun {
				path += "?dry_run=true"
			}
			var prev, next store.Policy
			var res any
			if model {
				var r api.ModelPolicyPatchResponse
				err, res = c.Do(cmd.Context(), "PATCH", path, doc, &r), &r
				prev, next = r.PreviousPolicy, r.Policy
			} else {
				var r api.PolicyPatchResponse
				err, res = c.Do(cmd.Context(), "PATCH", path, doc, &r), &r
				prev, next = r.PreviousPolicy, r.Policy
			}
			if err != nil {
				return err
			}
			if out == "json" {
				return printJSON(cmd.OutOrStdout(), res)
			}
			w := cmd.OutOrStdout()
			switch {
			case dryRun:
				fmt.Fprintf(w, "policy of %s %s (dry run, nothing changed):\n", what, args[0])
			default:
				fmt.Fprintf(w, "policy of %s %s updated:\n", what, args[0])
			}
			return printPolicyDiff(w, prev, next)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&model, "model", false, "the argument is a model: change the policy shared by its devices")
	fl.StringSliceVar(&pub, "allow-publish", nil, "add a topic filter the device may publish to ({id} = device ID; repeatable)")
	fl.StringSliceVar(&sub, "allow-subscribe", nil, "add a topic filter the device may subscribe to ({id} = device ID; repeatable)")
	fl.StringSliceVar(&unpub, "remove-publish", nil, "take a publish grant out (repeatable)")
	fl.StringSliceVar(&unsub, "remove-subscribe", nil, "take a subscribe grant out (repeatable)")
	fl.IntVar(&maxBytes, "max-message-bytes", 0, "largest message (0: back to the default)")
	fl.Float64Var(&mps, "messages-per-second", 0, "publish rate (0: back to the default)")
	fl.Float64Var(&bps, "bytes-per-second", 0, "publish byte rate (0: back to the default)")
	fl.IntVar(&cpm, "connects-per-minute", 0, "connection attempts per minute (0: back to the default)")
	fl.BoolVar(&replace, "replace", false, "set the whole policy: fields not given are reset (no grants, default limits)")
	fl.BoolVar(&dryRun, "dry-run", false, "print the change (old -> new) without applying it")
	addClientFlags(cmd, true)
	cmd.AddCommand(newDevicePolicyShowCmd())
	return cmd
}

// setLimits puts the limit flags that changed into a patch document: 0
// is null (back to the default).
func setLimits(doc map[string]any, maxBytes int, mps, bps float64, cpm int, changed func(string) bool) {
	vals := map[string]any{"max_message_bytes": maxBytes, "messages_per_second": mps, "bytes_per_second": bps, "connects_per_minute": cpm}
	for _, f := range policyLimitFlags {
		if !changed(f.flag) {
			continue
		}
		v := vals[f.member]
		if v == 0 || v == 0.0 {
			v = nil
		}
		doc[f.member] = v
	}
}

func orNull(l []string) any {
	if len(l) == 0 {
		return nil
	}
	return l
}

// policyLines renders a policy's fields, one "name: value" each; a zero
// field reads "-" (grants) or "default" (limits).
func policyLines(p store.Policy) [][2]string {
	list := func(l []string) string {
		if len(l) == 0 {
			return "-"
		}
		return strings.Join(l, " ")
	}
	num := func(v float64) string {
		if v == 0 {
			return "default"
		}
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return [][2]string{
		{"publish", list(p.Publish)}, {"subscribe", list(p.Subscribe)},
		{"max_message_bytes", num(float64(p.MaxMessageBytes))}, {"messages_per_second", num(p.MessagesPerSecond)},
		{"bytes_per_second", num(p.BytesPerSecond)}, {"connects_per_minute", num(float64(p.ConnectsPerMinute))},
	}
}

func printPolicy(w io.Writer, indent string, p store.Policy) error {
	rows := [][]string{}
	for _, l := range policyLines(p) {
		rows = append(rows, []string{indent + l[0] + ":", l[1]})
	}
	return table(w, nil, rows)
}

// printPolicyDiff prints the fields that differ, old -> new.
func printPolicyDiff(w io.Writer, old, new store.Policy) error {
	o, n := policyLines(old), policyLines(new)
	rows := [][]string{}
	for i := range o {
		if o[i][1] != n[i][1] {
			rows = append(rows, []string{"  " + o[i][0] + ":", o[i][1], "->", n[i][1]})
		}
	}
	if len(rows) == 0 {
		fmt.Fprintln(w, "  no change")
		return nil
	}
	return table(w, nil, rows)
}

// devicePolicy is what ward device policy show -o json prints: the
// device's own policy and its model's, which the gateway applies
// together.
type devicePolicy struct {
	Device      string       `json:"device,omitempty"`
	Model       string       `json:"model"`
	Policy      store.Policy `json:"policy"`
	ModelPolicy store.Policy `json:"model_policy"`
}

func newDevicePolicyShowCmd() *cobra.Command {
	var model bool
	cmd := &cobra.Command{
		Use:   "show ID|MODEL",
		Short: "Show a device's policy and its model's (or with --model, a model's policy)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, out, err := apiOutput(cmd)
			if err != nil {
				return err
			}
			res := devicePolicy{Model: args[0]}
			if !model {
				var v fleet.View
				if err := c.Get(cmd.Context(), "/api/v1/devices/"+pathEscape(args[0])+"?events=1", &v); err != nil {
					return err
				}
				res = devicePolicy{Device: v.ID, Model: v.Model, Policy: v.Policy}
			}
			var mps []store.ModelPolicy
			if err := c.Get(cmd.Context(), "/api/v1/models", &mps); err != nil {
				return err
			}
			if i := slices.IndexFunc(mps, func(p store.ModelPolicy) bool { return p.Model == res.Model }); i >= 0 {
				res.ModelPolicy = mps[i].Policy
			}
			if model {
				res.Policy = res.ModelPolicy
			}
			if out == "json" {
				return printJSON(cmd.OutOrStdout(), res)
			}
			w := cmd.OutOrStdout()
			if model {
				fmt.Fprintf(w, "model %s:\n", res.Model)
				return printPolicy(w, "  ", res.Policy)
			}
			fmt.Fprintf(w, "device %s:\n", res.Device)
			printPolicy(w, "  ", res.Policy)
			fmt.Fprintf(w, "model %s (applies too):\n", res.Model)
			return printPolicy(w, "  ", res.ModelPolicy)
		},
	}
	cmd.Flags().BoolVar(&model, "model", false, "the argument is a model")
	addClientFlags(cmd, true)
	return cmd
}
