package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/wardproject/ward/internal/buildinfo"
	"github.com/wardproject/ward/internal/client"
)

// TestCommandTree builds every command (flag clashes panic here) and checks
// that each has help text.
func TestCommandTree(t *testing.T) {
	root := newRootCmd()
	var walk func(c *cobra.Command)
	n := 0
	walk = func(c *cobra.Command) {
		n++
		if c.Short == "" {
			t.Errorf("command %q has no short help", c.CommandPath())
		}
		_ = c.Flags() // materialise
		c.InitDefaultHelpFlag()
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	if n < 15 {
		t.Errorf("only %d commands found", n)
	}
}

// TestUnknownSubcommandFails: a mistyped subcommand of a group exits
// non-zero with a suggestion (it used to print the group's help and exit
// 0, so a script never noticed); the bare group still prints its help.
func TestUnknownSubcommandFails(t *testing.T) {
	run := func(args ...string) (string, error) {
		cmd := newRootCmd()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(args)
		err := cmd.Execute()
		return out.String(), err
	}
	for _, tc := range []struct {
		args         []string
		bad, suggest string
	}{
		{[]string{"device", "lsit"}, "lsit", "list"},
		{[]string{"rollout", "craete", "--model", "m"}, "craete", "create"},
		{[]string{"firmware", "publsh"}, "publsh", "publish"},
		{[]string{"update", "keys", "rotat"}, "rotat", "rotate"},
		{[]string{"device", "frobnicate"}, "frobnicate", ""},
	} {
		name := "ward " + strings.Join(tc.args, " ")
		out, err := run(tc.args...)
		if err == nil {
			t.Errorf("%s: exit 0 (output %q), want an error", name, out)
			continue
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("unknown command %q", tc.bad)) {
			t.Errorf("%s: %v", name, err)
		}
		if tc.suggest != "" && !strings.Contains(err.Error(), "did you mean "+tc.suggest) {
			t.Errorf("%s: %v, want the suggestion %q", name, err, tc.suggest)
		}
	}
	out, err := run("device")
	if err != nil || !strings.Contains(out, "Available Commands") {
		t.Errorf("bare ward device: %v, %q; want its help and no error", err, out)
	}
}

// TestUnknownFlagNamesTheHelp: a mistyped flag fails and says which
// command's --help lists the right ones.
func TestUnknownFlagNamesTheHelp(t *testing.T) {
	for _, args := range [][]string{{"serve", "--bogus"}, {"device", "list", "--stat"}} {
		cmd := newRootCmd()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(args)
		err := cmd.Execute()
		want := "run 'ward " + strings.Join(args[:len(args)-1], " ") + " --help' for its flags"
		if err == nil || !strings.Contains(err.Error(), "unknown flag") || !strings.Contains(err.Error(), want) {
			t.Errorf("ward %s: %v; want unknown flag and %q", strings.Join(args, " "), err, want)
		}
	}
}

// TestVersion: ward version prints the binary's build information, as
// text and as JSON, and the server's /api/v1/info carries the same.
func TestVersion(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"version"}, "ward " + buildinfo.Version + " ("},
		{[]string{"version", "-o", "json"}, `"version": "` + buildinfo.Version + `"`},
	} {
		cmd := newRootCmd()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetArgs(tc.args)
		if err := cmd.Execute(); err != nil || !strings.Contains(out.String(), tc.want) {
			t.Errorf("ward %s: %v, %q; want %q", strings.Join(tc.args, " "), err, out.String(), tc.want)
		}
	}
	w := startForCLI(t)
	c, err := client.New(client.Options{Server: w.env[1], Token: w.env[3], CAFile: w.env[5]})
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		Build buildinfo.Info `json:"build"`
	}
	if err := c.Get(context.Background(), "/api/v1/info", &info); err != nil {
		t.Fatal(err)
	}
	if info.Build != buildinfo.Read() {
		t.Errorf("/api/v1/info build = %+v, want this binary's %+v", info.Build, buildinfo.Read())
	}
}
