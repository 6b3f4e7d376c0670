package netids_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wardproject/ward/internal/netids"
	"github.com/wardproject/ward/internal/netids/eval"
)

// TestSensitivity prints the sensitivity table of docs/detection.md: each
// evidence weight, the incident threshold and TermFlood's limits ×0.5 and
// ×2, per host and per
// connection on every labelled capture, and false incidents on the benign
// captures (the four Campos weeks, Somfy, MQTTset's benign sensors). It runs only
// with WARD_NETIDS_SENSITIVITY=1 (minutes of CPU); it asserts nothing.
func TestSensitivity(t *testing.T) {
	if os.Getenv("WARD_NETIDS_SENSITIVITY") != "1" {
		t.Skip("set WARD_NETIDS_SENSITIVITY=1 to print the sensitivity table")
	}
	root := sharedData(t, "iot-captures")
	type capture struct {
		name, file, labels string
		learn              int
	}
	caps := []capture{
		{"gafgyt", "netns-gafgyt-sim/netns-gafgyt-sim.pcap", "netns-gafgyt-sim/labels.csv", 35434},
		{"ircbot", "iot23-hue-then-ircbot-34-1/hue-4-1_then_34-1-irc.pcap", "iot23-hue-then-ircbot-34-1/labels.csv", 10832},
		{"muhstik", "iot23-hue-then-muhstik-3-1/hue-4-1_then_3-1-c2.pcap", "iot23-hue-then-muhstik-3-1/labels.csv", 10832},
	}
	campos, _ := filepath.Glob(filepath.Join(root, "benign-devices-campos2021", "*.pcap"))
	others := []capture{
		{"somfy", "benign-somfy-honeypot-7-1/2019-07-03-15-15-47-first_start_somfy_gateway.pcap", "", 2000},
		{"mqttset benign", "mqttset-attacks/benign-5mb.merged.pcap", "", 10000},
	}
	type variant struct {
		name string
		ev   netids.EvidenceOptions
	}
	vs := []variant{{"defaults", netids.EvidenceOptions{}}}
	def := netids.DefaultEvidence()
	for term := netids.Term(0); term < netids.NumTerms; term++ {
		for _, f := range []float64{0.5, 2} {
			e := def
			e.Weights[term] = min(1, def.Weights[term]*f)
			vs = append(vs, variant{fmt.Sprintf("%s weight ×%g", term, f), e})
		}
	}
	for _, f := range []float64{0.5, 2} {
		e := def
		e.Threshold = min(0.99, def.Threshold*f)
		vs = append(vs, variant{fmt.Sprintf("threshold ×%g", f), e})
	}
	for _, f := range []float64{0.5, 2} {
		e := def
		e.FloodFloor = def.FloodFloor * f
		vs = append(vs, variant{fmt.Sprintf("flood floor ×%g", f), e})
		e = def
		e.FloodPeakFactor = def.FloodPeakFactor * f
		vs = append(vs, variant{fmt.Sprintf("flood peak factor ×%g", f), e})
	}
	var b strings.Builder
	b.WriteString("| variant | detected (of 3) | false incidents (labelled) | false incidents (Campos, 34 host-days) | false incidents (Somfy, MQTTset benign) | connection AUC gafgyt / ircbot / muhstik | gafgyt own-host AUC |\n|---|---|---|---|---|---|---|\n")
	for _, v := range vs {
		det, fi, cfi, ofi := 0, 0, 0, 0
		own := 0.0
		var aucs []string
		for _, c := range caps {
			run := evalWith(t, filepath.Join(root, c.file), filepath.Join(root, c.labels), c.learn, v.ev)
			det += run.Report.Hosts.Detected
			fi += run.Report.Hosts.FalseIncidents
			aucs = append(aucs, fmt.Sprintf("%.4f", run.Report.Conns.AUC))
			if c.name == "gafgyt" {
				own = run.Report.OwnHostAUC
			}
		}
		for _, c := range others {
			ofi += evalWith(t, filepath.Join(root, c.file), "", c.learn, v.ev).Report.Hosts.FalseIncidents
		}
		for _, f := range campos {
			run := evalWith(t, f, "", 5000, v.ev)
			cfi += run.Report.Hosts.FalseIncidents
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %s | %.4f |\n", v.name, det, fi, cfi, ofi, strings.Join(aucs, " / "), own)
	}
	fmt.Print(b.String())
}

func evalWith(t *testing.T, capture, labels string, learn int, ev netids.EvidenceOptions) eval.Run {
	t.Helper()
	lab := make([]int8, 1<<20)
	if labels != "" {
		lf, err := os.Open(labels)
		if err != nil {
			t.Fatal(err)
		}
		defer lf.Close()
		if lab, err = eval.ReadLabels(lf); err != nil {
			t.Fatal(err)
		}
	}
	r, err := netids.OpenFile(capture, netids.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s, err := netids.New(netids.Options{Learn: learn, Seed: 1, Evidence: ev})
	if err != nil {
		t.Fatal(err)
	}
	run, err := eval.Capture(t.Context(), r, s, lab, nil)
	if err != nil {
		t.Fatal(err)
	}
	return run
}
