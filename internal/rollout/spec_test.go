package rollout

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSpecCheck(t *testing.T) {
	ok := Spec{Model: "acme-th1", Version: "1.5.0", Waves: []float64{1, 10, 50, 100}, MaxFailure: 2, HaltOnAlerts: "HIGH"}
	tests := []struct {
		name   string
		change func(*Spec)
		soak   time.Duration
		bad    bool
	}{
		{"ok-default-soak", func(*Spec) {}, DefaultSoak, false},
		{"ok-soak", func(s *Spec) { s.Soak = "90s" }, 90 * time.Second, false},
		{"ok-no-gate", func(s *Spec) { s.HaltOnAlerts = "none" }, DefaultSoak, false},
		{"ok-one-wave", func(s *Spec) { s.Waves = []float64{100} }, DefaultSoak, false},
		{"no-model", func(s *Spec) { s.Model = "" }, 0, true},
		{"bad-version", func(s *Spec) { s.Version = "../1" }, 0, true},
		{"no-waves", func(s *Spec) { s.Waves = nil }, 0, true},
		{"not-ascending", func(s *Spec) { s.Waves = []float64{10, 10, 100} }, 0, true},
		{"not-ending-at-100", func(s *Spec) { s.Waves = []float64{10, 50} }, 0, true},
		{"over-100", func(s *Spec) { s.Waves = []float64{10, 150} }, 0, true},
		{"zero-wave", func(s *Spec) { s.Waves = []float64{0, 100} }, 0, true},
		{"max-failure-100", func(s *Spec) { s.MaxFailure = 100 }, 0, true},
		{"max-failure-negative", func(s *Spec) { s.MaxFailure = -1 }, 0, true},
		{"bad-gate", func(s *Spec) { s.HaltOnAlerts = "severe" }, 0, true},
		{"bad-soak", func(s *Spec) { s.Soak = "ten minutes" }, 0, true},
		{"negative-soak", func(s *Spec) { s.Soak = "-1m" }, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ok
			s.Waves = slices.Clone(ok.Waves)
			tt.change(&s)
			soak, err := s.check()
			if tt.bad {
				if !errors.Is(err, ErrBadSpec) {
					t.Fatalf("got %v, want ErrBadSpec", err)
				}
				return
			}
			if err != nil || soak != tt.soak {
				t.Fatalf("soak %v, err %v; want %v", soak, err, tt.soak)
			}
			if s.HaltOnAlerts != "high" && s.HaltOnAlerts != "" {
				t.Errorf("gate not normalised: %q", s.HaltOnAlerts)
			}
		})
	}
}

func TestParseWaves(t *testing.T) {
	got, err := ParseWaves("1%, 10%,50,100%")
	if err != nil || !slices.Equal(got, []float64{1, 10, 50, 100}) {
		t.Fatalf("ParseWaves = %v, %v", got, err)
	}
	if FormatWaves(got) != "1%,10%,50%,100%" {
		t.Errorf("FormatWaves = %s", FormatWaves(got))
	}
	for _, bad := range []string{"", "1%,,100%", "ten%", "NaN", "1e400%"} {
		if _, err := ParseWaves(bad); !errors.Is(err, ErrBadSpec) {
			t.Errorf("ParseWaves(%q) = %v, want ErrBadSpec", bad, err)
		}
	}
}

// TestAssignWaves: cumulative shares, at least one device per wave while
// any remain, deterministic, independent of the input order, and
// different between rollouts.
func TestAssignWaves(t *testing.T) {
	ids := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("d-%04d", i)
		}
		return out
	}
	sizes := func(m map[string]int, waves int) []int {
		out := make([]int, waves)
		for _, w := range m {
			out[w]++
		}
		return out
	}
	tests := []struct {
		n     int
		waves []float64
		want  []int
	}{
		{1000, []float64{1, 10, 50, 100}, []int{10, 90, 400, 500}},
		{10, []float64{1, 10, 50, 100}, []int{1, 1, 3, 5}}, // 10 % of 10 is 1, already taken: one more
		{3, []float64{1, 10, 50, 100}, []int{1, 1, 1, 0}},
		{1, []float64{1, 100}, []int{1, 0}},
		{7, []float64{100}, []int{7}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d-%v", tt.n, tt.waves), func(t *testing.T) {
			got := sizes(assignWaves("ro-1", ids(tt.n), tt.waves), len(tt.waves))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("wave sizes (-want +got):\n%s", diff)
			}
		})
	}
	a := assignWaves("ro-1", ids(100), []float64{10, 100})
	rev := ids(100)
	slices.Reverse(rev)
	if diff := cmp.Diff(a, assignWaves("ro-1", rev, []float64{10, 100})); diff != "" {
		t.Errorf("assignment depends on input order:\n%s", diff)
	}
	if cmp.Equal(a, assignWaves("ro-2", ids(100), []float64{10, 100})) {
		t.Error("two rollouts chose the same canaries")
	}
}

func FuzzParseWaves(f *testing.F) {
	for _, s := range []string{"1%,10%,50%,100%", "100", "0.5%,100%", "", ",", "1e3%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ws, err := ParseWaves(s)
		if err != nil {
			return
		}
		again, err := ParseWaves(FormatWaves(ws))
		if err != nil || !slices.Equal(ws, again) {
			t.Fatalf("round trip %q → %v → %q → %v, %v", s, ws, FormatWaves(ws), again, err)
		}
		spec := Spec{Model: "m", Version: "1", Waves: ws}
		if _, err := spec.check(); err == nil {
			m := assignWaves("ro", []string{"a", "b", "c"}, ws)
			if len(m) != 3 {
				t.Fatalf("assignWaves lost devices: %v", m)
			}
		}
	})
}
