package ratelimit

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newLimiter(t *testing.T, rate float64, burst, max int) (*Limiter, *clock) {
	t.Helper()
	c := &clock{t: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	l, err := New(Options{Rate: rate, Burst: burst, MaxKeys: max, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	return l, c
}

func TestBurstThenRefuseThenRefill(t *testing.T) {
	l, c := newLimiter(t, 2, 5, 0)
	for i := range 5 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, wait := l.Allow("a")
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("6th request: ok %v wait %v, want refused with 500ms", ok, wait)
	}
	if ok, _ := l.Allow("b"); !ok {
		t.Error("another key shares the first key's bucket")
	}
	c.add(500 * time.Millisecond)
	if ok, _ := l.Allow("a"); !ok {
		t.Error("no token after the refill time")
	}
	if ok, _ := l.Allow("a"); ok {
		t.Error("more than one token after half a second at 2/s")
	}
	c.add(time.Hour)
	for i := range 5 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("after an hour, request %d refused: the bucket must refill to the burst", i+1)
		}
	}
	if ok, _ := l.Allow("a"); ok {
		t.Error("the bucket refilled beyond its burst")
	}
}

func TestCheckDoesNotSpend(t *testing.T) {
	l, _ := newLimiter(t, 1, 2, 0)
	for range 10 {
		if ok, _ := l.Check("a"); !ok {
			t.Fatal("Check refused a fresh key")
		}
	}
	if l.Len() != 0 {
		t.Errorf("Check of unknown keys stored %d keys", l.Len())
	}
	l.Allow("a")
	l.Allow("a")
	if ok, wait := l.Check("a"); ok || wait <= 0 {
		t.Errorf("Check after the burst: %v %v, want refused", ok, wait)
	}
}

// TestBoundedKeys is the flood from many keys: the table never holds more
// than MaxKeys, and a key that keeps flooding stays limited.
func TestBoundedKeys(t *testing.T) {
	l, _ := newLimiter(t, 1, 3, 100)
	for range 3 {
		l.Allow("flooder")
	}
	for i := range 10000 {
		l.Allow(fmt.Sprintf("spray-%d", i))
		if i%10 == 0 {
			if ok, _ := l.Allow("flooder"); ok {
				t.Fatalf("the flooding key got a token back after %d other keys", i)
			}
		}
	}
	if n := l.Len(); n != 100 {
		t.Errorf("table holds %d keys, want the cap 100", n)
	}
}

func TestSourceKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"192.0.2.7:4242", "192.0.2.7"},
		{"192.0.2.8:4242", "192.0.2.8"},
		{"[::ffff:192.0.2.7]:1", "192.0.2.7"},
		{"[2001:db8:1:2:aaaa::1]:443", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:bbbb::9]:1", "2001:db8:1:2::/64"},
		{"[fe80::1%eth0]:1", "fe80::/64"},
		{"2001:db8::1", "2001:db8::/64"},
		{"garbage", "garbage"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := SourceKey(tt.in); got != tt.want {
				t.Errorf("SourceKey(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "1", time.Millisecond: "1", 1500 * time.Millisecond: "2", time.Minute: "60"} {
		if got := RetryAfter(d); got != want {
			t.Errorf("RetryAfter(%v) = %s, want %s", d, got, want)
		}
	}
}

func TestNewRefusesZeroLimits(t *testing.T) {
	if _, err := New(Options{Rate: 0, Burst: 1}); err == nil {
		t.Error("rate 0 accepted")
	}
	if _, err := New(Options{Rate: 1, Burst: 0}); err == nil {
		t.Error("burst 0 accepted")
	}
}

func FuzzSourceKey(f *testing.F) {
	for _, s := range []string{"192.0.2.7:1", "[2001:db8::1]:1", "[fe80::1%eth0]:1", "x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k := SourceKey(s)
		if SourceKey(s) != k {
			t.Fatal("not deterministic")
		}
	})
}
