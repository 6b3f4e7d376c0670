// Package kitnet is Ward's online, unsupervised anomaly detector for packet
// feature vectors: a KitNET ensemble (Mirsky et al., NDSS 2018). During a
// feature-mapping grace period it learns the correlations between features
// and clusters them, by single linkage, into groups of at most MaxAE
// features; then it trains one small autoencoder per group and an output
// autoencoder over the ensemble's reconstruction errors. A sample's anomaly
// score is the output autoencoder's reconstruction RMSE.
//
// Two changes to the reference, both measured in docs/detection.md:
// features pass through a signed log transform, sign(x)·log(1+|x|), before
// KitNET's min–max scaling (byte counts, weights and variances are heavy
// tailed, and min–max scaling of the raw values squeezes the normal range
// into a sliver near 0), and training is prequential: each learning sample
// is scored before it is learnt from, so the caller can choose an alert
// threshold from scores on data the model had not yet seen.
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
)

// Phase is where a Detector is in its life.
type Phase int

// Phases, in order.
const (
	// PhaseMapping: learning the feature map (correlation clustering).
	PhaseMapping Phase = iota
	// PhaseTraining: training the autoencoders.
	PhaseTraining
	// PhaseExecuting: scoring only; the model no longer changes.
	PhaseExecuting
)

func (p Phase) String() string {
	switch p {
	case PhaseMapping:
		return "mapping"
	case PhaseTraining:
		return "training"
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

	tx, sub, l1 []float64 // scratch
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
	case d.trained < d.opts.Learn:
		return PhaseTraining
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

// Process learns from x while the detector is learning and scores it
// afterwards. While training, the returned score is x's score before the
// model learnt from it (0 while mapping features). learning reports
// whether x was used for learning.
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
		score = d.output.execute(d.l1)
		d.output.train(d.l1, d.opts.LearningRate)
		d.trained++
		return score, true
	default:
		return d.score(d.transform(x)), false
	}
}

// Score returns x's anomaly score without learning.
func (d *Detector) Score(x []float64) (float64, error) {
	if d.fmap == nil {
		return 0, ErrNotReady
	}
	return d.score(d.transform(x)), nil
}

func (d *Detector) score(t []float64) float64 {
	for a, ae := range d.ensemble {
		d.gather(t, d.fmap[a])
		d.l1[a] = ae.execute(d.sub[:len(d.fmap[a])])
	}
	return d.output.execute(d.l1)
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
