package latency

import (
	"testing"
	"time"
)

func TestQuantile(t *testing.T) {
	var h Histogram
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	tests := []struct {
		name string
		q    float64
		want time.Duration
	}{
		{"p50", 0.50, 500 * time.Microsecond},
		{"p99", 0.99, 990 * time.Microsecond},
		{"max", 1, 1000 * time.Microsecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := h.Quantile(tt.q)
			if got < tt.want || float64(got) > float64(tt.want)*1.07 {
				t.Errorf("Quantile(%v) = %v, want within 7%% above %v", tt.q, got, tt.want)
			}
		})
	}
}

func TestBucketBounds(t *testing.T) {
	for _, ns := range []uint64{0, 1, 15, 16, 17, 31, 32, 1000, 1 << 40, 1<<63 + 5} {
		i := bucket(ns)
		if ns > upper(i) || (i > 0 && ns <= upper(i-1)) {
			t.Errorf("bucket(%d) = %d with bounds (%d, %d]", ns, i, upper(i-1), upper(i))
		}
	}
}
