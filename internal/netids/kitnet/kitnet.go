// Package kitnet is Ward's online, unsupervised anomaly detector for packet
// feature vectors: a KitNET ensemble (Mirsky et al., NDSS 2018). During a
// feature-mapping grace period it learns the correlations between features
// and clusters them, by single linkage, into groups of at most MaxAE
// features; then it trains one small autoencoder per group and an output
// autoencoder over the ensemble's reconstruction errors. A sample's anomaly
// score is the output autoencoder's reconstruction RMSE.
//
// Changes to the reference, measured in docs/detection.md:
//   - features pass through a signed log transform, sign(x)·log(1+|x|),
//     before KitNET's min–max scaling (byte counts, weights and variances
//     are heavy tailed, and min–max scaling of the raw values squeezes the
//     normal range into a sliver near 0);
//   - scaled inputs are clipped to [0, 1] with a guarded denominator, so a
//     score is at most 1 and one feature that drifts out of its training
//     range cannot swamp the others; how many features left their range is
//     reported beside the score ([Detector.Drift]) as a signal of its own;
//   - the last Options.Calibrate learning samples are held back: they are
//     scored by the frozen model (scaler included), as later traffic will
//     be, and their score distribution ([Calibration]) is what a caller
//     turns into a threshold or a bounded evidence term. While training,
//     each sample is still scored before it is learnt from (prequential).
//
// The detector is deterministic for a fixed Options.Seed and can be saved
// and loaded ([Detector.Save], [Load]) in a versioned JSON format.
//
// No maintained Go library implements KitNET (gonum has the linear algebra,
// not the online ensemble), so Ward writes its own; at 100 features and
// groups of 10 the plain loops here are faster than calling into BLAS.
package kitnet

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Phase is where a Detector is in its life.
type Phase int

// Phases, in order.
const (
	// PhaseMapping: learning the feature map (correlation clustering).
	PhaseMapping Phase = iota
	// PhaseTraining: training the autoencoders.
	PhaseTraining
	// PhaseCalibrating: scoring held-back learning samples with the frozen
	// model to learn the distribution of normal scores.
	PhaseCalibrating
	// PhaseExecuting: scoring only; the model no longer changes.
	PhaseExecuting
)

func (p Phase) String() string {
	switch p {
	case PhaseMapping:
		return "mapping"
	case PhaseTraining:
		return "training"
	case PhaseCalibrating:
		return "calibrating"
	default:
		return "executing"
	}
}

// Transforms accepted in Options.Transform.
const (
	TransformLog  = "log"  // sign(x)·log(1+|x|), the default
	TransformNone = "none" // raw features, as the reference KitNET
)

// Options configure a Detector. Zero values mean the documented defaults.
type Options struct {
	// Features is the length of each sample. Required.
	Features int
	// Learn is the number of samples used for learning, feature mapping
	// included. Default 10,000.
	Learn int
	// FMGrace is how many of the Learn samples map features. Default
	// Learn/10 (the reference setting: 1,083 of 10,832).
	FMGrace int
	// Calibrate is how many of the last Learn samples are held back from
	// training and scored by the frozen model (see [Calibration]). Default
	// a fifth of the samples after FMGrace; negative: none (the reference).
	Calibrate int
	// MaxAE is the largest number of features per autoencoder. Default 10.
	MaxAE int
	// LearningRate of the autoencoders' SGD. Default 0.1.
	LearningRate float64
	// HiddenRatio of hidden to visible units. Default 0.75.
	HiddenRatio float64
	// Transform applied to features before scaling: TransformLog (default)
	// or TransformNone.
	Transform string
	// Seed for weight initialisation; the same seed and input give the same
	// scores.
	Seed uint64
}

// Detector is a KitNET ensemble. It is not safe for concurrent use.
type Detector struct {
	opts     Options
	rng      *rand.Rand
	corr     *corr
	fmap     [][]int
	ensemble []*autoencoder
	output   *autoencoder
	trained  int
	// Threshold is the alert threshold chosen by the caller; it is saved
	// with the model. Zero means none chosen.
	Threshold float64

	calib   []float64 // calibration scores, until calibration ends
	calibDr []float64 // their drift fractions
	cal     Calibration
	drift   float64 // drift of the last scored sample

	tx, sub, l1 []float64 // scratch
}

// Calibration describes the scores and drift of the held-back learning
// samples, scored by the frozen model. It is saved with the model.
type Calibration struct {
	// N is the number of calibration samples (0: not calibrated).
	N int `json:"n"`
	// Score quantiles: median, 90th, 99th, 99.9th percentile and maximum.
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
	// DriftP99 is the 99th percentile of the fraction of features out of
	// their training range.
	DriftP99 float64 `json:"drift_p99"`
}

// Quantile returns the q-quantile (0 ≤ q ≤ 1, nearest rank) of sorted.
func Quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// ErrNotReady is returned by Score before the feature map exists.
var ErrNotReady = errors.New("detector has not finished mapping features")

// New returns an untrained Detector.
func New(opts Options) (*Detector, error) {
	if opts.Features <= 0 {
		return nil, errors.New("kitnet: Options.Features must be positive")
	}
	if opts.Learn <= 0 {
		opts.Learn = 10000
	}
	if opts.FMGrace <= 0 {
		opts.FMGrace = opts.Learn / 10
	}
	if opts.FMGrace < 2 {
		opts.FMGrace = 2
	}
	if opts.FMGrace >= opts.Learn {
		return nil, fmt.Errorf("kitnet: feature-mapping grace (%d) must be shorter than learning (%d samples)", opts.FMGrace, opts.Learn)
	}
	switch {
	case opts.Calibrate < 0:
		opts.Calibrate = 0
	case opts.Calibrate == 0:
		opts.Calibrate = (opts.Learn - opts.FMGrace) / 5
	}
	if opts.Learn-opts.FMGrace-opts.Calibrate < 1 {
		return nil, fmt.Errorf("kitnet: %d learning samples leave none to train on after %d for feature mapping and %d for calibration", opts.Learn, opts.FMGrace, opts.Calibrate)
	}
	if opts.MaxAE <= 0 {
		opts.MaxAE = 10
	}
	if opts.LearningRate <= 0 {
		opts.LearningRate = 0.1
	}
	if opts.HiddenRatio <= 0 {
		opts.HiddenRatio = 0.75
	}
	switch opts.Transform {
	case "":
		opts.Transform = TransformLog
	case TransformLog, TransformNone:
	default:
		return nil, fmt.Errorf("kitnet: unknown transform %q (want %q or %q)", opts.Transform, TransformLog, TransformNone)
	}
	d := &Detector{
		opts: opts,
		rng:  rand.New(rand.NewPCG(opts.Seed, 0x5741524431)),
		corr: newCorr(opts.Features),
		tx:   make([]float64, opts.Features),
	}
	return d, nil
}

// Options returns the detector's options with defaults filled in.
func (d *Detector) Options() Options { return d.opts }

// Phase returns the detector's phase.
func (d *Detector) Phase() Phase {
	switch {
	case d.trained < d.opts.FMGrace:
		return PhaseMapping
	case d.trained < d.opts.Learn-d.opts.Calibrate:
		return PhaseTraining
	case d.trained < d.opts.Learn:
		return PhaseCalibrating
	default:
		return PhaseExecuting
	}
}

// FeatureMap returns the feature groups, one per autoencoder (nil while
// mapping).
func (d *Detector) FeatureMap() [][]int { return d.fmap }

func (d *Detector) transform(x []float64) []float64 {
	for i, v := range x {
		switch {
		case math.IsNaN(v) || math.IsInf(v, 0):
			d.tx[i] = 0 // never let one bad value poison the weights
		case d.opts.Transform == TransformNone:
			d.tx[i] = v
		case v > 0:
			d.tx[i] = math.Log1p(v)
		case v < 0:
			d.tx[i] = -math.Log1p(-v)
		default:
			d.tx[i] = 0
		}
	}
	return d.tx
}

// Warnings says, in words for an operator, what is too short in a
// learning split (empty when nothing is): a feature map estimated from
// fewer than 10 samples per feature, autoencoders trained on fewer than
// 5,000 samples, or a calibration of fewer than 1,000 samples (whose
// 99.9th percentile is then the maximum).
func (o Options) Warnings() []string {
	var w []string
	if o.FMGrace < 10*o.Features {
		w = append(w, fmt.Sprintf("feature mapping sees %d packets for %d features (want at least %d): the feature groups are close to arbitrary", o.FMGrace, o.Features, 10*o.Features))
	}
	if n := o.Learn - o.FMGrace - o.Calibrate; n < 5000 {
		w = append(w, fmt.Sprintf("the autoencoders train on %d packets (want at least 5000): normal traffic not seen yet will score as anomalous", n))
	}
	if o.Calibrate < 1000 {
		w = append(w, fmt.Sprintf("the score calibration holds %d packets (want at least 1000): its high percentiles are unreliable", o.Calibrate))
	}
	return w
}

// Calibration returns the calibration (zero until calibration ends or when
// Options.Calibrate was negative).
func (d *Detector) Calibration() Calibration { return d.cal }

// SetCalibration replaces the calibration, for a model calibrated on other
// traffic than it learnt from.
func (d *Detector) SetCalibration(c Calibration) { d.cal = c }

// Drift returns the fraction of features out of their training range in
// the last sample scored by the frozen model (calibrating or executing);
// 0 otherwise.
func (d *Detector) Drift() float64 { return d.drift }

// Process learns from x while the detector is learning and scores it
// afterwards. While training, the returned score is x's score before the
// model learnt from it (0 while mapping features); while calibrating it is
// the frozen model's score, and the model does not change. learning
// reports whether x was one of the Learn samples.
func (d *Detector) Process(x []float64) (score float64, learning bool) {
	switch d.Phase() {
	case PhaseMapping:
		d.corr.update(d.transform(x))
		d.trained++
		if d.trained == d.opts.FMGrace {
			d.buildEnsemble(d.corr.cluster(d.opts.MaxAE))
			d.corr = nil
		}
		return 0, true
	case PhaseTraining:
		t := d.transform(x)
		for a, ae := range d.ensemble {
			d.gather(t, d.fmap[a])
			d.l1[a] = ae.train(d.sub[:len(d.fmap[a])], d.opts.LearningRate)
		}
		score, _ = d.output.execute(d.l1)
		d.output.train(d.l1, d.opts.LearningRate)
		d.trained++
		d.drift = 0
		if d.trained == d.opts.Learn {
			d.finishCalibration()
		}
		return score, true
	case PhaseCalibrating:
		score = d.score(d.transform(x))
		d.calib = append(d.calib, score)
		d.calibDr = append(d.calibDr, d.drift)
		d.trained++
		if d.trained == d.opts.Learn {
			d.finishCalibration()
		}
		return score, true
	default:
		return d.score(d.transform(x)), false
	}
}

func (d *Detector) finishCalibration() {
	if len(d.calib) == 0 {
		d.calib, d.calibDr = nil, nil
		return
	}
	slices.Sort(d.calib)
	slices.Sort(d.calibDr)
	d.cal = Calibration{N: len(d.calib),
		P50: Quantile(d.calib, 0.5), P90: Quantile(d.calib, 0.9), P99: Quantile(d.calib, 0.99),
		P999: Quantile(d.calib, 0.999), Max: d.calib[len(d.calib)-1],
		DriftP99: Quantile(d.calibDr, 0.99)}
	d.calib, d.calibDr = nil, nil
}

// Score returns x's anomaly score without learning.
func (d *Detector) Score(x []float64) (float64, error) {
	if d.fmap == nil {
		return 0, ErrNotReady
	}
	return d.score(d.transform(x)), nil
}

func (d *Detector) score(t []float64) float64 {
	out := 0
	for a, ae := range d.ensemble {
		d.gather(t, d.fmap[a])
		var n int
		d.l1[a], n = ae.execute(d.sub[:len(d.fmap[a])])
		out += n
	}
	d.drift = float64(out) / float64(len(t))
	s, _ := d.output.execute(d.l1)
	return s
}

func (d *Detector) gather(t []float64, idx []int) {
	for i, f := range idx {
		d.sub[i] = t[f]
	}
}

func (d *Detector) buildEnsemble(fmap [][]int) {
	d.fmap = fmap
	d.ensemble = make([]*autoencoder, len(fmap))
	maxLen := 0
	for i, g := range fmap {
		d.ensemble[i] = newAutoencoder(len(g), d.opts.HiddenRatio, d.rng)
		maxLen = max(maxLen, len(g))
	}
	d.output = newAutoencoder(len(fmap), d.opts.HiddenRatio, d.rng)
	d.sub = make([]float64, maxLen)
	d.l1 = make([]float64, len(fmap))
}
