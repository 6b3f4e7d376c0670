package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/wardproject/ward/internal/netids"
	"github.com/wardproject/ward/internal/netids/eval"
)

// idsEvalReport is what "ward ids eval --output json" prints.
type idsEvalReport struct {
	File        string       `json:"file"`
	Learn       int          `json:"learn"`
	Seed        uint64       `json:"seed"`
	Threshold   float64      `json:"threshold"`
	Metrics     eval.Metrics `json:"metrics"`
	PacketsPerS float64      `json:"packets_per_second"`
	Packets     uint64       `json:"packets"`
	// Report: per host, per connection, anti-smoothing checks, baselines.
	Report    eval.Report       `json:"report"`
	Incidents map[string]uint64 `json:"incidents,omitempty"`
}

func newIDSEvalCmd() *cobra.Command {
	var (
		f         idsSensorFlags
		labels    string
		allBenign bool
		plotDir   string
		output    string
	)
	cmd := &cobra.Command{
		Use:   "eval FILE --labels LABELS.csv",
		Short: "Score the detector on a labelled capture: ROC AUC, EER, TPR at FPR 0.1 % and 1 %",
		Long: `Run the sensor on a labelled capture and report ROC AUC, equal error rate,
the true-positive rate at false-positive rates of 0.1 % and 1 % (at the highest
threshold whose FPR is at most that), the rates at the shipped alert threshold,
and packets/s. Only packets after --learn are scored. Labels: CSV "index,label"
with 0-based packet indexes (1 = malicious). --plot-dir writes roc.png and
scores.png.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var lab []int8
			switch {
			case labels == "" && !allBenign:
				return fmt.Errorf("--labels is required (or --all-benign for a capture without malicious traffic)")
			case labels != "" && allBenign:
				return fmt.Errorf("--labels and --all-benign exclude each other")
			case allBenign:
				lab = make([]int8, 1<<26) // every packet benign (up to the label limit)
			default:
				lf, err := os.Open(labels)
				if err != nil {
					return fmt.Errorf("open labels: %w", err)
				}
				lab, err = eval.ReadLabels(lf)
				lf.Close()
				if err != nil {
					return fmt.Errorf("%s: %w", labels, err)
				}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			setup, err := f.build(cmd, idsNewLogger(cmd))
			if err != nil {
				return err
			}
			defer setup.Close()
			r, err := netids.OpenFile(args[0], netids.FileOptions{})
			if err != nil {
				return err
			}
			defer r.Close()
			bar := idsNewProgress(cmd.ErrOrStderr())
			run, err := eval.Capture(ctx, r, setup.Sensor, lab, func(fr *netids.Frame) { bar.add(fr.Number) })
			bar.finish()
			if err != nil {
				return fmt.Errorf("evaluate %s: %w", args[0], err)
			}
			if err := setup.Finish(); err != nil {
				return err
			}
			sum, m, curve, scores, scoredLabels, first := run.Summary, run.Metrics, run.Curve, run.Scores, run.Labels, run.First
			if plotDir != "" {
				if err := os.MkdirAll(plotDir, 0o755); err != nil {
					return fmt.Errorf("plot dir: %w", err)
				}
				name := strings.TrimSuffix(filepath.Base(args[0]), filepath.Ext(args[0]))
				if err := eval.PlotROC(filepath.Join(plotDir, "roc.png"), "ROC: "+name, curve, m); err != nil {
					return err
				}
				if err := eval.PlotScores(filepath.Join(plotDir, "scores.png"), "Anomaly score per packet: "+name, scores, scoredLabels, first, sum.Threshold); err != nil {
					return err
				}
			}
			rep := idsEvalReport{File: args[0], Learn: f.learn, Seed: f.seed, Threshold: sum.Threshold,
				Metrics: m, PacketsPerS: sum.PacketsPerS, Packets: sum.Packets, Report: run.Report, Incidents: sum.Incidents}
			w := cmd.OutOrStdout()
			if output == "json" {
				return json.NewEncoder(w).Encode(rep)
			}
			fmt.Fprintf(w, "file        %s\n", args[0])
			idsPrintEvalReport(w, run.Report)
			fmt.Fprintf(w, "scored      %d benign, %d malicious (learned on %d packets, seed %d)\n", m.Negatives, m.Positives, sum.Learned, f.seed)
			fmt.Fprintf(w, "per packet (last):\n")
			fmt.Fprintf(w, "ROC AUC     %.4f\n", m.AUC)
			fmt.Fprintf(w, "EER         %.4f\n", m.EER)
			fmt.Fprintf(w, "TPR@FPR≤0.1%% %.4f\n", m.TPR001)
			fmt.Fprintf(w, "TPR@FPR≤1%%  %.4f\n", m.TPR01)
			fmt.Fprintf(w, "threshold   %.4g (FPR %.4f, TPR %.4f)\n", sum.Threshold, m.FPRAtThreshold, m.TPRAtThreshold)
			fmt.Fprintf(w, "speed       %.0f packets/s (%d packets in %s)\n", sum.PacketsPerS, sum.Packets, sum.Elapsed.Round(1e6))
			return nil
		},
	}
	f.register(cmd, "")
	cmd.Flags().StringVar(&labels, "labels", "", "labels CSV `FILE` (index,label; 0-based index)")
	cmd.Flags().BoolVar(&allBenign, "all-benign", false, "label every packet benign (a capture without malicious traffic: false incidents per host-day)")
	cmd.Flags().StringVar(&plotDir, "plot-dir", "", "write roc.png and scores.png to `DIR`")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "report format: text or json")
	return cmd
}

// idsPrintEvalReport prints the per-host, per-connection and baseline
// figures, first.
func idsPrintEvalReport(w io.Writer, r eval.Report) {
	h := r.Hosts
	fmt.Fprintf(w, "per host:\n")
	fmt.Fprintf(w, "  infected  %d, detected %d\n", len(h.Infected), h.Detected)
	for _, in := range h.Infected {
		if in.Detected {
			fmt.Fprintf(w, "    %s detected %s after its first malicious packet", in.Host, in.TimeToDetect.Round(time.Millisecond))
		} else {
			fmt.Fprintf(w, "    %s not detected", in.Host)
		}
		if in.EarlyIncidents > 0 {
			fmt.Fprintf(w, " (%d incidents before it)", in.EarlyIncidents)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "  benign    %d hosts, %.2f host-days, %d false incidents", h.Benign, h.BenignHostDays, h.FalseIncidents)
	if h.FalseIncidents == 0 && h.BenignHostDays > 0 {
		fmt.Fprintf(w, " (below %.3g per host-day at 95 %%)\n", h.UpperPerHostDay)
	} else {
		fmt.Fprintf(w, " (%.3g per host-day)\n", h.FalsePerHostDay)
	}
	if r.OwnHostAUC >= 0 {
		fmt.Fprintf(w, "  infected hosts' own traffic, benign vs malicious: AUC %.4f\n", r.OwnHostAUC)
	} else {
		fmt.Fprintf(w, "  infected hosts' own traffic: n/a (one class only)\n")
	}
	fmt.Fprintf(w, "  benign hosts sharing a server with an infected one: %d, FPR %.4f on %d packets\n", r.SharedServerHosts, r.SharedServerFPR, r.SharedServerPackets)
	fmt.Fprintf(w, "per connection: %d benign, %d malicious: AUC %.4f, TPR@FPR≤0.1%% %.4f, TPR@FPR≤1%% %.4f\n",
		r.Conns.Negatives, r.Conns.Positives, r.Conns.AUC, r.Conns.TPR001, r.Conns.TPR01)
	names := make([]string, 0, len(r.Baselines))
	for n := range r.Baselines {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		b := r.Baselines[n]
		fmt.Fprintf(w, "  baseline %-13s connections AUC %.4f TPR@1%% %.4f; packets AUC %.4f TPR@1%% %.4f\n", n, b.Conns.AUC, b.Conns.TPR01, b.Packets.AUC, b.Packets.TPR01)
	}
}
