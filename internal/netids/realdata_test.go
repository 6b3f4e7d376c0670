package netids

import (
	"context"
	"os"
	"path/filepath"
	"testing"

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

// TestRealCaptures runs the shipped configuration on the labelled IoT-23
// captures with the README's learning split and checks the targets: AUC at
// least the reference Kitsune's and TPR at FPR 1 % of at least 90 %.
func TestRealCaptures(t *testing.T) {
	tests := []struct {
		name, dir, file string
		refAUC          float64
	}{
		{"muhstik", "iot23-hue-then-muhstik-3-1", "hue-4-1_then_3-1-c2.pcap", 0.9774},
		{"ircbot", "iot23-hue-then-ircbot-34-1", "hue-4-1_then_34-1-irc.pcap", 0.9895},
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
			s, err := New(Options{Learn: 10832, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			var scores []float64
			var lab []int8
			sum, err := Run(context.Background(), r, s, func(f *Frame, res Result) error {
				if !res.Learning {
					scores = append(scores, res.Score)
					lab = append(lab, labels[f.Number-1])
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			m, _, err := eval.Compute(scores, lab, sum.Threshold)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: AUC %.4f EER %.4f TPR@0.1%% %.4f TPR@1%% %.4f; at threshold FPR %.4f TPR %.4f",
				tt.name, m.AUC, m.EER, m.TPR001, m.TPR01, m.FPRAtThreshold, m.TPRAtThreshold)
			if m.AUC < tt.refAUC {
				t.Errorf("AUC %.4f below the reference %.4f", m.AUC, tt.refAUC)
			}
			if m.TPR01 < 0.9 {
				t.Errorf("TPR at FPR 1%% is %.4f, want at least 0.9", m.TPR01)
			}
			if m.FPRAtThreshold > 0.02 {
				t.Errorf("FPR at the shipped threshold is %.4f, want at most 0.02", m.FPRAtThreshold)
			}
		})
	}
}
