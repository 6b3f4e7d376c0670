package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/spf13/cobra"

	"github.com/wardproject/ward/internal/agent"
	"github.com/wardproject/ward/internal/pki"
)

func newAgentCmd() *cobra.Command {
	var dir, mqttAddr, proc string
	var interval time.Duration
	var once bool
	cmd := &cobra.Command{
		Use:   "agent --mqtt-addr HOST:8883 [--dir DIR]",
		Short: "Device-side agent: publish this device's network metrics on devices/<id>/metrics over mutual TLS",
		Long: `Run on a Linux device enrolled with 'ward enroll --dir DIR'. Every --interval it reads
/proc (bytes and packets in and out, listening TCP/UDP ports, established connections and
their remote addresses) and publishes the device-side metrics report that Ward's detection
uses (telnet listening, scanning, exfiltration...) on devices/<id>/metrics, over MQTT with the
device's certificate (client ID <id>:agent).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if mqttAddr == "" {
				return errors.New("--mqtt-addr HOST:PORT of the Ward gateway is required")
			}
			if interval < time.Second || interval > 24*time.Hour {
				return errors.New("--interval must be between 1s and 24h")
			}
			cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "device.pem"), filepath.Join(dir, "device.key"))
			if err != nil {
				return fmt.Errorf("load device certificate from %s (run ward enroll --dir %s first): %w", dir, dir, err)
			}
			leaf, err := x509.ParseCertificate(cert.Certificate[0])
			if err != nil {
				return err
			}
			id, err := pki.DeviceIDFromCert(leaf)
			if err != nil {
				return err
			}
			roots, err := loadRoots(filepath.Join(dir, "ca.pem"))
			if err != nil {
				return err
			}
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil)).With("device_id", id)
			c := paho.NewClient(paho.NewClientOptions().AddBroker("tls://" + mqttAddr).SetClientID(id + ":agent").
				SetTLSConfig(pki.ClientConfig(roots, &cert)).SetAutoReconnect(true).SetConnectRetry(true).
				SetConnectRetryInterval(10 * time.Second).SetMaxReconnectInterval(5 * time.Minute).SetOrderMatters(false))
			if tok := c.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
				return fmt.Errorf("connect to %s: %v", mqttAddr, tok.Error())
			}
			defer c.Disconnect(1000)
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			prev, _, err := agent.Read(proc)
			if err != nil {
				return fmt.Errorf("read %s: %w", proc, err)
			}
			topic := "devices/" + id + "/metrics"
			last := time.Now()
			for {
				if !once {
					select {
					case <-ctx.Done():
						return nil
					case <-time.After(interval): // the reporting period
					}
				}
				cur, socks, err := agent.Read(proc)
				if err != nil {
					log.Error("read device metrics", "err", err)
					continue
				}
				now := time.Now()
				b, _ := json.Marshal(agent.Build(prev, cur, socks, now, now.Sub(last)))
				prev, last = cur, now
				if tok := c.Publish(topic, 1, false, b); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
					log.Warn("publish metrics report", "err", tok.Error())
				} else {
					log.Info("metrics report published", "listening_tcp", len(socks.ListeningTCP), "destinations", len(socks.DestinationIPs))
				}
				if once {
					return nil
				}
			}
		},
	}
	cmd.Flags().StringVar(&dir, "dir", ".", "directory with device.pem, device.key and ca.pem (from ward enroll)")
	cmd.Flags().StringVar(&mqttAddr, "mqtt-addr", "", "Ward gateway host:port (required)")
	cmd.Flags().DurationVar(&interval, "interval", time.Minute, "reporting period (match the server's --detect-window)")
	cmd.Flags().StringVar(&proc, "proc", "/proc", "proc filesystem to read")
	cmd.Flags().BoolVar(&once, "once", false, "publish one report (covering the time since start) and exit")
	return cmd
}
