package netids

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wardproject/ward/internal/netids/eval"
)

// sharedData finds ../shared/data/<rel> above the working directory; it
// skips the test when absent, or fails when WARD_TEST_REQUIRE_DATA=1.
func sharedData(t *testing.T, rel string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		p := filepath.Join(dir, "shared", "data", rel)
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	msg := "shared data set " + rel + " not found in any shared/data above the working directory (it lives beside the repository, ../shared/data)"
	if os.Getenv("WARD_TEST_REQUIRE_DATA") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// TestKitsuneMiraiPrefix parses the real 2,000-packet Mirai prefix, which
// has truncated (caplen < len) packets.
func TestKitsuneMiraiPrefix(t *testing.T) {
	path := sharedData(t, filepath.Join("kitsune-mirai", "mirai_first2000.pcap"))
	r, err := OpenFile(path, FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s, err := New(Options{Learn: 1500})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := Run(context.Background(), r, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Packets != 2000 || sum.Undecoded != 0 {
		t.Errorf("packets %d (undecoded %d), want 2000 (0)", sum.Packets, sum.Undecoded)
	}
	if sum.Hosts == 0 {
		t.Error("no hosts discovered")
	}
}

// TestRealCaptures runs the learned detector alone (its raw score, no
// window, no rules) on every labelled shared capture with its README's
// learning split. The floors are regression guards at about the measured
// figures (docs/detection.md), not targets: on the two IoT-23 files only
// the bot host is present after the switch, which flatters any detector.
// Every score must lie in [0, 1] (clipped inputs), and the threshold
// calibrated on held-back benign packets must keep the false-positive rate
// under 1 %, also on the benign clients of a server during a fleet-wide
// firmware download (netns-gafgyt-sim, t = 700–712 s).
func TestRealCaptures(t *testing.T) {
	tests := []struct {
		name, dir, file string
		learn           int
		minAUC          float64
	}{
		{"muhstik", "iot23-hue-then-muhstik-3-1", "hue-4-1_then_3-1-c2.pcap", 10832, 0.92},
		{"ircbot", "iot23-hue-then-ircbot-34-1", "hue-4-1_then_34-1-irc.pcap", 10832, 0.95},
		{"gafgyt-sim", "netns-gafgyt-sim", "netns-gafgyt-sim.pcap", 35434, 0.95},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := sharedData(t, filepath.Join("iot-captures", tt.dir))
			lf, err := os.Open(filepath.Join(dir, "labels.csv"))
			if err != nil {
				t.Fatal(err)
			}
			labels, err := eval.ReadLabels(lf)
			lf.Close()
			if err != nil {
				t.Fatal(err)
			}
			r, err := OpenFile(filepath.Join(dir, tt.file), FileOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			s, err := New(Options{Learn: tt.learn, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			var scores []float64
			var lab []int8
			var start time.Time
			var fleetFP, fleetN int
			sum, err := Run(context.Background(), r, s, func(f *Frame, res Result) error {
				if start.IsZero() {
					start = f.Info.Timestamp
				}
				if res.Raw < 0 || res.Raw > 1 {
					t.Fatalf("packet %d: raw score %v outside [0, 1]", f.Number, res.Raw)
				}
				if res.Learning {
					return nil
				}
				l := labels[f.Number-1]
				scores = append(scores, res.Raw)
				lab = append(lab, l)
				if at := f.Info.Timestamp.Sub(start).Seconds(); tt.name == "gafgyt-sim" && l == 0 && at > 700 && at < 712 {
					fleetN++
					if res.Raw > s.Detector().Threshold {
						fleetFP++
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			m, _, err := eval.Compute(scores, lab, s.Detector().Threshold)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: AUC %.4f EER %.4f TPR@0.1%% %.4f TPR@1%% %.4f; at threshold %.4g FPR %.4f TPR %.4f; fleet update FP %d/%d",
				tt.name, m.AUC, m.EER, m.TPR001, m.TPR01, s.Detector().Threshold, m.FPRAtThreshold, m.TPRAtThreshold, fleetFP, fleetN)
			if m.AUC < tt.minAUC {
				t.Errorf("AUC %.4f below the floor %.4f", m.AUC, tt.minAUC)
			}
			if m.FPRAtThreshold > 0.01 {
				t.Errorf("FPR at the calibrated threshold is %.4f, want at most 0.01", m.FPRAtThreshold)
			}
			if tt.name == "gafgyt-sim" {
				// The README's counts: 336 telnet probes refused with a
				// RST, 15 ICMP port unreachables during the UDP flood and
				// 2 from the camera.
				if sum.Outcomes["refused"] != 336 || sum.Outcomes["unreachable"] != 17 {
					t.Errorf("connection outcomes %v, want 336 refused and 17 unreachable", sum.Outcomes)
				}
			}
			if fleetN > 0 && float64(fleetFP) > 0.01*float64(fleetN) {
				t.Errorf("%d of %d benign packets during the fleet update above the threshold, want at most 1 %%", fleetFP, fleetN)
			}
		})
	}
}
