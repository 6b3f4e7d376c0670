package detect

import (
	"math"
	"sort"
)

// The learned baseline.
//
// Each device group (the devices of one model within a profile) has, per
// numeric metric, a decaying histogram of log1p(value) over the group's
// datapoints (bins of 0.05 in log units, about 5 %; an exponential decay
// with a half-life of HalfLife datapoints, so that slow drift becomes
// normal). A datapoint's score for a metric is how far its value lies above
// the group's learned tail: s = log1p(x) - log1p(q), with q the 99.9th
// percentile of the metric for the group; in plain words, "bytes_sent is
// 40x more than this model ever normally sends". The datapoint is
// anomalous when the largest score exceeds the sensitivity's margin (high
// ln 3, medium ln 6, low ln 12: three, six or twelve times above normal),
// or when at least three metrics are each more than twice their p99
// (several moderate deviations at once, the multivariate case).
//
// Why this and not a Gaussian z-score, Half-Space Trees or an autoencoder:
// IoT devices of one model behave alike and steadily, with rare but normal
// bursts (a reboot, a diagnostics upload); a mean-and-variance model flags
// those bursts every time they happen, while a tail quantile learns them.
// The attacks to catch raise one or a few metrics by large factors, and
// operators must be able to read why a datapoint scored high. The model is
// useful after MinDatapoints datapoints (200: for 20 devices and a 1-minute
// window, ten minutes) rather than Device Defender ML Detect's 14 days and
// 25,000 datapoints; it costs O(metrics) per datapoint plus a quantile
// refresh every 32 datapoints, and its state is a few hundred numbers per
// group and metric, persisted as JSON. Datapoints that score as anomalous
// are not learned, so an ongoing attack does not become normal.

// Baseline tuning.
const (
	HalfLife      = 5000 // datapoints
	MinDatapoints = 200
	MinWindows    = 5
	binWidth      = 0.05
	numBins       = 520 // log1p values up to 26 (about 2e11)
	refreshEvery  = 32
	modelVersion  = 2
)

// sensitivityMargin returns the log-scale margin above the group's p99.9.
func sensitivityMargin(s string) float64 {
	switch s {
	case "high":
		return math.Log(3)
	case "low":
		return math.Log(12)
	}
	return math.Log(6)
}

// histogram is a decaying histogram of log1p values. Counts are stored
// scaled by an ever-growing weight (instead of decaying every bin on every
// update), renormalised when the weight gets large.
type histogram struct {
	Bins   []float64 `json:"bins"`
	Weight float64   `json:"weight"` // weight of the next sample
	Total  float64   `json:"total"`
	p999   float64   // cached quantiles (log1p scale)
	p99    float64
	stale  int
}

func newHistogram() *histogram { return &histogram{Bins: make([]float64, numBins), Weight: 1} }

func (h *histogram) add(x float64) {
	i := int(x / binWidth)
	i = max(0, min(i, numBins-1))
	h.Bins[i] += h.Weight
	h.Total += h.Weight
	h.Weight /= 1 - 1.0/HalfLife
	if h.Weight > 1e100 {
		for i := range h.Bins {
			h.Bins[i] /= h.Weight
		}
		h.Total /= h.Weight
		h.Weight = 1
	}
	h.stale++
}

// quantile returns the upper edge of the bin holding the q-quantile.
func (h *histogram) quantile(q float64) float64 {
	if h.Total == 0 {
		return 0
	}
	target := q * h.Total
	acc := 0.0
	for i, c := range h.Bins {
		acc += c
		if acc >= target {
			return float64(i+1) * binWidth
		}
	}
	return numBins * binWidth
}

func (h *histogram) tails() (p99, p999 float64) {
	if h.stale > 0 && (h.stale >= refreshEvery || h.p999 == 0) {
		h.p99, h.p999, h.stale = h.quantile(0.99), h.quantile(0.999), 0
	}
	return h.p99, h.p999
}

// groupModel is the baseline of one device group.
type groupModel struct {
	Version int                   `json:"version"`
	N       int64                 `json:"n"`       // datapoints learned
	Windows int64                 `json:"windows"` // windows in which it learned
	Hist    map[string]*histogram `json:"hist"`
	lastWin int64
}

func newGroupModel() *groupModel {
	return &groupModel{Version: modelVersion, Hist: map[string]*histogram{}}
}

// ready reports whether the model has learned enough to score.
func (g *groupModel) ready() bool { return g.N >= MinDatapoints && g.Windows >= MinWindows }

// Score is a baseline verdict on one datapoint.
type Score struct {
	Max      float64  // largest log-scale excess over the group's p99.9
	Metric   string   // the metric with the largest excess
	Value    float64  // its value
	Usual    float64  // the group's p99.9 of that metric
	Elevated []string // metrics above twice their p99
}

// Ratio is how many times above the group's p99.9 the worst metric is.
func (s Score) Ratio() float64 { return math.Exp(s.Max) }

func (g *groupModel) score(values map[string]float64) Score {
	s := Score{Max: math.Inf(-1)}
	for _, m := range NumericMetrics {
		h := g.Hist[m]
		if h == nil {
			continue
		}
		x := math.Log1p(math.Max(0, values[m]))
		p99, p999 := h.tails()
		if x-p99 > math.Ln2 {
			s.Elevated = append(s.Elevated, m)
		}
		if ex := x - p999; ex > s.Max {
			s.Max, s.Metric, s.Value, s.Usual = ex, m, values[m], math.Expm1(p999)
		}
	}
	sort.Strings(s.Elevated)
	return s
}

// learn folds a datapoint into the model.
func (g *groupModel) learn(values map[string]float64, window int64) {
	g.N++
	if window != g.lastWin {
		g.lastWin = window
		g.Windows++
	}
	for _, m := range NumericMetrics {
		h := g.Hist[m]
		if h == nil {
			h = newHistogram()
			g.Hist[m] = h
		}
		h.add(math.Log1p(math.Max(0, values[m])))
	}
}

// anomalous reports whether a score crosses the sensitivity's thresholds.
func (s Score) anomalous(sensitivity string) bool {
	return s.Max > sensitivityMargin(sensitivity) || len(s.Elevated) >= 3
}
