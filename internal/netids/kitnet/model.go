package kitnet

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
)

// ModelFormat and ModelVersion identify a saved model; Load refuses others.
const (
	ModelFormat  = "ward-netids-kitnet"
	ModelVersion = 2
)

// maxModelBytes bounds a model file (a 100-feature model is about 60 kB).
const maxModelBytes = 16 << 20

// ErrBadModel is wrapped by every error Load returns for a file that is not
// a usable model.
var ErrBadModel = errors.New("not a usable Ward network-detector model")

type modelFile struct {
	Format       string         `json:"format"`
	Version      int            `json:"version"`
	Features     int            `json:"features"`
	Learn        int            `json:"learn"`
	FMGrace      int            `json:"fm_grace"`
	Calibrate    int            `json:"calibrate"`
	Calibration  Calibration    `json:"calibration"`
	MaxAE        int            `json:"max_ae"`
	LearningRate float64        `json:"learning_rate"`
	HiddenRatio  float64        `json:"hidden_ratio"`
	Transform    string         `json:"transform"`
	Seed         uint64         `json:"seed"`
	Threshold    float64        `json:"threshold"`
	FeatureMap   [][]int        `json:"feature_map"`
	Ensemble     []*autoencoder `json:"ensemble"`
	Output       *autoencoder   `json:"output"`
}

// Save writes the trained model as versioned JSON. Only a detector that
// has finished learning can be saved.
func (d *Detector) Save(w io.Writer) error {
	if d.Phase() != PhaseExecuting {
		return fmt.Errorf("save model: detector is still %s (%d of %d learning samples seen)", d.Phase(), d.trained, d.opts.Learn)
	}
	o := d.opts
	m := modelFile{
		Format: ModelFormat, Version: ModelVersion,
		Features: o.Features, Learn: o.Learn, FMGrace: o.FMGrace, Calibrate: o.Calibrate,
		Calibration: d.cal, MaxAE: o.MaxAE,
		LearningRate: o.LearningRate, HiddenRatio: o.HiddenRatio, Transform: o.Transform,
		Seed: o.Seed, Threshold: d.Threshold,
		FeatureMap: d.fmap, Ensemble: d.ensemble, Output: d.output,
	}
	enc := json.NewEncoder(w)
	if err := enc.Encode(&m); err != nil {
		return fmt.Errorf("save model: %w", err)
	}
	return nil
}

// Load reads a model written by Save. The loaded detector is in the
// executing phase. Errors wrap ErrBadModel and say what is wrong.
func Load(r io.Reader) (*Detector, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxModelBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read model: %w", err)
	}
	if len(b) > maxModelBytes {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrBadModel, maxModelBytes)
	}
	var m modelFile
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadModel, err)
	}
	if m.Format != ModelFormat {
		return nil, fmt.Errorf("%w: format is %q, want %q", ErrBadModel, m.Format, ModelFormat)
	}
	if m.Version != ModelVersion {
		return nil, fmt.Errorf("%w: version %d, this Ward reads version %d (retrain with --learn and --save-model)", ErrBadModel, m.Version, ModelVersion)
	}
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadModel, err)
	}
	cal := m.Calibrate
	if cal == 0 {
		cal = -1 // saved without calibration
	}
	d, err := New(Options{Features: m.Features, Learn: m.Learn, FMGrace: m.FMGrace, Calibrate: cal, MaxAE: m.MaxAE,
		LearningRate: m.LearningRate, HiddenRatio: m.HiddenRatio, Transform: m.Transform, Seed: m.Seed})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadModel, err)
	}
	d.corr = nil
	d.fmap, d.ensemble, d.output = m.FeatureMap, m.Ensemble, m.Output
	d.Threshold = m.Threshold
	d.cal = m.Calibration
	maxLen := 0
	for _, ae := range d.ensemble {
		ae.scratch()
		maxLen = max(maxLen, ae.NVisible)
	}
	d.output.scratch()
	d.sub = make([]float64, maxLen)
	d.l1 = make([]float64, len(d.fmap))
	d.trained = d.opts.Learn
	return d, nil
}

func (m *modelFile) validate() error {
	const maxFeatures = 4096
	if m.Features <= 0 || m.Features > maxFeatures {
		return fmt.Errorf("features = %d, want 1..%d", m.Features, maxFeatures)
	}
	if m.Learn <= 0 || m.FMGrace <= 0 || m.FMGrace >= m.Learn {
		return fmt.Errorf("learn = %d and fm_grace = %d are inconsistent", m.Learn, m.FMGrace)
	}
	if len(m.FeatureMap) == 0 || len(m.FeatureMap) != len(m.Ensemble) {
		return fmt.Errorf("feature map has %d groups for %d autoencoders", len(m.FeatureMap), len(m.Ensemble))
	}
	if !finite(m.Threshold) || m.Threshold < 0 {
		return errors.New("threshold is not a finite non-negative number")
	}
	if m.Calibrate < 0 || m.Calibrate >= m.Learn-m.FMGrace {
		return fmt.Errorf("calibrate = %d does not fit learn = %d and fm_grace = %d", m.Calibrate, m.Learn, m.FMGrace)
	}
	c := m.Calibration
	for _, v := range []float64{c.P50, c.P90, c.P99, c.P999, c.Max, c.DriftP99} {
		if !finite(v) || v < 0 || v > 1 {
			return errors.New("calibration holds a value outside [0, 1]")
		}
	}
	if c.N < 0 || c.N > m.Calibrate {
		return fmt.Errorf("calibration of %d samples, more than the %d held back", c.N, m.Calibrate)
	}
	for i, g := range m.FeatureMap {
		if len(g) == 0 {
			return fmt.Errorf("feature group %d is empty", i)
		}
		for _, f := range g {
			if f < 0 || f >= m.Features {
				return fmt.Errorf("feature group %d names feature %d, outside 0..%d", i, f, m.Features-1)
			}
		}
		if err := m.Ensemble[i].validate(len(g)); err != nil {
			return fmt.Errorf("autoencoder %d: %v", i, err)
		}
	}
	if err := m.Output.validate(len(m.FeatureMap)); err != nil {
		return fmt.Errorf("output autoencoder: %v", err)
	}
	return nil
}

func (a *autoencoder) validate(nVisible int) error {
	if a == nil {
		return errors.New("missing")
	}
	if a.NVisible != nVisible || a.NHidden <= 0 || a.NHidden > 4*nVisible+1 {
		return fmt.Errorf("shape %d×%d does not fit %d inputs", a.NVisible, a.NHidden, nVisible)
	}
	if len(a.W) != a.NVisible*a.NHidden || len(a.HBias) != a.NHidden ||
		len(a.VBias) != a.NVisible || len(a.Min) != a.NVisible || len(a.Max) != a.NVisible {
		return errors.New("parameter arrays have the wrong length")
	}
	if a.N <= 0 {
		return errors.New("was never trained")
	}
	for _, s := range [][]float64{a.W, a.HBias, a.VBias, a.Min, a.Max} {
		for _, v := range s {
			if !finite(v) {
				return errors.New("holds a non-finite parameter")
			}
		}
	}
	return nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
