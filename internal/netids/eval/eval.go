// Package eval scores a detector against labelled packets: ROC AUC, equal
// error rate and true-positive rate at fixed false-positive rates, with the
// definitions of the shared data sets' README (AUC as sklearn's
// roc_auc_score, ties counted half; EER where FPR and FNR are closest; TPR
// at the highest threshold whose FPR is at most the target). It also reads
// label files and draws the ROC curve and score-over-time plots.
//
// Capture runs a sensor over a labelled capture and Evaluate judges it per
// host first (infected hosts detected, time to the first incident, false
// incidents per benign host-day), then per connection, then per packet,
// with two checks that a per-host average of scores cannot pass (the
// infected hosts' own benign against malicious traffic, and the benign
// hosts that share a server with them) and three baselines (the learned
// score alone, a "new endpoint" one-liner, rules only).
package eval

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// maxLabels bounds a label file (the largest public capture labels have
// under 10^7 rows).
const maxLabels = 1 << 26

// ReadLabels parses an `index,label` CSV (0-based packet index, label 0 or
// 1; a header line is allowed). Kitsune-style files with one label per line
// and no index are accepted too. The result is indexed by packet position;
// packets without a row are -1.
func ReadLabels(r io.Reader) ([]int8, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 64*1024)
	var labels []int8
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		idxStr, labStr, hasIdx := strings.Cut(text, ",")
		if !hasIdx {
			labStr = idxStr
		}
		lab, err := parseLabel(labStr)
		if err != nil {
			if line == 1 {
				continue // header
			}
			return nil, fmt.Errorf("labels line %d: %w", line, err)
		}
		idx := len(labels)
		if hasIdx {
			i, err := strconv.Atoi(strings.TrimSpace(idxStr))
			if err != nil || i < 0 {
				if line == 1 {
					continue
				}
				return nil, fmt.Errorf("labels line %d: index %q is not a non-negative integer", line, idxStr)
			}
			idx = i
		}
		if idx >= maxLabels {
			return nil, fmt.Errorf("labels line %d: index %d exceeds the limit of %d packets", line, idx, maxLabels)
		}
		for len(labels) <= idx {
			labels = append(labels, -1)
		}
		labels[idx] = lab
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read labels: %w", err)
	}
	if len(labels) == 0 {
		return nil, errors.New("labels: no rows")
	}
	return labels, nil
}

func parseLabel(s string) (int8, error) {
	switch strings.TrimSpace(s) {
	case "0", "0.0", "benign":
		return 0, nil
	case "1", "1.0", "malicious":
		return 1, nil
	}
	return 0, fmt.Errorf("label %q is not 0 or 1", s)
}

// Metrics are the detection figures of one run.
type Metrics struct {
	Positives int     `json:"positives"`
	Negatives int     `json:"negatives"`
	AUC       float64 `json:"auc"`
	EER       float64 `json:"eer"`
	TPR001    float64 `json:"tpr_at_fpr_0.1pct"`
	TPR01     float64 `json:"tpr_at_fpr_1pct"`
	// FPRAtThreshold and TPRAtThreshold are the rates at a given alert
	// threshold (Compute's threshold argument; 0 when none).
	FPRAtThreshold float64 `json:"fpr_at_threshold"`
	TPRAtThreshold float64 `json:"tpr_at_threshold"`
}

// Point is one point of a ROC curve.
type Point struct{ FPR, TPR, Threshold float64 }

// Compute returns the metrics of scores against labels (1 = positive) and
// the ROC curve. threshold, if positive, is the shipped alert threshold.
func Compute(scores []float64, labels []int8, threshold float64) (Metrics, []Point, error) {
	if len(scores) != len(labels) {
		return Metrics{}, nil, fmt.Errorf("%d scores for %d labels", len(scores), len(labels))
	}
	type sl struct {
		s float64
		l int8
	}
	v := make([]sl, 0, len(scores))
	var m Metrics
	for i, s := range scores {
		switch labels[i] {
		case 0:
			m.Negatives++
		case 1:
			m.Positives++
		default:
			continue
		}
		v = append(v, sl{s, labels[i]})
	}
	if m.Positives == 0 || m.Negatives == 0 {
		return m, nil, fmt.Errorf("need both classes: %d positive and %d negative packets", m.Positives, m.Negatives)
	}
	sort.Slice(v, func(i, j int) bool { return v[i].s > v[j].s })
	P, N := float64(m.Positives), float64(m.Negatives)
	curve := []Point{{0, 0, math.Inf(1)}}
	var tp, fp float64
	var auc float64
	for i := 0; i < len(v); {
		j := i
		var dtp, dfp float64
		for ; j < len(v) && v[j].s == v[i].s; j++ {
			if v[j].l == 1 {
				dtp++
			} else {
				dfp++
			}
		}
		auc += dfp * (tp + dtp/2) // negatives ranked below tp positives, ties half
		tp += dtp
		fp += dfp
		curve = append(curve, Point{fp / N, tp / P, v[i].s})
		i = j
	}
	m.AUC = auc / (P * N)
	m.EER, m.TPR001, m.TPR01 = 1, 0, 0
	best := math.Inf(1)
	for _, p := range curve {
		fnr := 1 - p.TPR
		if d := math.Abs(p.FPR - fnr); d < best {
			best, m.EER = d, (p.FPR+fnr)/2
		}
		if p.FPR <= 0.001 {
			m.TPR001 = math.Max(m.TPR001, p.TPR)
		}
		if p.FPR <= 0.01 {
			m.TPR01 = math.Max(m.TPR01, p.TPR)
		}
	}
	if threshold > 0 {
		var tpa, fpa float64
		for _, x := range v {
			if x.s > threshold {
				if x.l == 1 {
					tpa++
				} else {
					fpa++
				}
			}
		}
		m.FPRAtThreshold, m.TPRAtThreshold = fpa/N, tpa/P
	}
	return m, curve, nil
}
