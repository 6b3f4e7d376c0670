package sim

import (
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is the outcome of a simulation.
type Report struct {
	Devices     int              `json:"devices"`
	Duration    string           `json:"duration"`
	Window      string           `json:"window"`
	AttackStart string           `json:"attack_start_after"`
	Scenarios   []ScenarioResult `json:"scenarios"`
	Benign      BenignResult     `json:"benign"`
}

// ScenarioResult is one scenario's detection.
type ScenarioResult struct {
	Scenario            string         `json:"scenario"`
	Attacked            int            `json:"attacked"`
	Detected            int            `json:"detected"`
	MeanTimeToDetectSec float64        `json:"mean_time_to_detect_seconds"`
	MaxTimeToDetectSec  float64        `json:"max_time_to_detect_seconds"`
	MaxWindowsToDetect  int            `json:"max_windows_to_detect"`
	Devices             []DeviceResult `json:"devices"`
}

// DeviceResult is one attacked device's detection.
type DeviceResult struct {
	Device            string   `json:"device"`
	Detected          bool     `json:"detected"`
	Rule              string   `json:"rule,omitempty"`
	TimeToDetectSec   float64  `json:"time_to_detect_seconds,omitempty"`
	WindowsToDetect   int      `json:"windows_to_detect,omitempty"`
	Alerts            []string `json:"alerts,omitempty"`
	DetectedBeforeRun bool     `json:"-"`
}

// BenignResult counts false alarms.
type BenignResult struct {
	Devices                   int      `json:"devices"`
	WithAlerts                int      `json:"with_alerts"`
	Alerts                    []string `json:"alerts"`
	DeviceHours               float64  `json:"device_hours"`
	FalseAlarmsPer1000DevHour float64  `json:"false_alarms_per_1000_device_hours"`
}

func (s *simulation) report() *Report {
	w := s.o.Window
	rep := &Report{Devices: len(s.devices), Duration: (time.Duration(s.rounds) * w).String(), Window: w.String(),
		AttackStart: (time.Duration(s.attackRound) * w).String(), Benign: BenignResult{Alerts: []string{}}}
	byScenario := map[string]*ScenarioResult{}
	var falseAlarms int
	for _, d := range s.devices {
		var rules []string
		for k, fa := range s.first {
			if dev, rule, _ := strings.Cut(k, "|"); dev == d.id {
				rules = append(rules, fmt.Sprintf("%s@%s", rule, fa.at.UTC().Format("15:04:05")))
			}
		}
		sort.Strings(rules)
		if d.scenario == "" {
			rep.Benign.Devices++
			if len(rules) > 0 {
				rep.Benign.WithAlerts++
				falseAlarms += len(rules)
				for _, r := range rules {
					rep.Benign.Alerts = append(rep.Benign.Alerts, d.id+": "+r)
				}
			}
			continue
		}
		sr := byScenario[d.scenario]
		if sr == nil {
			sr = &ScenarioResult{Scenario: d.scenario}
			byScenario[d.scenario] = sr
		}
		sr.Attacked++
		dr := DeviceResult{Device: d.id, Alerts: rules}
		var best *firstAlert
		expected := Scenarios[d.scenario]
		if s.o.Rules != nil {
			expected = s.o.Rules[d.scenario]
		}
		for _, rule := range expected {
			if fa, ok := s.first[d.id+"|"+rule]; ok && (best == nil || fa.at.Before(best.at)) {
				f := fa
				best = &f
			}
		}
		if best != nil && !best.at.Before(s.attackStart) {
			dr.Detected, dr.Rule = true, best.rule
			dr.TimeToDetectSec = best.at.Sub(s.attackStart).Seconds()
			dr.WindowsToDetect = int(math.Ceil(best.at.Sub(s.attackStart).Seconds() / w.Seconds()))
			sr.Detected++
			sr.MeanTimeToDetectSec += dr.TimeToDetectSec
			sr.MaxTimeToDetectSec = math.Max(sr.MaxTimeToDetectSec, dr.TimeToDetectSec)
			sr.MaxWindowsToDetect = max(sr.MaxWindowsToDetect, dr.WindowsToDetect)
		}
		sr.Devices = append(sr.Devices, dr)
	}
	for _, sr := range byScenario {
		if sr.Detected > 0 {
			sr.MeanTimeToDetectSec /= float64(sr.Detected)
		}
		rep.Scenarios = append(rep.Scenarios, *sr)
	}
	slices.SortFunc(rep.Scenarios, func(a, b ScenarioResult) int { return strings.Compare(a.Scenario, b.Scenario) })
	rep.Benign.DeviceHours = float64(rep.Benign.Devices) * (time.Duration(s.rounds) * w).Hours()
	if rep.Benign.DeviceHours > 0 {
		rep.Benign.FalseAlarmsPer1000DevHour = float64(falseAlarms) / rep.Benign.DeviceHours * 1000
	}
	return rep
}

// Print writes the report as a table.
func (r *Report) Print(w io.Writer) {
	fmt.Fprintf(w, "Simulated %d devices for %s (window %s, attacks from %s)\n\n", r.Devices, r.Duration, r.Window, r.AttackStart)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tATTACKED\tDETECTED\tMEAN TTD\tMAX TTD\tRULES")
	for _, s := range r.Scenarios {
		rules := map[string]bool{}
		for _, d := range s.Devices {
			if d.Rule != "" {
				rules[d.Rule] = true
			}
		}
		var rs []string
		for k := range rules {
			rs = append(rs, k)
		}
		sort.Strings(rs)
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.1fs\t%.1fs\t%s\n", s.Scenario, s.Attacked, s.Detected, s.MeanTimeToDetectSec, s.MaxTimeToDetectSec, strings.Join(rs, ","))
	}
	tw.Flush()
	fmt.Fprintf(w, "\nBenign devices: %d, with alerts: %d (%.2f false alarms per 1,000 device-hours)\n",
		r.Benign.Devices, r.Benign.WithAlerts, r.Benign.FalseAlarmsPer1000DevHour)
	for _, a := range r.Benign.Alerts {
		fmt.Fprintf(w, "  false alarm: %s\n", a)
	}
}
