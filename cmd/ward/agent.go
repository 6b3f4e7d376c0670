package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/wardproject/ward/internal/agent"
	"github.com/wardproject/ward/internal/est"
	"github.com/wardproject/ward/internal/update"
)

type agentFlags struct {
	dir, mqttAddr, proc       string
	interval                  time.Duration
	once                      bool
	server, installCmd, model string
	firmware, tufRoot         string
	installTimeout            time.Duration
	renewAt                   float64
	noRenew                   bool
}

func newAgentCmd() *cobra.Command {
	var f agentFlags
	cmd := &cobra.Command{
		Use:   "agent --mqtt-addr HOST:8883 [--dir DIR] [--server HOST:8443 --model M --install-cmd CMD]",
		Short: "Device-side agent: metrics on devices/<id>/metrics, firmware updates from Ward's TUF repository, certificate renewal",
		Long: `Run on a Linux device enrolled with 'ward enroll --dir DIR'.

Metrics: every --interval it reads /proc (bytes and packets in and out, listening TCP/UDP
ports, established connections and their remote addresses) and publishes the device-side
metrics report that Ward's detection uses on devices/<id>/metrics, over MQTT with the
device's certificate (client ID <id>:agent).

Firmware updates (--server and --install-cmd): the agent takes orders on
devices/<id>/update/cmd, checks them against Ward's TUF repository at
https://SERVER/tuf/ (go-tuf; the first trusted root is --tuf-root, default DIR/tuf-root.json),
streams the signed file into DIR/downloads with its length and hashes checked, and runs
--install-cmd with the file's path as its last argument and in WARD_FIRMWARE_FILE
(also WARD_FIRMWARE_VERSION, WARD_FIRMWARE_MODEL, WARD_ROLLOUT). Exit status 0 means
installed. Every step is reported on devices/<id>/update/status. The installed version is
kept in DIR/update-state.json; older versions are refused.

Certificate renewal (--server): the device certificate is renewed over EST simplereenroll
at --renew-at of its lifetime (default two thirds); the MQTT and HTTPS connections then use
the new one. Failures are logged with their reason and retried with backoff.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runAgent(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.dir, "dir", ".", "directory with device.pem, device.key and ca.pem (from ward enroll); the agent keeps its state here")
	fl.StringVar(&f.mqttAddr, "mqtt-addr", "", "Ward gateway host:port (required)")
	fl.DurationVar(&f.interval, "interval", time.Minute, "reporting period (match the server's --detect-window)")
	fl.StringVar(&f.proc, "proc", "/proc", "proc filesystem to read")
	fl.BoolVar(&f.once, "once", false, "publish one report (covering the time since start) and exit")
	fl.StringVar(&f.server, "server", "", "Ward's HTTPS host:port (8443) for firmware (TUF) and certificate renewal (EST)")
	fl.StringVar(&f.installCmd, "install-cmd", "", "command that installs a verified firmware file (split on spaces, no shell; the file's path is appended)")
	fl.DurationVar(&f.installTimeout, "install-timeout", 10*time.Minute, "longest run of --install-cmd")
	fl.StringVar(&f.model, "model", "", "this device's model (orders for other models are refused)")
	fl.StringVar(&f.firmware, "firmware-version", "", "the running firmware version, when DIR/update-state.json does not exist yet")
	fl.StringVar(&f.tufRoot, "tuf-root", "", "trusted TUF root.json shipped with the device (default DIR/tuf-root.json; fetched once from the server if absent)")
	fl.Float64Var(&f.renewAt, "renew-at", 2.0/3, "renew the device certificate at this fraction of its lifetime")
	fl.BoolVar(&f.noRenew, "no-renew", false, "do not renew the device certificate")
	return cmd
}

func runAgent(cmd *cobra.Command, f agentFlags) error {
	if f.mqttAddr == "" {
		return errors.New("--mqtt-addr HOST:PORT of the Ward gateway is required")
	}
	if f.interval < time.Second || f.interval > 24*time.Hour {
		return errors.New("--interval must be between 1s and 24h")
	}
	if f.installCmd != "" && (f.server == "" || f.model == "") {
		return errors.New("--install-cmd needs --server HOST:8443 and --model")
	}
	if f.renewAt <= 0 || f.renewAt >= 1 {
		return errors.New("--renew-at must be a fraction of the certificate's lifetime between 0 and 1, e.g. 0.67")
	}
	id, err := agent.LoadIdentity(f.dir)
	if err != nil {
		return err
	}
	roots, err := loadRoots(filepath.Join(f.dir, agent.CAFile))
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil)).With("device_id", id.ID())
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var serverURL string
	var hc *http.Client
	var installer *agent.Installer
	if f.server != "" {
		if serverURL, err = httpsURL(f.server); err != nil {
			return err
		}
		hc = &http.Client{Timeout: 0, Transport: &http.Transport{TLSClientConfig: id.ClientTLS(roots), ResponseHeaderTimeout: time.Minute, IdleConnTimeout: time.Minute}}
	}
	if f.installCmd != "" {
		rootFile := f.tufRoot
		if rootFile == "" {
			rootFile = filepath.Join(f.dir, agent.TUFRootFile)
		}
		var root []byte
		for n := 1; ; n++ { // the server may be down at boot: retry, do not exit
			if root, err = agent.LoadTrustedRoot(ctx, rootFile, serverURL, hc, log); err == nil {
				break
			}
			log.Error("no trusted TUF root yet; retrying", "err", err)
			if err := agent.SleepContext(ctx, min(time.Duration(n)*10*time.Second, 5*time.Minute)); err != nil {
				return nil
			}
		}
		installer, err = agent.NewInstaller(agent.InstallerOptions{
			Dir: f.dir, Server: serverURL, HTTP: hc, Model: f.model, Root: root,
			InstallCmd: strings.Fields(f.installCmd), InstallTimeout: f.installTimeout,
			Firmware: f.firmware, Logger: log,
		})
		if err != nil {
			return err
		}
		log.Info("firmware updates on", "model", f.model, "installed", installer.Installed())
	}

	var orders *agent.Orders
	subs := map[string]func(context.Context, []byte){}
	if installer != nil {
		orders = agent.NewOrders(id.ID(), installer, nil, log)
		subs[update.OrderTopic(id.ID())] = func(ctx context.Context, b []byte) { orders.Handle(ctx, b) }
	}
	conn, err := agent.Dial(ctx, agent.ConnOptions{Addr: f.mqttAddr, Identity: id, Roots: roots, CAFile: filepath.Join(f.dir, agent.CAFile), Subscriptions: subs, Logger: log})
	if err != nil {
		return nil // ctx ended while connecting
	}
	defer conn.Close()
	if orders != nil {
		orders.SetPublisher(conn)
		go orders.Run(ctx)
	}
	if f.server != "" && !f.noRenew && !f.once {
		r, err := agent.NewRenewer(agent.RenewerOptions{
			Identity: id, EST: &est.Client{Server: serverURL, Roots: roots, HTTP: hc}, At: f.renewAt, Logger: log,
			OnRenewed: func() {
				hc.CloseIdleConnections()
				if err := conn.Reconnect(ctx); err != nil {
					log.Warn("reconnect after renewal", "err", err)
				}
			},
		})
		if err != nil {
			return err
		}
		log.Info("certificate renewal on", "valid_until", id.Leaf().NotAfter, "renew_at", r.Due())
		go r.Run(ctx)
	}
	return publishMetrics(ctx, conn, id.ID(), f, log)
}

// publishMetrics publishes a metrics report every interval (once with --once).
func publishMetrics(ctx context.Context, conn *agent.Conn, id string, f agentFlags, log *slog.Logger) error {
	prev, _, err := agent.Read(f.proc)
	if err != nil {
		return fmt.Errorf("read %s: %w", f.proc, err)
	}
	topic := "devices/" + id + "/metrics"
	last := time.Now()
	for {
		if !f.once {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(f.interval): // the reporting period
			}
		}
		cur, socks, err := agent.Read(f.proc)
		if err != nil {
			log.Error("read device metrics", "err", err)
			continue
		}
		now := time.Now()
		b, _ := json.Marshal(agent.Build(prev, cur, socks, now, now.Sub(last)))
		prev, last = cur, now
		if err := conn.Publish(ctx, topic, b); err != nil {
			log.Warn("publish metrics report", "err", err)
		} else {
			log.Info("metrics report published", "listening_tcp", len(socks.ListeningTCP), "destinations", len(socks.DestinationIPs))
		}
		if f.once {
			return nil
		}
	}
}

// httpsURL turns --server HOST:PORT (or an https:// URL) into a base URL.
func httpsURL(s string) (string, error) {
	if strings.HasPrefix(s, "https://") {
		return strings.TrimSuffix(s, "/"), nil
	}
	if strings.Contains(s, "://") {
		return "", fmt.Errorf("--server %q: give HOST:8443 (HTTPS is implied)", s)
	}
	if _, _, err := net.SplitHostPort(s); err != nil {
		return "", fmt.Errorf("--server %q: want HOST:PORT (Ward's HTTPS port, 8443): %w", s, err)
	}
	return "https://" + s, nil
}
