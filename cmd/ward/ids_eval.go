package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

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
}

func newIDSEvalCmd() *cobra.Command {
	var (
		f       idsSensorFlags
		labels  string
		plotDir string
		output  string
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
			if labels == "" {
				return fmt.Errorf("--labels is required")
			}
			lf, err := os.Open(labels)
			if err != nil {
				return fmt.Errorf("open labels: %w", err)
			}
			lab, err := eval.ReadLabels(lf)
			lf.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", labels, err)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			setup, err := f.build(cmd, idsNewLogger(cmd))
			if err != nil {
				return err
			}
			defer setup.close()
			r, err := netids.OpenFile(args[0], netids.FileOptions{})
			if err != nil {
				return err
			}
			defer r.Close()
			var scores []float64
			var scoredLabels []int8
			first := -1
			bar := idsNewProgress(cmd.ErrOrStderr())
			sum, err := netids.Run(ctx, r, setup.sensor, func(fr *netids.Frame, res netids.Result) error {
				bar.add(fr.Number)
				if res.Learning {
					return nil
				}
				idx := int(fr.Number - 1)
				if first < 0 {
					first = idx
				}
				l := int8(-1)
				if idx < len(lab) {
					l = lab[idx]
				}
				scores = append(scores, res.Score)
				scoredLabels = append(scoredLabels, l)
				return nil
			})
			bar.finish()
			if err != nil {
				return err
			}
			if err := f.finish(setup.sensor); err != nil {
				return err
			}
			m, curve, err := eval.Compute(scores, scoredLabels, sum.Threshold)
			if err != nil {
				return fmt.Errorf("evaluate %s: %w", args[0], err)
			}
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
				Metrics: m, PacketsPerS: sum.PacketsPerS, Packets: sum.Packets}
			w := cmd.OutOrStdout()
			if output == "json" {
				return json.NewEncoder(w).Encode(rep)
			}
			fmt.Fprintf(w, "file        %s\n", args[0])
			fmt.Fprintf(w, "scored      %d benign, %d malicious (learned on %d packets, seed %d)\n", m.Negatives, m.Positives, sum.Learned, f.seed)
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
	cmd.Flags().StringVar(&plotDir, "plot-dir", "", "write roc.png and scores.png to `DIR`")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "report format: text or json")
	return cmd
}
