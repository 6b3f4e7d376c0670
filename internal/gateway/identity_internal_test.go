package gateway

import (
	"fmt"
	"testing"
	"time"
)

// TestLookupLimiter: one lookup per key per LookupInterval, at most
// lookupLimiterSweep distinct keys per LookupInterval, and keys older than
// that are forgotten, so serials an attacker cycles through grow neither
// the limiter nor the store reads without bound.
func TestLookupLimiter(t *testing.T) {
	var l lookupLimiter
	t0 := time.Unix(1_700_000_000, 0)
	if !l.allow("a", t0) || l.allow("a", t0.Add(LookupInterval-time.Nanosecond)) || !l.allow("a", t0.Add(LookupInterval)) {
		t.Fatal("not one lookup per key per LookupInterval")
	}
	for i := range 3 * lookupLimiterSweep {
		l.allow(fmt.Sprint(i), t0.Add(time.Duration(i/lookupLimiterSweep)*LookupInterval))
	}
	if n := len(l.last); n > lookupLimiterSweep {
		t.Errorf("limiter holds %d keys, want at most %d", n, lookupLimiterSweep)
	}
	t1 := t0.Add(10 * LookupInterval)
	allowed := 0
	for i := range 2 * lookupLimiterSweep {
		if l.allow(fmt.Sprint("flood-", i), t1) {
			allowed++
		}
	}
	if allowed != lookupLimiterSweep || len(l.last) != lookupLimiterSweep {
		t.Errorf("a flood of distinct keys within LookupInterval: %d allowed, %d held; want %d", allowed, len(l.last), lookupLimiterSweep)
	}
	if !l.allow("late", t1.Add(LookupInterval)) {
		t.Error("a key refused after the flood's interval passed")
	}
}
