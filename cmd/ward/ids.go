package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/wardproject/ward/internal/config"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/wardproject/ward/internal/netids"
	"github.com/wardproject/ward/internal/netids/assemble"
)

// newIDSCmd builds "ward ids": the network sensor.
func newIDSCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ids",
		Short: "Network sensor for IoT traffic",
		Long: `Network sensor for IoT traffic: Kitsune-style damped statistics and an
online autoencoder ensemble, scan/brute-force/flood/blocklist rules, MUD
(RFC 8520) segmentation policy and asset discovery, on pcap/pcapng files or a
live interface. See docs/detection.md.`,
	}
	cmd.AddCommand(newIDSAnalyzeCmd(), newIDSEvalCmd(), newIDSSniffCmd(), newIDSMUDCmd())
	return cmd
}

// idsSensorFlags are the flags shared by analyze, eval and sniff.
type idsSensorFlags struct {
	learn     int
	fmGrace   int
	calibrate int
	uncoupled bool
	seed      uint64
	model     string
	saveModel string
	alerts    string
	live      bool // set by sniff: alerts are not buffered
	assets    string
	blocklist string
	mudDir    string
	devices   string
	transform string
	noWindow  bool
	alpha     float64
	quantile  float64
	incident  float64
	margin    float64
	noRules   bool
	report    bool
}

func (f *idsSensorFlags) register(cmd *cobra.Command, alertsDefault string) {
	fl := cmd.Flags()
	fl.IntVar(&f.learn, "learn", 10000, "packets (from the first) that train the detector, feature mapping included")
	fl.IntVar(&f.fmGrace, "fm-grace", 0, "packets of --learn used for feature mapping (default learn/10)")
	fl.IntVar(&f.calibrate, "calibrate", 0, "last packets of --learn held back from training and scored by the frozen model to set the threshold (default a fifth of those after --fm-grace)")
	fl.BoolVar(&f.uncoupled, "uncoupled-features", false, "feed the detector only the 60 features of the sender alone, without the 2-D host-host and socket-socket ones that couple the clients of a shared server (ablation)")
	fl.Uint64Var(&f.seed, "seed", 1, "seed of the detector's weights: the same seed and capture give the same scores")
	fl.StringVar(&f.model, "model", "", "load a trained model from `FILE` instead of learning")
	fl.StringVar(&f.saveModel, "save-model", "", "save the model to `FILE` when learning ends")
	fl.StringVar(&f.alerts, "alerts", alertsDefault, "write alerts as JSON lines to `FILE` (- for stdout, empty for none)")
	fl.StringVar(&f.assets, "assets", "", "write the discovered hosts as JSON to `FILE` at the end")
	fl.StringVar(&f.blocklist, "blocklist", "", "known-bad addresses: plain list or CSV `FILE` (reloaded on change and SIGHUP)")
	fl.StringVar(&f.mudDir, "mud-dir", "", "`DIR` of RFC 8520 MUD files (*.json), one per device model")
	fl.StringVar(&f.devices, "devices", "", "CSV `FILE` mapping addresses to devices: mac_or_ip,device_id,model")
	fl.BoolVar(&f.report, "report", false, "send alerts to the Ward server (WARD_SERVER, WARD_TOKEN of an operator, WARD_CA) and map hosts to the devices connected to its gateway")
	config.RegisterClientFlags(fl)
	fl.StringVar(&f.transform, "transform", "", "feature transform: log (default) or none (as reference KitNET)")
	fl.BoolVar(&f.noWindow, "no-window", false, "no per-host score window (the default now; kept for old scripts)")
	fl.Float64Var(&f.alpha, "window-alpha", 0, "score packets with the old per-host moving average of the learned score, with this weight (evaluation baseline; default off)")
	fl.Float64Var(&f.quantile, "threshold-quantile", 0, "quantile of the held-back calibration scores taken as the learned detector's threshold (default 0.999)")
	fl.Float64Var(&f.margin, "threshold-margin", 0, "factor applied to that quantile (default 1.5)")
	fl.Float64Var(&f.incident, "incident-threshold", 0, "fused evidence score at which a connection raises its host's incident (default 0.5)")
	fl.BoolVar(&f.noRules, "no-rules", false, "run the learned detector only (no scan, brute-force, flood rules)")
	_ = fl.MarkHidden("transform")
	_ = fl.MarkHidden("window-alpha")
	_ = fl.MarkHidden("uncoupled-features")
}

// build assembles the sensor from the flags.
func (f *idsSensorFlags) build(cmd *cobra.Command, log *slog.Logger) (*assemble.Sensor, error) {
	cfg := assemble.Config{
		Learn: f.learn, FMGrace: f.fmGrace, Calibrate: f.calibrate, Seed: f.seed,
		UncoupledFeatures: f.uncoupled, Transform: f.transform,
		WindowAlpha: f.alpha, NoWindow: f.noWindow,
		ThresholdQuantile: f.quantile, ThresholdMargin: f.margin, IncidentThreshold: f.incident,
		Model: f.model, SaveModel: f.saveModel, Assets: f.assets,
		Alerts: f.alerts, Live: f.live, Stdout: cmd.OutOrStdout(),
		Devices: f.devices, MUDDir: f.mudDir, Blocklist: f.blocklist, NoRules: f.noRules,
		Logger: log,
	}
	if f.report {
		cfg.Extend = func(opts *netids.Options) error { return connectReport(cmd, opts) }
	}
	return assemble.New(cfg)
}

func newIDSAnalyzeCmd() *cobra.Command {
	var (
		f      idsSensorFlags
		scores string
		output string
	)
	cmd := &cobra.Command{
		Use:   "analyze FILE",
		Short: "Analyze a pcap or pcapng capture: learn, score every packet, raise alerts",
		Long: `Analyze a pcap or pcapng capture. The first --learn packets train the
detector (unless --model loads one); every later packet is scored. Alerts go
to --alerts as JSON lines. --scores writes one CSV row per packet in file
order, "packet,score" with packets numbered from 1 as Wireshark does; packets
used for learning have score 0.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return fmt.Errorf("--output %q: want text or json", output)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			log := idsNewLogger(cmd)
			setup, err := f.build(cmd, log)
			if err != nil {
				return err
			}
			defer setup.Close()
			if setup.Reloads() {
				wctx, cancel := context.WithCancel(ctx)
				done := make(chan struct{})
				go func() { defer close(done); setup.Watch(wctx) }()
				defer func() { cancel(); <-done }()
			}
			r, err := netids.OpenFile(args[0], netids.FileOptions{})
			if err != nil {
				return err
			}
			defer r.Close()
			var csvw *bufio.Writer
			if scores != "" {
				sf, err := os.Create(scores)
				if err != nil {
					return fmt.Errorf("create scores file: %w", err)
				}
				defer sf.Close()
				csvw = bufio.NewWriterSize(sf, 1<<16)
				csvw.WriteString("packet,score\n")
			}
			bar := idsNewProgress(cmd.ErrOrStderr())
			buf := make([]byte, 0, 64)
			sum, runErr := netids.Run(ctx, r, setup.Sensor, func(fr *netids.Frame, res netids.Result) error {
				if csvw != nil {
					score := res.Score
					if res.Learning {
						score = 0
					}
					buf = strconv.AppendUint(buf[:0], fr.Number, 10)
					buf = append(buf, ',')
					buf = strconv.AppendFloat(buf, score, 'g', -1, 64)
					buf = append(buf, '\n')
					if _, err := csvw.Write(buf); err != nil {
						return fmt.Errorf("write scores: %w", err)
					}
				}
				bar.add(fr.Number)
				return nil
			})
			bar.finish()
			if csvw != nil {
				if err := csvw.Flush(); err != nil {
					return fmt.Errorf("write scores: %w", err)
				}
			}
			if err := setup.Finish(); err != nil {
				return errors.Join(runErr, err)
			}
			idsPrintSummary(cmd.OutOrStdout(), output, sum)
			return runErr
		},
	}
	f.register(cmd, "-")
	cmd.Flags().StringVar(&scores, "scores", "", "write per-packet scores as CSV to `FILE` (packet,score)")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "summary format: text or json")
	return cmd
}

func idsPrintSummary(w io.Writer, output string, sum netids.Summary) {
	if output == "json" {
		json.NewEncoder(w).Encode(sum)
		return
	}
	fmt.Fprintf(w, "packets %d (learned %d, scored %d), alerts %d, incidents %d (high %d, medium %d, info %d), threshold %.4g, hosts %d, connections %d, %.0f packets/s\n",
		sum.Packets, sum.Learned, sum.Scored, sum.Alerts, sum.Incidents["high"]+sum.Incidents["medium"]+sum.Incidents["info"],
		sum.Incidents["high"], sum.Incidents["medium"], sum.Incidents["info"], sum.Threshold, sum.Hosts, sum.Connections, sum.PacketsPerS)
	for _, warn := range sum.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
}

// progress is a packets/s progress bar on stderr, shown only on a terminal.
type idsProgress struct {
	bar  *progressbar.ProgressBar
	last uint64
}

func idsNewProgress(w io.Writer) *idsProgress {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return &idsProgress{}
	}
	return &idsProgress{bar: progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("packets"),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("pkt"),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)}
}

func (p *idsProgress) add(n uint64) {
	if p.bar == nil || n-p.last < 4096 {
		return
	}
	_ = p.bar.Add64(int64(n - p.last))
	p.last = n
}

func (p *idsProgress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}
