// Package latency is a small fixed-size latency histogram for load clients:
// log-linear buckets (16 per power of two, so quantiles are within about
// 6 %), no allocation per sample, one histogram per goroutine merged at the
// end. It is not safe for concurrent use; it exists so that the benchmarks
// need no HDR-histogram dependency.
package latency

import (
	"math/bits"
	"time"
)

const (
	subBits    = 4
	subBuckets = 1 << subBits
	nBuckets   = 64 * subBuckets
)

// Histogram counts durations in log-linear buckets of nanoseconds.
type Histogram struct {
	counts [nBuckets]uint64
	n      uint64
}

func bucket(ns uint64) int {
	if ns < subBuckets {
		return int(ns)
	}
	exp := bits.Len64(ns) - 1 // ns in [2^exp, 2^(exp+1))
	sub := (ns >> (exp - subBits)) & (subBuckets - 1)
	return (exp-subBits+1)*subBuckets + int(sub)
}

// upper returns the largest value that falls in bucket i.
func upper(i int) uint64 {
	if i < subBuckets {
		return uint64(i)
	}
	exp := i/subBuckets + subBits - 1
	sub := uint64(i % subBuckets)
	return 1<<exp + (sub+1)<<(exp-subBits) - 1
}

// Record adds one sample; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucket(uint64(d))]++
	h.n++
}

// Merge adds o's samples to h.
func (h *Histogram) Merge(o *Histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
}

// Count is the number of samples.
func (h *Histogram) Count() uint64 { return h.n }

// Quantile returns the upper bound of the bucket holding quantile q (0..1),
// or 0 without samples.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n-1)) + 1
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(upper(i))
		}
	}
	return time.Duration(upper(nBuckets - 1))
}
