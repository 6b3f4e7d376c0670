package kitnet

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func samples(n, dim int, seed uint64) [][]float64 {
	rng := rand.New(rand.NewPCG(seed, 1))
	out := make([][]float64, n)
	for i := range out {
		base := rng.NormFloat64()
		x := make([]float64, dim)
		for j := range x {
			x[j] = 100 + 10*base*float64(j%3) + rng.NormFloat64()
		}
		out[i] = x
	}
	return out
}

func run(t testing.TB, seed uint64, xs [][]float64) (*Detector, []float64) {
	d, err := New(Options{Features: len(xs[0]), Learn: 600, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	var scores []float64
	for _, x := range xs {
		s, learning := d.Process(x)
		if !learning {
			scores = append(scores, s)
		}
	}
	return d, scores
}

func TestDeterministicAndDetects(t *testing.T) {
	xs := samples(800, 20, 1)
	_, a := run(t, 3, xs)
	d, b := run(t, 3, xs)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Fatalf("same seed, different scores:\n%s", diff)
	}
	if len(d.FeatureMap()) < 2 {
		t.Errorf("feature map %v: want several groups of at most 10", d.FeatureMap())
	}
	for _, g := range d.FeatureMap() {
		if len(g) > 10 {
			t.Errorf("group of %d features, MaxAE is 10", len(g))
		}
	}
	normal, _ := d.Score(xs[0])
	odd := make([]float64, 20)
	for i := range odd {
		odd[i] = 1e6
	}
	weird, _ := d.Score(odd)
	if !(weird > 2*normal) {
		t.Errorf("outlier scored %v, normal %v", weird, normal)
	}
}

func TestSaveLoad(t *testing.T) {
	xs := samples(800, 20, 2)
	d, _ := run(t, 1, xs)
	d.Threshold = 0.25
	var buf bytes.Buffer
	if err := d.Save(&buf); err != nil {
		t.Fatal(err)
	}
	saved := buf.String()
	l, err := Load(strings.NewReader(saved))
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range samples(50, 20, 9) {
		a, _ := d.Score(x)
		b, _ := l.Score(x)
		if a != b {
			t.Fatalf("loaded model scores %v, original %v", b, a)
		}
	}
	if l.Threshold != 0.25 || l.Phase() != PhaseExecuting {
		t.Errorf("loaded threshold %v phase %v", l.Threshold, l.Phase())
	}

	bad := []struct{ name, in string }{
		{"empty", ""},
		{"not json", "hello"},
		{"other format", `{"format":"x","version":1}`},
		{"future version", strings.Replace(saved, `"version":2`, `"version":99`, 1)},
		{"version 1 (no calibration, unclipped)", strings.Replace(saved, `"version":2`, `"version":1`, 1)},
		{"calibration out of range", strings.Replace(saved, `"p50":`, `"p50":7,"q":`, 1)},
		{"calibration larger than held back", strings.Replace(saved, `"calibrate":`, `"calibrate":-`, 1)},
		{"feature out of range", strings.Replace(saved, `"feature_map":[[`, `"feature_map":[[999,`, 1)},
		{"no output", strings.Replace(saved, `"output":{`, `"outputx":{`, 1)},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Load(strings.NewReader(tt.in)); !errors.Is(err, ErrBadModel) {
				t.Errorf("got %v, want ErrBadModel", err)
			}
		})
	}
	if _, err := New(Options{Features: 4}); err != nil {
		t.Fatal(err)
	}
	un, _ := New(Options{Features: 4})
	if err := un.Save(&buf); err == nil {
		t.Error("an untrained detector was saved")
	}
}

func FuzzLoad(f *testing.F) {
	d, _ := run(f, 1, samples(700, 12, 3))
	var buf bytes.Buffer
	if err := d.Save(&buf); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte(`{"format":"ward-netids-kitnet","version":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Load(bytes.NewReader(b))
		if err != nil {
			return
		}
		x := make([]float64, m.Options().Features)
		s, err := m.Score(x)
		if err != nil || math.IsNaN(s) {
			t.Fatalf("loaded model scored %v, %v", s, err)
		}
	})
}

func BenchmarkDetectorExecute(b *testing.B) {
	xs := samples(1200, 100, 4)
	d, err := New(Options{Features: 100, Learn: 1000, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	for _, x := range xs[:1000] {
		d.Process(x)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d.Process(xs[1000+i%200])
	}
}

func BenchmarkDetectorTrain(b *testing.B) {
	xs := samples(1200, 100, 4)
	d, err := New(Options{Features: 100, Learn: 1 << 40, FMGrace: 200, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	for _, x := range xs[:200] {
		d.Process(x)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d.Process(xs[200+i%1000])
	}
}

func TestScale(t *testing.T) {
	tests := []struct {
		name      string
		v, lo, hi float64
		want      float64
		out       bool
	}{
		{"inside", 5, 0, 10, 0.5, false},
		{"at the top", 10, 0, 10, 1, false},
		{"slightly above: clipped, not drift", 10.5, 0, 10, 1, false},
		{"far above: clipped, drift", 30, 0, 10, 1, true},
		{"far below: clipped, drift", -30, 0, 10, 0, true},
		// A bare 1e-16 guard turned this into 5e14.
		{"constant in training, value moved", 7.05, 7, 7, 1, true},
		{"constant in training, same value", 7, 7, 7, 0, false},
		{"constant zero, value moved", 1e-3, 0, 0, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, out := scale(tt.v, tt.lo, tt.hi)
			if got != tt.want || out != tt.out {
				t.Errorf("scale(%v, %v, %v) = %v, %v; want %v, %v", tt.v, tt.lo, tt.hi, got, out, tt.want, tt.out)
			}
		})
	}
}

// TestScoresBoundedAndDrift is the attack of one feature that never moved
// in training and moves later (a slow host statistic after the host's
// behaviour shifts): its score stays at most 1 and is reported as drift,
// and no training score explodes on a near-zero range.
func TestScoresBoundedAndDrift(t *testing.T) {
	xs := samples(1400, 20, 5)
	for _, x := range xs {
		x[3] = 42 // constant in training
	}
	d, err := New(Options{Features: 20, Learn: 1000, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range xs[:1000] {
		s, learning := d.Process(x)
		if !learning || s < 0 || s > 1 || math.IsNaN(s) {
			t.Fatalf("learning sample %d: score %v (learning %v), want in [0, 1]", i, s, learning)
		}
	}
	x := append([]float64(nil), xs[1200]...)
	base, _ := d.Process(x)
	if d.Drift() != 0 {
		t.Errorf("drift %v on a normal sample", d.Drift())
	}
	x[3] = 43
	moved, _ := d.Process(x)
	if moved > 1 || moved < base {
		t.Errorf("moved feature scored %v (normal %v), want in [normal, 1]", moved, base)
	}
	if got := d.Drift(); got != 1.0/20 {
		t.Errorf("drift %v, want 1/20", got)
	}
	for i := range x {
		x[i] = 1e12
	}
	if s, _ := d.Process(x); s > 1 || d.Drift() != 1 {
		t.Errorf("every feature far out: score %v drift %v, want ≤ 1 and 1", s, d.Drift())
	}
}

// TestCalibrationFrozen checks that the held-back samples are scored by
// the frozen model: scores during calibration equal the final model's, and
// the calibration describes exactly those samples.
func TestCalibrationFrozen(t *testing.T) {
	xs := samples(1300, 20, 6)
	d, err := New(Options{Features: 20, Learn: 1000, FMGrace: 100, Calibrate: 200, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	var calib []float64
	for _, x := range xs[:1000] {
		ph := d.Phase()
		s, _ := d.Process(x)
		if ph == PhaseCalibrating {
			calib = append(calib, s)
		}
	}
	if len(calib) != 200 || d.Phase() != PhaseExecuting {
		t.Fatalf("%d calibration samples, phase %v; want 200, executing", len(calib), d.Phase())
	}
	for i, x := range xs[800:1000] {
		if s, _ := d.Score(x); s != calib[i] {
			t.Fatalf("calibration sample %d scored %v, the final model %v: the model changed while calibrating", i, calib[i], s)
		}
	}
	c := d.Calibration()
	slices.Sort(calib)
	if c.N != 200 || c.Max != calib[199] || c.P50 != Quantile(calib, 0.5) || !(c.P50 <= c.P90 && c.P90 <= c.P99 && c.P99 <= c.P999 && c.P999 <= c.Max) {
		t.Errorf("calibration %+v does not describe the held-back scores", c)
	}
	var buf bytes.Buffer
	if err := d.Save(&buf); err != nil {
		t.Fatal(err)
	}
	l, err := Load(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if l.Calibration() != c {
		t.Errorf("loaded calibration %+v, saved %+v", l.Calibration(), c)
	}
}

func TestWarnings(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want int
	}{
		{"default learning, 100 features", Options{Features: 100}, 0},
		{"reference split, 100 features", Options{Features: 100, Learn: 10832}, 0},
		{"a few hundred packets", Options{Features: 100, Learn: 300}, 3},
		{"long learning, tiny feature map", Options{Features: 100, Learn: 100000, FMGrace: 50}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := New(tt.o)
			if err != nil {
				t.Fatal(err)
			}
			if w := d.Options().Warnings(); len(w) != tt.want {
				t.Errorf("warnings %q, want %d", w, tt.want)
			}
		})
	}
	if _, err := New(Options{Features: 4, Learn: 10, FMGrace: 5, Calibrate: 5}); err == nil {
		t.Error("a split with nothing to train on was accepted")
	}
}
