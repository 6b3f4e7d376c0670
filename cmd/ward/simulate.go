package main

import (
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/wardproject/ward/internal/api"
	"github.com/wardproject/ward/internal/config"
	"github.com/wardproject/ward/internal/pki"
	"github.com/wardproject/ward/internal/sim"
)

func newSimulateCmd() *cobra.Command {
	var devices int
	var duration time.Duration
	var attacks, mqttAddr, rollouts string
	var seed uint64
	cmd := &cobra.Command{
		Use:   "simulate --devices N --duration D [--attack SCENARIO=COUNT,...]",
		Short: "Simulate a fleet (real EST enrollment, MQTT over mTLS) with attacks, and report what was detected",
		Long: `Simulate a fleet against the server named by WARD_SERVER / WARD_TOKEN / WARD_CA.
Devices register through the API, enroll over EST, connect over MQTT with mutual TLS
and send periodic telemetry and device-side metrics reports per model (acme-th1,
acme-cam2, acme-meter3). Attacked devices (named sim-<scenario>-N; benign ones
sim-benign-N) start their attack after a third of the run:

  acl-bruteforce  publishes into other devices' topics (ACL-denial storm)
  topic-scan      subscribes to wildcards over other devices' trees
  flood           message flood
  exfil           bursts of large uploads (bytes out)
  flapping        reconnects many times per window
  mirai           device report shows telnet listening and scanning of many addresses

At the end it prints, per scenario, the devices detected and the time to detect,
and the benign devices that raised alerts. Use a short detection window on the
server for a quick demo: ward serve --detect-window 10s.

--rollout good,failing,mirai (or all) runs staged-rollout scenarios instead, on a
Ward server started in-process in a temporary directory (its clock moved a
detection window at a time, no waiting): --devices acme-th1 devices enroll over
EST, connect over MQTT with mutual TLS and answer update orders; releases 1.5.0
(good: every device installs it), 1.6.0 (failing: 5 % of the devices fail) and
1.7.0 (mirai: updated devices start a Mirai-like behaviour) are rolled out with
waves 1%,10%,50%,100%, max-failure 2%, halt-on-alerts high, a soak of one window.
It prints how each rollout ended and the time it took.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, err := output(cmd)
			if err != nil {
				return err
			}
			if rollouts != "" {
				return simulateRollouts(cmd, out, rollouts, devices, seed)
			}
			atk, err := sim.ParseAttacks(attacks)
			if err != nil {
				return err
			}
			if devices < 0 || devices > 10000 {
				return fmt.Errorf("--devices must be 0..10000")
			}
			cc, err := config.LoadClient(cmd.Flags(), os.Environ(), true)
			if err != nil {
				return err
			}
			c, err := apiClient(cmd)
			if err != nil {
				return err
			}
			var info api.Info
			if err := c.Get(cmd.Context(), "/api/v1/info", &info); err != nil {
				return err
			}
			window, err := time.ParseDuration(info.DetectWindow)
			if err != nil {
				return fmt.Errorf("server's detection window %q: %w", info.DetectWindow, err)
			}
			if mqttAddr == "" {
				if info.MQTTPort == 0 {
					return fmt.Errorf("the server %s runs no MQTT gateway (an API node of a cluster): pass --mqtt-addr host:port of a gateway node", cc.Server)
				}
				u, _ := url.Parse(cc.Server)
				mqttAddr = net.JoinHostPort(u.Hostname(), strconv.Itoa(info.MQTTPort))
			}
			roots, _, err := clientRoots(cc)
			if err != nil {
				return err
			}
			o := sim.Options{API: c, Server: cc.Server, MQTTAddr: mqttAddr, Roots: roots, Devices: devices, Attacks: atk,
				Duration: duration, Window: window, Seed: seed}
			total := int(duration / window)
			if term.IsTerminal(int(os.Stderr.Fd())) {
				bar := progressbar.NewOptions(total, progressbar.OptionSetWriter(os.Stderr), progressbar.OptionSetDescription("simulating"),
					progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true), progressbar.OptionClearOnFinish())
				o.Progress = func(done, _ int) { bar.Set(done) }
			} else {
				o.Progress = func(done, total int) {
					if done == total || done%max(1, total/10) == 0 {
						fmt.Fprintf(os.Stderr, "simulating: window %d/%d\n", done, total)
					}
				}
			}
			fmt.Fprintf(os.Stderr, "enrolling %d devices over EST and connecting to %s...\n", devices+sum(atk), mqttAddr)
			rep, err := sim.Run(cmd.Context(), o)
			if err != nil {
				return err
			}
			if out == "json" {
				return printJSON(cmd.OutOrStdout(), rep)
			}
			rep.Print(cmd.OutOrStdout())
			return nil
		},
	}
	cmd.Flags().IntVar(&devices, "devices", 20, "benign devices")
	cmd.Flags().DurationVar(&duration, "duration", 5*time.Minute, "how long to run (rounded down to whole detection windows)")
	cmd.Flags().StringVar(&attacks, "attack", "", "attacks: SCENARIO=COUNT[,...] with scenarios acl-bruteforce, topic-scan, flood, exfil, flapping, mirai")
	cmd.Flags().StringVar(&mqttAddr, "mqtt-addr", "", "gateway host:port (default: the server's host and its MQTT port)")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "seed of the simulated traffic")
	cmd.Flags().StringVar(&rollouts, "rollout", "", "run rollout scenarios (good, failing, mirai, comma-separated, or all) on an in-process server instead")
	addClientFlags(cmd, true)
	return cmd
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func loadRoots(path string) (*x509.CertPool, error) {
	if path == "" {
		return x509.SystemCertPool()
	}
	pool, _, err := pki.ReadRoots(path)
	return pool, err
}

// simulateRollouts runs the rollout scenarios on an in-process server.
func simulateRollouts(cmd *cobra.Command, out, names string, devices int, seed uint64) error {
	scenarios := sim.RolloutScenarios
	if names != "all" {
		scenarios = nil
		for n := range strings.SplitSeq(names, ",") {
			if !slices.Contains(sim.RolloutScenarios, n) {
				return fmt.Errorf("--rollout %q: use %s or all", n, strings.Join(sim.RolloutScenarios, ", "))
			}
			scenarios = append(scenarios, n)
		}
	}
	if devices < 1 || devices > 10000 {
		return fmt.Errorf("--devices must be 1..10000 for rollouts")
	}
	dir, err := os.MkdirTemp("", "ward-simulate-rollout-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ctx := cmd.Context()
	st, err := sim.StartStepped(ctx, dir, time.Minute)
	if err != nil {
		return err
	}
	defer st.Close()
	o, err := st.PrepareRollouts(ctx, devices)
	if err != nil {
		return err
	}
	o.Seed = seed
	fmt.Fprintf(os.Stderr, "enrolling %d devices over EST and connecting them to an in-process server (%s)...\n", devices, dir)
	rep, err := sim.RunRollout(ctx, o, scenarios)
	if err != nil {
		return err
	}
	if out == "json" {
		return printJSON(cmd.OutOrStdout(), rep)
	}
	rep.Print(cmd.OutOrStdout())
	return nil
}
