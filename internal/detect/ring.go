package detect

import (
	"math"
	"sort"
)

// ring keeps the last n values for fleet percentiles.
type ring struct {
	vals []float64
	next int
	full bool
}

func newRing(n int) *ring { return &ring{vals: make([]float64, n)} }

func (r *ring) add(v float64) {
	r.vals[r.next] = v
	r.next++
	if r.next == len(r.vals) {
		r.next, r.full = 0, true
	}
}

func (r *ring) len() int {
	if r.full {
		return len(r.vals)
	}
	return r.next
}

// quantile returns the q-quantile (nearest rank) of the kept values.
func (r *ring) quantile(q float64) float64 {
	n := r.len()
	if n == 0 {
		return 0
	}
	s := make([]float64, n)
	copy(s, r.vals[:n])
	sort.Float64s(s)
	i := int(math.Ceil(q*float64(n))) - 1
	return s[max(0, min(i, n-1))]
}

// ordered returns the kept values, oldest first.
func (r *ring) ordered() []float64 {
	if !r.full {
		return append([]float64(nil), r.vals[:r.next]...)
	}
	return append(append(make([]float64, 0, len(r.vals)), r.vals[r.next:]...), r.vals[:r.next]...)
}
