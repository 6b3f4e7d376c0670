// Command mqttset evaluates Ward's network sensor on the MQTTset attack
// captures (../shared/data/iot-captures/mqttset-attacks, beside the
// repository): each attack file holds only attacker↔broker traffic, so
// each is played after the benign MQTT sensors' capture, its timestamps
// shifted to start one second after the benign capture ends (as
// `editcap -t` and `mergecap -a` would build it; eval.Sequence). The
// sensor learns on the first -learn benign packets and scores the rest.
// Labels, as the dataset's README says: every packet of an attack file is
// malicious (each holds only attacker↔broker traffic), every packet of the
// benign file benign.
//
//	go run ./bench/netids/mqttset [-data DIR] [-learn 10000]
//
// It prints a markdown table per host and per connection, one row per
// attack, then the worst and the mean; then the same with the novelty,
// learned and drift terms switched off. The attackers are hosts the benign
// capture never had, on another subnet and link type (Ethernet after Linux
// cooked capture), so those three terms alone see every attack; the second
// table says what the behavioural terms see.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/wardproject/ward/internal/netids"
	"github.com/wardproject/ward/internal/netids/assemble"
	"github.com/wardproject/ward/internal/netids/eval"
)

var attacks = []string{"flood.pcap", "malariados.pcap", "malformed.pcap", "slowite.pcap", "bruteforce.pcapng"}

const benignFile = "benign-5mb.merged.pcap"

func main() {
	data := flag.String("data", filepath.Join("..", "shared", "data", "iot-captures", "mqttset-attacks"), "the mqttset-attacks `DIR`")
	learn := flag.Int("learn", 10000, "learning packets (from the benign capture)")
	flag.Parse()
	for _, behaviour := range []bool{false, true} {
		if behaviour {
			fmt.Println("\nbehavioural terms only (novelty, learned and drift off):")
		}
		if err := run(context.Background(), os.Stdout, *data, *learn, behaviour); err != nil {
			fmt.Fprintln(os.Stderr, "mqttset:", err)
			os.Exit(1)
		}
	}
}

func run(ctx context.Context, w io.Writer, dir string, learn int, behaviour bool) error {
	nBenign, err := count(filepath.Join(dir, benignFile))
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "| attack | packets (benign / malicious) | attacker detected | time to first incident | false incidents / benign host-days | connections (benign / malicious) | connection AUC | TPR @ FPR ≤ 0.1 %% | TPR @ FPR ≤ 1 %% | packet AUC | the attacker's first incident |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	var worst, sum float64
	worst = 2
	detected := 0
	for _, a := range attacks {
		rep, why, err := one(ctx, dir, a, nBenign, learn, behaviour)
		if err != nil {
			return err
		}
		h := rep.Report.Hosts
		det, ttd := "0 of 0", "–"
		if n := len(h.Infected); n > 0 {
			d := 0
			for _, in := range h.Infected {
				if in.Detected {
					d++
					ttd = in.TimeToDetect.Round(1e6).String()
				}
			}
			det = fmt.Sprintf("%d of %d", d, n)
			detected += d
		}
		c := rep.Report.Conns
		fmt.Fprintf(w, "| %s | %d / %d | %s | %s | %d / %.2f | %d / %d | %.4f | %.4f | %.4f | %.4f | %s |\n", a,
			rep.Metrics.Negatives, rep.Metrics.Positives, det, ttd, h.FalseIncidents, h.BenignHostDays,
			c.Negatives, c.Positives, c.AUC, c.TPR001, c.TPR01, rep.Metrics.AUC, why)
		worst = min(worst, c.AUC)
		sum += c.AUC
	}
	fmt.Fprintf(w, "\nattackers detected %d of %d; connection AUC worst %.4f, mean %.4f\n", detected, len(attacks), worst, sum/float64(len(attacks)))
	return nil
}

// one evaluates attack file a played after the benign capture; why is
// the severity and evidence of the first incident of an infected host.
func one(ctx context.Context, dir, a string, nBenign, learn int, behaviour bool) (_ eval.Run, why string, _ error) {
	nAttack, err := count(filepath.Join(dir, a))
	if err != nil {
		return eval.Run{}, "", err
	}
	labels := make([]int8, nBenign+nAttack)
	for i := nBenign; i < len(labels); i++ {
		labels[i] = 1
	}
	var parts []netids.Source
	for _, f := range []string{benignFile, a} {
		r, err := netids.OpenFile(filepath.Join(dir, f), netids.FileOptions{})
		if err != nil {
			return eval.Run{}, "", err
		}
		defer r.Close()
		parts = append(parts, r)
	}
	cfg := assemble.Config{Learn: learn, Seed: 1, Stdout: io.Discard}
	if behaviour {
		cfg.Extend = func(o *netids.Options) error {
			for _, t := range []netids.Term{netids.TermNovelty, netids.TermLearned, netids.TermDrift} {
				o.Evidence.Off[t] = true
			}
			return nil
		}
	}
	s, err := assemble.New(cfg)
	if err != nil {
		return eval.Run{}, "", err
	}
	defer s.Close()
	run, err := eval.Capture(ctx, eval.NewSequence([]string{benignFile, a}, parts...), s.Sensor, labels, nil)
	if err != nil {
		return run, "", fmt.Errorf("evaluate %s after %s: %w", a, benignFile, err)
	}
	why = "–"
	for _, in := range s.Sensor.Incidents() {
		infected := false
		for _, h := range run.Report.Hosts.Infected {
			infected = infected || h.Host == in.Host
		}
		if infected && len(in.Flows) > 0 {
			why = fmt.Sprintf("%s: %s", in.Severity, in.Flows[0].Evidence)
			break
		}
	}
	return run, why, s.Finish()
}

// count returns the number of packets in a capture.
func count(path string) (int, error) {
	r, err := netids.OpenFile(path, netids.FileOptions{})
	if err != nil {
		return 0, err
	}
	defer r.Close()
	n := 0
	for {
		if _, err := r.Next(); errors.Is(err, io.EOF) {
			return n, nil
		} else if err != nil {
			return n, err
		}
		n++
	}
}
