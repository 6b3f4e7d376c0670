package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// idsRun runs "ward ids args..." and returns stdout.
func idsRun(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newIDSCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestIDSAnalyzeScores(t *testing.T) {
	capture := filepath.Join("..", "..", "internal", "netids", "testdata", "small.pcap")
	scores := filepath.Join(t.TempDir(), "scores.csv")
	out, err := idsRun(t, "analyze", capture, "--learn", "20", "--scores", scores, "--output", "json", "--alerts", "")
	if err != nil {
		t.Fatal(err)
	}
	var sum struct {
		Packets, Learned, Alerts int
		PPS                      float64 `json:"packets_per_second"`
	}
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("summary %q: %v", out, err)
	}
	if sum.Packets != 40 || sum.Learned != 20 || sum.PPS <= 0 {
		t.Errorf("summary %+v", sum)
	}
	b, err := os.ReadFile(scores)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if lines[0] != "packet,score" || len(lines) != 41 || !strings.HasPrefix(lines[1], "1,") || !strings.HasPrefix(lines[40], "40,") {
		t.Errorf("scores CSV: %d lines, first %q, last %q", len(lines), lines[0], lines[len(lines)-1])
	}
}

func TestIDSMUDNFT(t *testing.T) {
	file := filepath.Join("..", "..", "internal", "netids", "mud", "testdata", "camera.json")
	out, err := idsRun(t, "mud", "nft", file, "--device", "192.168.1.20")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "table inet ward_mud_camera") || !strings.Contains(out, "192.168.1.20") {
		t.Errorf("rules:\n%s", out)
	}
	if _, err := idsRun(t, "analyze", "/nonexistent.pcap"); err == nil {
		t.Error("missing capture accepted")
	}
}

// TestIDSLearnLongerThanCapture: --learn larger than the capture scores
// nothing, and analyze and eval fail saying so instead of exiting 0.
func TestIDSLearnLongerThanCapture(t *testing.T) {
	capture := filepath.Join("..", "..", "internal", "netids", "testdata", "small.pcap")
	labels := filepath.Join(t.TempDir(), "labels.csv")
	if err := os.WriteFile(labels, []byte("index,label\n0,0\n39,1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"analyze", capture, "--learn", "1000", "--alerts", ""},
		{"eval", capture, "--labels", labels, "--learn", "1000"},
	} {
		_, err := idsRun(t, args...)
		if err == nil || !strings.Contains(err.Error(), "nothing was scored") {
			t.Errorf("ward ids %s: error %v, want nothing was scored", args[0], err)
		}
	}
}
