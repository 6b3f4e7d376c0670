// Command ward is Ward's single binary: the server (ward serve), the
// operator's CLI (a client of the HTTPS API), the device-side reference
// client (ward enroll) and the network sensor (ward ids). This package only
// wires concrete types together; all logic lives under internal/.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintf(os.Stderr, "ward: %v\n", err)
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "ward",
		Short:         "Ward secures an IoT fleet: identity, secure ingestion, detection, response, audit",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServeCmd(), newConfigCmd(), newDeviceCmd(), newTokenCmd(), newCACmd(), newCertCmd(), newEnrollCmd(), newIDSCmd(), newAlertCmd(), newProfileCmd(), newAuditCmd(), newSimulateCmd(), newSBOMCmd(), newAdvisoriesCmd(), newKEVCmd(), newVulnCmd(), newReportCmd(), newModelCmd(), newAgentCmd(), newUpdateCmd(), newRolloutCmd(), newFirmwareCmd())
	return root
}
