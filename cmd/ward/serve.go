package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/wardproject/ward/internal/config"
	"github.com/wardproject/ward/internal/memlimit"
	"github.com/wardproject/ward/internal/notify"
	"github.com/wardproject/ward/internal/profiler"
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

First start writes <data-dir>/admin.token (mode 0600) and <data-dir>/ca.pem and
prints their paths and the CA fingerprint on stdout; the token itself is never
printed.

Memory: unless GOMEMLIMIT is set, the Go runtime's soft memory limit is 90% of
the memory this process may use (its cgroup limit, else the machine's MemTotal),
logged at start. --pprof-addr 127.0.0.1:6060 serves Go's runtime profiles
(/debug/pprof/heap, goroutine, profile) without authentication, on a loopback
address only; it is off by default.

Roles (--role, default all): in a cluster of nodes sharing one PostgreSQL store
(store.postgres_dsn) and one NATS server (bus.nats_url), each node runs a part:
  gateway   the MQTT listener, cluster admission, the session directory
            reporter and the shipping of detection windows
  detector  the detection workers and the fleet-wide evaluation
  api       the HTTPS listener (API, EST, console, /crl, live stream) and the
            scheduled work: audit, CRL refresh, rollouts, retention
  all       everything (a single node, or a node that is all of the above)
Scheduled work runs on one node of the cluster at a time, chosen through
PostgreSQL advisory locks (ward_leader{job} is 1 on the node that runs it).
Every role serves /healthz and /metrics: gateway and detector nodes on the
HTTPS address with only those two routes. See docs/architecture.md.

With --log-format json every line on stderr is JSON and those lines
are log records instead ("first start: admin API token written" with its
"path", "CA certificate" with "path" and "fingerprint_sha256"): read the token
from that file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cmd.Flags(), os.Environ())
			if err != nil {
				if config.RequestedLogFormat(cmd.Flags(), os.Environ()) == "json" {
					return logged(slog.New(slog.NewJSONHandler(cmd.ErrOrStderr(), nil)), err)
				}
				return err
			}
			log := newLogger(cfg, cmd.ErrOrStderr())
			out := cmd.OutOrStdout()
			if cfg.LogFormat == "json" {
				// Every line on stderr is JSON: libraries that write
				// with the standard log package go through the handler,
				// and the first-start summary is only logged.
				slog.SetDefault(log)
				out = nil
			}
			if d, err := memlimit.Apply(memlimit.Options{}); err != nil {
				log.Warn("no Go memory limit set: the memory available could not be read; set GOMEMLIMIT", "err", err)
			} else if d.Limit > 0 {
				log.Info("Go memory limit set from the machine (GOMEMLIMIT overrides)", "limit_mib", d.Limit>>20, "available_mib", d.Available>>20, "from", d.Source)
			} else {
				log.Info("Go memory limit left to the environment", "from", d.Source)
			}
			if cfg.PprofAddr != "" {
				ps, err := profiler.Listen(cfg.PprofAddr)
				if err != nil {
					return logged(log, err)
				}
				defer ps.Close()
				go func() {
					if err := ps.Serve(); err != nil {
						log.Error("pprof listener stopped", "err", err)
					}
				}()
				log.Info("pprof listener on loopback (no authentication)", "addr", ps.Addr().String())
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			srv, err := server.New(ctx, server.Options{Config: cfg, Logger: log, Out: out})
			if err != nil {
				return logged(log, err)
			}
			go func() {
				<-ctx.Done()
				stop() // a second signal now kills the process
			}()
			if err := srv.Run(ctx); err != nil {
				return logged(log, err)
			}
			return nil
		},
	}
	config.RegisterFlags(cmd.Flags())
	return cmd
}

// errLogged is an error already written to the log: main exits 1 without
// printing it again (in text, which would break a JSON log).
type errLogged struct{ error }

func (e errLogged) Unwrap() error { return e.error }

// logged logs err at Error and returns it marked as reported.
func logged(log *slog.Logger, err error) error {
	log.Error("ward serve stopped", "err", err)
	return errLogged{err}
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cfg.LogLevel))
	o := &slog.HandlerOptions{Level: lvl}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, o))
	}
	return slog.New(slog.NewTextHandler(w, o))
}

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Check the server configuration"}
	check := &cobra.Command{
		Use:   "check",
		Short: "Validate the configuration (the notify sinks and their secret files too) and print effective values with their source (secrets redacted)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cmd.Flags(), os.Environ())
			if err != nil {
				return err
			}
			// The notify section as the server reads it at start,
			// secret files included.
			if len(cfg.Notify) > 0 {
				if _, err := notify.ParseConfig(cfg.Notify, true); err != nil {
					return fmt.Errorf("config file, notify section: %w", err)
				}
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
