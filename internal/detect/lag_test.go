package detect

import (
	"context"
	"testing"
	"time"
)

// TestLag: ward_detect_lag_seconds is 0 while windows close on time,
// grows by a window for each window not closed, and falls back to 0 once
// the late window is evaluated.
func TestLag(t *testing.T) {
	h := newHarness(t, "d")
	tests := []struct {
		name    string
		advance time.Duration
		close   bool
		want    float64
	}{
		{"at-start", 0, false, 0},
		{"within-the-window", 9 * time.Second, false, 0},
		{"one-window-late", 11 * time.Second, false, 10},
		{"late-window-closed", 0, true, 0},
		{"three-windows-late", 40 * time.Second, false, 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.now = h.now.Add(tt.advance)
			if tt.close {
				if err := h.eng.CloseWindow(context.Background(), h.now.Truncate(10*time.Second)); err != nil {
					t.Fatal(err)
				}
			}
			if got := h.eng.lag(); got != tt.want {
				t.Errorf("lag = %v s, want %v", got, tt.want)
			}
		})
	}
}
