// Command detection produces Ward's detection report: it runs the fleet
// simulator against a real in-process server (stepped, on an injected
// clock) for each baseline sensitivity, with the default rules plus the
// baseline and with the learned baseline alone, and prints per scenario the
// detection rate and time to detect, and the false alarms per 1,000
// device-hours on the benign devices, as Markdown.
//
//	go run ./bench/detection [-benign 24] [-per-scenario 2] [-hours 2]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/wardproject/ward/internal/detect"
	"github.com/wardproject/ward/internal/sim"
)

func main() {
	benign := flag.Int("benign", 24, "benign devices")
	per := flag.Int("per-scenario", 2, "attacked devices per scenario")
	hours := flag.Float64("hours", 2, "simulated hours")
	window := flag.Duration("window", 10*time.Second, "detection window")
	flag.Parse()
	if err := run(*benign, *per, *hours, *window); err != nil {
		fmt.Fprintln(os.Stderr, "detection:", err)
		os.Exit(1)
	}
}

func run(benign, per int, hours float64, window time.Duration) error {
	ctx := context.Background()
	attacks := map[string]int{}
	for s := range sim.Scenarios {
		attacks[s] = per
	}
	duration := time.Duration(hours * float64(time.Hour)).Truncate(window)
	fmt.Printf("Simulated %d benign devices and %d attacked devices per scenario for %s (window %s); attacks start at 60%% of the run.\n\n",
		benign, per, duration, window)
	fmt.Println("| configuration | sensitivity | scenario | detected | mean time to detect | max time to detect | benign false alarms / 1,000 device-hours |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, mode := range []string{"rules + baseline", "baseline only"} {
		for _, sens := range []string{"low", "medium", "high"} {
			rep, err := once(ctx, mode, sens, benign, attacks, duration, window)
			if err != nil {
				return fmt.Errorf("%s, %s: %w", mode, sens, err)
			}
			sort.Slice(rep.Scenarios, func(i, j int) bool { return rep.Scenarios[i].Scenario < rep.Scenarios[j].Scenario })
			for i, s := range rep.Scenarios {
				fa := ""
				if i == 0 {
					fa = fmt.Sprintf("%.2f (%d of %d devices)", rep.Benign.FalseAlarmsPer1000DevHour, rep.Benign.WithAlerts, rep.Benign.Devices)
				}
				ttd, max := "-", "-"
				if s.Detected > 0 {
					ttd, max = fmt.Sprintf("%.0f s", s.MeanTimeToDetectSec), fmt.Sprintf("%.0f s", s.MaxTimeToDetectSec)
				}
				fmt.Printf("| %s | %s | %s | %d/%d | %s | %s | %s |\n", mode, sens, s.Scenario, s.Detected, s.Attacked, ttd, max, fa)
			}
		}
	}
	return nil
}

func once(ctx context.Context, mode, sens string, benign int, attacks map[string]int, duration, window time.Duration) (*sim.Report, error) {
	dir, err := os.MkdirTemp("", "ward-detection-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	st, err := sim.StartStepped(ctx, dir, window)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	ps := detect.DefaultProfiles()
	ps[0].Baseline.Sensitivity = sens
	if mode == "baseline only" {
		ps[0].Rules = nil
	}
	if err := st.Server.Detect().SetProfiles(ctx, ps); err != nil {
		return nil, err
	}
	o := st.Options()
	o.Devices, o.Attacks, o.Duration, o.Seed = benign, attacks, duration, 1
	o.AttackAfter = time.Duration(float64(duration) * 0.6).Truncate(window)
	if mode == "baseline only" {
		o.Rules = map[string][]string{}
		for sc := range sim.Scenarios {
			o.Rules[sc] = []string{detect.BaselineRule}
		}
	}
	return sim.Run(ctx, o)
}
