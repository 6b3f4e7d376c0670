package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/wardproject/ward/internal/netids"
)

func newIDSSniffCmd() *cobra.Command {
	var (
		f      idsSensorFlags
		iface  string
		output string
	)
	cmd := &cobra.Command{
		Use:   "sniff -i IFACE",
		Short: "Capture live on an interface (AF_PACKET; needs root or CAP_NET_RAW) and raise alerts",
		Long: `Capture live on a Linux interface with an AF_PACKET socket (no libpcap) and
run the sensor: the first --learn packets train the detector (or --model loads
one), later packets raise alerts (JSON lines on --alerts, default stdout).
Stops on SIGINT/SIGTERM, then saves --save-model and --assets. SIGHUP reloads
--blocklist.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if iface == "" {
				return errors.New("-i IFACE is required (see: ip link)")
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			f.live = true
			setup, err := f.build(cmd, idsNewLogger(cmd))
			if err != nil {
				return err
			}
			defer setup.Close()
			src, err := netids.OpenLive(iface)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "ward ids sniff: listening on %s (SIGINT or SIGTERM stops)\n", iface)
			var wg sync.WaitGroup
			wctx, cancel := context.WithCancel(ctx)
			defer func() { cancel(); wg.Wait() }()
			if setup.Reloads() {
				wg.Add(1)
				go func() { defer wg.Done(); setup.Watch(wctx) }()
			}
			wg.Add(1)
			go func() { // unblock Next when asked to stop
				defer wg.Done()
				<-wctx.Done()
				src.Close()
			}()
			sum, runErr := netids.Run(ctx, src, setup.Sensor, nil)
			if ctx.Err() != nil {
				runErr = nil // stopped by signal
			}
			if err := setup.Finish(); err != nil {
				return errors.Join(runErr, err)
			}
			idsPrintSummary(cmd.OutOrStdout(), output, sum)
			if runErr != nil {
				return fmt.Errorf("sniff %s: %w", iface, runErr)
			}
			return nil
		},
	}
	f.register(cmd, "-")
	cmd.Flags().StringVarP(&iface, "interface", "i", "", "network `IFACE` to capture on")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "summary format: text or json")
	return cmd
}
