package netids_test

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wardproject/ward/internal/netids"
	"github.com/wardproject/ward/internal/netids/eval"
	"github.com/wardproject/ward/internal/wardtest"
)

func sharedData(t *testing.T, rel string) string { return wardtest.SharedData(t, rel) }

// TestKitsuneMiraiPrefix parses the real 2,000-packet Mirai prefix, which
// has truncated (caplen < len) packets.
func TestKitsuneMiraiPrefix(t *testing.T) {
	path := sharedData(t, filepath.Join("kitsune-mirai", "mirai_first2000.pcap"))
	r, err := netids.OpenFile(path, netids.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s, err := netids.New(netids.Options{Learn: 1500})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := netids.Run(context.Background(), r, s, nil)
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
			r, err := netids.OpenFile(filepath.Join(dir, tt.file), netids.FileOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			s, err := netids.New(netids.Options{Learn: tt.learn, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			var scores []float64
			var lab []int8
			var start time.Time
			var fleetFP, fleetN int
			sum, err := netids.Run(context.Background(), r, s, func(f *netids.Frame, res netids.Result) error {
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

// TestPerHost evaluates the shipped configuration per host, as an operator
// sees it, on the capture where the infected host keeps its normal
// traffic, and on a week of one benign camera: the infected host is
// detected within minutes, no benign host gets an incident (the fleet
// firmware downloads and the phone joining included), and its benign
// neighbours on the same server are not raised.
func TestPerHost(t *testing.T) {
	t.Run("gafgyt-sim", func(t *testing.T) {
		dir := sharedData(t, filepath.Join("iot-captures", "netns-gafgyt-sim"))
		run := evalCapture(t, filepath.Join(dir, "netns-gafgyt-sim.pcap"), filepath.Join(dir, "labels.csv"), 35434)
		h := run.Report.Hosts
		t.Logf("hosts %+v; connections AUC %.4f TPR@1%% %.4f; own-host AUC %.4f; shared server FPR %.4f",
			h, run.Report.Conns.AUC, run.Report.Conns.TPR01, run.Report.OwnHostAUC, run.Report.SharedServerFPR)
		if len(h.Infected) != 1 || h.Infected[0].Host != netip.MustParseAddr("10.88.0.15") || !h.Infected[0].Detected ||
			h.Infected[0].TimeToDetect > 10*time.Minute || h.Infected[0].EarlyIncidents != 0 {
			t.Errorf("infected hosts %+v: want 10.88.0.15 detected within 10 min, nothing before", h.Infected)
		}
		if h.FalseIncidents != 0 {
			t.Errorf("%d false incidents on %d benign hosts", h.FalseIncidents, h.Benign)
		}
		if run.Report.SharedServerFPR > 0.01 || run.Report.SharedServerHosts < 10 {
			t.Errorf("benign hosts sharing the infected host's server: %d, FPR %.4f", run.Report.SharedServerHosts, run.Report.SharedServerFPR)
		}
		if run.Report.Conns.AUC < 0.9 {
			t.Errorf("per-connection AUC %.4f, want at least 0.9", run.Report.Conns.AUC)
		}
	})
	// The IoT-23 bots register on IRC servers (TermIRC): both are detected
	// within seconds of their first C&C packet (Muhstik on port 2407 was
	// missed before the term).
	for _, c := range []struct{ name, dir, file string }{
		{"ircbot", "iot23-hue-then-ircbot-34-1", "hue-4-1_then_34-1-irc.pcap"},
		{"muhstik", "iot23-hue-then-muhstik-3-1", "hue-4-1_then_3-1-c2.pcap"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := sharedData(t, filepath.Join("iot-captures", c.dir))
			run := evalCapture(t, filepath.Join(dir, c.file), filepath.Join(dir, "labels.csv"), 10832)
			h := run.Report.Hosts
			if len(h.Infected) != 1 || !h.Infected[0].Detected || h.Infected[0].TimeToDetect > time.Minute {
				t.Errorf("infected hosts %+v: want the bot detected within a minute", h.Infected)
			}
		})
	}
	t.Run("benign camera week", func(t *testing.T) {
		dir := sharedData(t, filepath.Join("iot-captures", "benign-devices-campos2021"))
		run := evalCapture(t, filepath.Join(dir, "blink-cam-01.pcap"), "", 5000)
		if h := run.Report.Hosts; h.FalseIncidents != 0 || h.BenignHostDays < 5 {
			t.Errorf("hosts %+v: want no false incident over about a week", h)
		}
	})
}

// evalCapture runs the shipped configuration on a capture; labels "" means
// every packet is benign.
func evalCapture(t *testing.T, capture, labels string, learn int) eval.Run {
	t.Helper()
	return evalWith(t, capture, labels, learn, netids.EvidenceOptions{})
}
