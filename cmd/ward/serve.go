package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/wardproject/ward/internal/config"
	"github.com/wardproject/ward/internal/server"
)

func newServeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the Ward server: CA, EST enrollment, API and the mutual-TLS MQTT gateway",
		Long: `Run the Ward server on embedded defaults: an SQLite store and a CA in the data
directory (created on first start), an HTTPS listener for EST and the API and an
MQTT-over-TLS listener for devices.

Every setting can come from the YAML file (--config), a WARD_* variable or a flag;
flags win over the environment, which wins over the file. The CA key passphrase
comes only from WARD_CA_PASSPHRASE or pki.key_passphrase_file.

First start writes <data-dir>/admin.token (mode 0600) and <data-dir>/ca.pem.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cmd.Flags(), os.Environ())
			if err != nil {
				return err
			}
			log := newLogger(cfg)
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			srv, err := server.New(ctx, server.Options{Config: cfg, Logger: log, Out: cmd.OutOrStdout()})
			if err != nil {
				return err
			}
			go func() {
				<-ctx.Done()
				stop() // a second signal now kills the process
			}()
			return srv.Run(ctx)
		},
	}
	config.RegisterFlags(cmd.Flags())
	return cmd
}

func newLogger(cfg *config.Config) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cfg.LogLevel))
	o := &slog.HandlerOptions{Level: lvl}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, o))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, o))
}

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Check the server configuration"}
	check := &cobra.Command{
		Use:   "check",
		Short: "Validate the configuration and print effective values with their source (secrets redacted)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cmd.Flags(), os.Environ())
			if err != nil {
				return err
			}
			out, _ := cmd.Flags().GetString("output")
			if out == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(cfg.Effective())
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KEY\tVALUE\tSOURCE")
			for _, e := range cfg.Effective() {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", e.Key, e.Value, e.Source)
			}
			return tw.Flush()
		},
	}
	config.RegisterFlags(check.Flags())
	check.Flags().StringP("output", "o", "table", "output format: table or json")
	cmd.AddCommand(check)
	return cmd
}
