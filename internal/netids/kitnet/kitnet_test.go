package kitnet

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
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
		{"future version", strings.Replace(saved, `"version":1`, `"version":99`, 1)},
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
