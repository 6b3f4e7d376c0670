// Command ward is Ward's single binary: the server (ward serve), the
// operator's CLI (a client of the HTTPS API), the device-side reference
// client (ward enroll) and the network sensor (ward ids). This package only
// wires concrete types together; all logic lives under internal/.
package main

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wardproject/ward/internal/client"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		if !errors.As(err, new(errLogged)) {
			fmt.Fprintf(os.Stderr, "ward: %v\n", withHint(err))
		}
		os.Exit(1)
	}
}

// withHint adds what to do next to an error the reader can act on: a
// refused token or expired session means logging in again.
func withHint(err error) error {
	var e *client.Error
	if errors.As(err, &e) && e.Status == http.StatusUnauthorized {
		return fmt.Errorf("%w (the server refused the token or session: run ward login again, or check --token/WARD_TOKEN; ward whoami shows who you are)", err)
	}
	return err
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "ward",
		Short:         "Ward secures an IoT fleet: identity, secure ingestion, detection, response, audit",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServeCmd(), newConfigCmd(), newDeviceCmd(), newTokenCmd(), newCACmd(), newCertCmd(), newEnrollCmd(), newIDSCmd(), newAlertCmd(), newProfileCmd(), newAuditCmd(), newSimulateCmd(), newSBOMCmd(), newAdvisoriesCmd(), newKEVCmd(), newVulnCmd(), newReportCmd(), newModelCmd(), newAgentCmd(), newUpdateCmd(), newRolloutCmd(), newFirmwareCmd(), newVersionCmd(), newLoginCmd(), newLogoutCmd(), newContextCmd(), newStatusCmd(), newWhoamiCmd(), newUserCmd())
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error { return checkEnums(cmd) }
	refuseUnknownSubcommands(root)
	// A wrong flag says where the right ones are (children inherit it).
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return fmt.Errorf("%w (run '%s --help' for its flags)", err, cmd.CommandPath())
	})
	addCompletions(root)
	return root
}

// refuseUnknownSubcommands makes every command group below root (ward
// device, ward rollout…) fail on a subcommand it does not have, with
// cobra's suggestions, instead of printing its help and exiting 0: a
// script that calls "ward device lsit" must see the mistake. A group
// called bare still prints its help.
func refuseUnknownSubcommands(root *cobra.Command) {
	for _, c := range root.Commands() {
		refuseUnknownSubcommands(c)
		if !c.HasSubCommands() || c.Run != nil || c.RunE != nil {
			continue
		}
		c.Args = cobra.ArbitraryArgs
		// A mistyped subcommand's flags must not hide the mistake behind
		// "unknown flag".
		c.FParseErrWhitelist.UnknownFlags = true
		if c.SuggestionsMinimumDistance <= 0 {
			c.SuggestionsMinimumDistance = 2 // cobra's default, set only on its own path
		}
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				msg += "; did you mean " + strings.Join(s, " or ") + "?"
			}
			return errors.New(msg + " (run '" + cmd.CommandPath() + " --help' for the list)")
		}
	}
}
