package update

import (
	"errors"
	"testing"
)

func TestCompareVersions(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"1.5.0", "1.5.0", 0},
		{"1.5", "1.5.0", 0},
		{"v1.5.0", "1.5.0", 0},
		{"1.10.0", "1.9.9", 1},
		{"1.4.9", "1.5", -1},
		{"2", "1.99.99", 1},
		{"01.02", "1.2", 0},
		{"1.2.3.4", "1.2.3", 1},
		{"99999999999999999999999.0", "99999999999999999999998.9", 1}, // longer than an int64
		{"1.5.0-rc.1", "1.5.0", -1},
		{"1.5.0", "1.5.0-rc.1", 1},
		{"1.5.0-rc.2", "1.5.0-rc.10", -1},
		{"1.5.0-alpha", "1.5.0-alpha.1", -1},
		{"1.5.0-1", "1.5.0-alpha", -1},
		{"1.5.0-beta", "1.5.0-alpha", 1},
		{"1.5.0+build7", "1.5.0+build8", 0},
		{"1.5.0-rc.1+b", "1.4.9", 1},
	} {
		got, err := CompareVersions(tc.a, tc.b)
		if err != nil || got != tc.want {
			t.Errorf("CompareVersions(%q, %q) = %d, %v; want %d", tc.a, tc.b, got, err, tc.want)
		}
		back, err := CompareVersions(tc.b, tc.a)
		if err != nil || back != -tc.want {
			t.Errorf("CompareVersions(%q, %q) = %d, %v; want %d (antisymmetry)", tc.b, tc.a, back, err, -tc.want)
		}
	}
}

func TestCompareVersionsRefusesWhatItCannotOrder(t *testing.T) {
	for _, v := range []string{"", "1.5a", "release-7", "1..2", "1.2.", ".1", "1.2-", "1.2-rc..1", "v", "1.2/3", "x.y.z", "1.0 beta"} {
		if _, err := CompareVersions(v, "1.0"); !errors.Is(err, ErrVersionOrder) {
			t.Errorf("CompareVersions(%q, 1.0): err = %v, want ErrVersionOrder", v, err)
		}
		if _, err := CompareVersions("1.0", v); !errors.Is(err, ErrVersionOrder) {
			t.Errorf("CompareVersions(1.0, %q): err = %v, want ErrVersionOrder", v, err)
		}
	}
}

// FuzzCompareVersions checks that the order never panics and is a total
// order on what it accepts: reflexive and antisymmetric, and transitive
// through a third version.
func FuzzCompareVersions(f *testing.F) {
	for _, s := range [][3]string{{"1.5.0", "1.5", "1.5.0-rc.1"}, {"v2", "10.0.0+x", "1.0.0-0"}, {"1.0.0-a.b", "1.0.0-a.1", "1"}} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, a, b, c string) {
		ab, errA := CompareVersions(a, b)
		if errA != nil {
			return
		}
		if aa, err := CompareVersions(a, a); err != nil || aa != 0 {
			t.Fatalf("CompareVersions(%q, itself) = %d, %v", a, aa, err)
		}
		ba, err := CompareVersions(b, a)
		if err != nil || ba != -ab {
			t.Fatalf("not antisymmetric: (%q,%q)=%d (%q,%q)=%d %v", a, b, ab, b, a, ba, err)
		}
		bc, err := CompareVersions(b, c)
		if err != nil {
			return
		}
		ac, err := CompareVersions(a, c)
		if err != nil {
			t.Fatalf("%q and %q order against %q but not each other: %v", a, c, b, err)
		}
		if ab <= 0 && bc <= 0 && ac > 0 {
			t.Fatalf("not transitive: %q <= %q <= %q but %q > %q", a, b, c, a, c)
		}
	})
}
