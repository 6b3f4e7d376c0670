package kitnet

import (
	"math"
	"math/rand/v2"
)

// autoencoder is a three-layer autoencoder with tied weights and sigmoid
// units, trained online by stochastic gradient descent on the squared
// reconstruction error, with min–max scaling learnt from its training
// inputs (KitNET's dA).
type autoencoder struct {
	NVisible int       `json:"visible"`
	NHidden  int       `json:"hidden"`
	W        []float64 `json:"w"` // NVisible × NHidden, row-major
	HBias    []float64 `json:"hbias"`
	VBias    []float64 `json:"vbias"`
	Min      []float64 `json:"min"`
	Max      []float64 `json:"max"`
	N        int       `json:"n"` // training samples seen

	// scratch buffers, not saved
	x, y, z, lh1 []float64
}

func newAutoencoder(nVisible int, hiddenRatio float64, rng *rand.Rand) *autoencoder {
	nh := int(math.Ceil(float64(nVisible) * hiddenRatio))
	if nh < 1 {
		nh = 1
	}
	a := &autoencoder{
		NVisible: nVisible, NHidden: nh,
		W:     make([]float64, nVisible*nh),
		HBias: make([]float64, nh),
		VBias: make([]float64, nVisible),
		Min:   make([]float64, nVisible),
		Max:   make([]float64, nVisible),
	}
	lim := 1 / float64(nVisible)
	for i := range a.W {
		a.W[i] = (rng.Float64()*2 - 1) * lim
	}
	for i := range a.Min {
		a.Min[i] = math.Inf(1)
		a.Max[i] = math.Inf(-1)
	}
	a.scratch()
	return a
}

func (a *autoencoder) scratch() {
	a.x = make([]float64, a.NVisible)
	a.y = make([]float64, a.NHidden)
	a.z = make([]float64, a.NVisible)
	a.lh1 = make([]float64, a.NHidden)
}

func sigmoid(v float64) float64 { return 1 / (1 + math.Exp(-v)) }

// driftMargin is how far outside the learnt range (as a fraction of the
// range) a scaled input must fall to count as out of range.
const driftMargin = 0.1

// scale maps v into [0, 1] with the learnt range [lo, hi] and reports
// whether v lay outside it by more than driftMargin. The denominator is
// guarded: a feature that was (nearly) constant in training has a range
// of at most minRange(lo, hi), and any value away from it scales to 0 or
// 1, never to 10^14 as a bare 1e-16 guard gives. The result is clipped to
// [0, 1] so that one drifted feature adds at most 1 to its group's error.
func scale(v, lo, hi float64) (x float64, out bool) {
	r := hi - lo
	if m := minRange(lo, hi); r < m {
		r = m
	}
	x = (v - lo) / r
	switch {
	case x < 0:
		return 0, x < -driftMargin
	case x > 1:
		return 1, x > 1+driftMargin
	}
	return x, false
}

// minRange is the smallest range a feature is scaled by: 10^-9 relative to
// its magnitude, and 10^-12 absolute.
func minRange(lo, hi float64) float64 {
	return max(1e-12, 1e-9*max(math.Abs(lo), math.Abs(hi)))
}

// normalize scales in into a.x with the learnt min–max range, clipped to
// [0, 1], and returns how many inputs fell out of range.
func (a *autoencoder) normalize(in []float64) int {
	n := 0
	for i, v := range in {
		x, out := scale(v, a.Min[i], a.Max[i])
		a.x[i] = x
		if out {
			n++
		}
	}
	return n
}

// forward computes hidden a.y and reconstruction a.z from a.x and returns
// the RMSE of the reconstruction.
func (a *autoencoder) forward() float64 {
	nh := a.NHidden
	for j := 0; j < nh; j++ {
		a.y[j] = a.HBias[j]
	}
	for i, xi := range a.x {
		row := a.W[i*nh : i*nh+nh]
		for j, w := range row {
			a.y[j] += xi * w
		}
	}
	for j := range a.y {
		a.y[j] = sigmoid(a.y[j])
	}
	var se float64
	for i := range a.z {
		row := a.W[i*nh : i*nh+nh]
		s := a.VBias[i]
		for j, w := range row {
			s += a.y[j] * w
		}
		z := sigmoid(s)
		a.z[i] = z
		d := a.x[i] - z
		se += d * d
	}
	return math.Sqrt(se / float64(a.NVisible))
}

// train updates the scaling and weights with one sample and returns the
// sample's reconstruction RMSE before the update.
func (a *autoencoder) train(in []float64, lr float64) float64 {
	a.N++
	for i, v := range in {
		if v > a.Max[i] {
			a.Max[i] = v
		}
		if v < a.Min[i] {
			a.Min[i] = v
		}
	}
	a.normalize(in)
	rmse := a.forward()
	nh := a.NHidden
	// L_h2 = x - z (stored in z); L_h1 = (L_h2 · W) * y * (1 - y)
	for i := range a.z {
		a.z[i] = a.x[i] - a.z[i]
	}
	for j := range a.lh1 {
		a.lh1[j] = 0
	}
	for i, d := range a.z {
		row := a.W[i*nh : i*nh+nh]
		for j, w := range row {
			a.lh1[j] += d * w
		}
	}
	for j, y := range a.y {
		a.lh1[j] *= y * (1 - y)
	}
	// W += lr * (outer(x, L_h1) + outer(L_h2, y))
	for i := range a.x {
		xi, di := a.x[i], a.z[i]
		row := a.W[i*nh : i*nh+nh]
		for j := range row {
			row[j] += lr * (xi*a.lh1[j] + di*a.y[j])
		}
	}
	for j := range a.HBias {
		a.HBias[j] += lr * a.lh1[j]
	}
	for i := range a.VBias {
		a.VBias[i] += lr * a.z[i]
	}
	return rmse
}

// execute returns the reconstruction RMSE of in without learning (at
// most 1: inputs and outputs lie in [0, 1]) and how many inputs were out
// of the range seen in training.
func (a *autoencoder) execute(in []float64) (float64, int) {
	if a.N == 0 {
		return 0, 0
	}
	out := a.normalize(in)
	return a.forward(), out
}
