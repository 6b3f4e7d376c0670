package detect

import (
	"math"
	"sort"
)

// The learned baseline.
//
// Each device group (the devices of one model within a profile) has, per
// numeric metric, an online estimate of the mean and standard deviation of
// log1p(value) over the group's datapoints: a cumulative average for the
// first HalfLife datapoints, then an exponentially weighted one, so that the
// model tracks slow drift. A datapoint's score is its largest one-sided
// robust z-score, z = (x - mean) / max(sd, sdFloor), together with the
// root-sum-square of all positive z-scores for the multivariate case (many
// metrics moderately up at once). The log scale makes the score a ratio to
// normal, which suits counters that span orders of magnitude; the sd floor
// (0.5 in log units, about x1.65) keeps quiet metrics (always 0) from
// turning one event into an infinite z.
//
// Why this and not Half-Space Trees or an autoencoder: IoT devices of one
// model behave alike and mostly steadily, the attacks to catch raise one or
// a few metrics by large factors, and operators must be able to read why a
// datapoint scored high ("bytes_sent is 40x the group's usual"). The model
// is useful after MinDatapoints datapoints (200: for 20 devices and a 1-min
// window, ten minutes) rather than Device Defender ML Detect's 14 days and
// 25,000 datapoints, it is O(metrics) per datapoint, and its state is a few
// numbers per group and metric, persisted as JSON. Datapoints that score as
// anomalous are not learned, so an ongoing attack does not become normal.
//
// Sensitivity maps to the score threshold (LOW/MEDIUM/HIGH as in ML
// Detect's confidence levels): high 4, medium 6, low 9 (max z); the
// multivariate score uses 1.5x those.

// Baseline tuning.
const (
	HalfLife      = 5000 // datapoints
	MinDatapoints = 200
	MinWindows    = 5
	sdFloor       = 0.5
)

// sensitivityThreshold returns the z threshold for a sensitivity.
func sensitivityThreshold(s string) float64 {
	switch s {
	case "high":
		return 4
	case "low":
		return 9
	}
	return 6
}

// metricStat is a running mean and variance (West's weighted update).
type metricStat struct {
	Mean float64 `json:"mean"`
	Var  float64 `json:"var"`
}

// groupModel is the baseline of one device group.
type groupModel struct {
	N       int64                  `json:"n"`       // datapoints learned
	Windows int64                  `json:"windows"` // windows in which it learned
	Stats   map[string]*metricStat `json:"stats"`
	lastWin int64
}

func newGroupModel() *groupModel { return &groupModel{Stats: map[string]*metricStat{}} }

// ready reports whether the model has learned enough to score.
func (g *groupModel) ready() bool { return g.N >= MinDatapoints && g.Windows >= MinWindows }

// Score is a baseline verdict on one datapoint.
type Score struct {
	Max    float64 // largest one-sided z
	Metric string  // the metric with the largest z
	RSS    float64 // root-sum-square of the positive z-scores
	Value  float64 // the metric's value
	Usual  float64 // the group's usual value of that metric (exp(mean)-1)
	Top    []string
}

func (g *groupModel) score(values map[string]float64) Score {
	var s Score
	type mz struct {
		m string
		z float64
	}
	var ups []mz
	for _, m := range NumericMetrics {
		st := g.Stats[m]
		if st == nil {
			continue
		}
		x := math.Log1p(math.Max(0, values[m]))
		sd := math.Max(math.Sqrt(st.Var), sdFloor)
		z := (x - st.Mean) / sd
		if z > 0 {
			s.RSS += z * z
			ups = append(ups, mz{m, z})
		}
		if z > s.Max {
			s.Max, s.Metric, s.Value, s.Usual = z, m, values[m], math.Expm1(st.Mean)
		}
	}
	s.RSS = math.Sqrt(s.RSS)
	sort.Slice(ups, func(i, j int) bool { return ups[i].z > ups[j].z })
	for i := 0; i < len(ups) && i < 3 && ups[i].z >= 2; i++ {
		s.Top = append(s.Top, ups[i].m)
	}
	return s
}

// learn folds a datapoint into the model.
func (g *groupModel) learn(values map[string]float64, window int64) {
	g.N++
	if window != g.lastWin {
		g.lastWin = window
		g.Windows++
	}
	w := 1 / float64(min(g.N, HalfLife))
	for _, m := range NumericMetrics {
		x := math.Log1p(math.Max(0, values[m]))
		st := g.Stats[m]
		if st == nil {
			st = &metricStat{Mean: x}
			g.Stats[m] = st
			continue
		}
		d := x - st.Mean
		st.Mean += w * d
		st.Var = (1 - w) * (st.Var + w*d*d)
	}
}

// anomalous reports whether a score crosses the sensitivity's thresholds.
func (s Score) anomalous(sensitivity string) bool {
	t := sensitivityThreshold(sensitivity)
	return s.Max >= t || s.RSS >= 1.5*t
}
