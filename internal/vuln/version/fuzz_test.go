package version

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/mod/semver"
)

// checkOrder asserts the properties every scheme must have on values that
// parse: no panic, reflexivity, antisymmetry, transitivity on the triple,
// and that String parses back to an equal value.
func checkOrder(t *testing.T, s *Scheme, a, b, c string) {
	checkOrderOpt(t, s, a, b, c, true)
}

func checkOrderOpt(t *testing.T, s *Scheme, a, b, c string, transitive bool) {
	var vs []Version
	for _, in := range []string{a, b, c} {
		v, err := s.Parse(in)
		if err != nil {
			continue
		}
		back, err := s.Parse(v.String())
		if err != nil {
			t.Fatalf("%s: Parse(%q).String() = %q does not parse: %v", s.Name, in, v.String(), err)
		}
		if Compare(v, back) != 0 {
			t.Fatalf("%s: %q round-trips to %q, which compares unequal", s.Name, in, v.String())
		}
		vs = append(vs, v)
	}
	for _, x := range vs {
		if Compare(x, x) != 0 {
			t.Fatalf("%s: Compare(%q, itself) != 0", s.Name, x)
		}
		for _, y := range vs {
			if Compare(x, y) != -Compare(y, x) {
				t.Fatalf("%s: not antisymmetric: %q vs %q", s.Name, x, y)
			}
			for _, z := range vs {
				if !transitive {
					break
				}
				xy, yz, xz := Compare(x, y), Compare(y, z), Compare(x, z)
				if xy <= 0 && yz <= 0 && xz > 0 {
					t.Fatalf("%s: not transitive: %q <= %q <= %q but %q > %q", s.Name, x, y, z, x, z)
				}
			}
		}
	}
}

func fuzzScheme(f *testing.F, s *Scheme) {
	for _, tt := range orderings[s] {
		f.Add(tt.a, tt.b, tt.a+"1")
	}
	f.Fuzz(func(t *testing.T, a, b, c string) { checkOrder(t, s, a, b, c) })
}

func FuzzSemVer(f *testing.F) {
	for _, tt := range orderings[SemVerScheme] {
		f.Add(tt.a, tt.b, tt.b)
	}
	f.Fuzz(func(t *testing.T, a, b, c string) {
		checkOrder(t, SemVerScheme, a, b, c)
		// Differential check against golang.org/x/mod/semver for the
		// versions both accept.
		va, errA := ParseSemVer(a)
		vb, errB := ParseSemVer(b)
		if errA != nil || errB != nil {
			return
		}
		ga, gb := "v"+va.String(), "v"+vb.String()
		if !semver.IsValid(ga) || !semver.IsValid(gb) {
			t.Fatalf("x/mod/semver rejects %q or %q, which ParseSemVer accepts", ga, gb)
		}
		if got, want := va.Compare(vb), semver.Compare(ga, gb); got != want {
			t.Fatalf("Compare(%q, %q) = %d, x/mod/semver says %d", a, b, got, want)
		}
	})
}

func FuzzGo(f *testing.F)   { fuzzScheme(f, GoScheme) }
func FuzzDpkg(f *testing.F) { fuzzScheme(f, DpkgScheme) }
func FuzzAPK(f *testing.F)  { fuzzScheme(f, APKScheme) }
func FuzzRPM(f *testing.F)  { fuzzScheme(f, RPMScheme) }

// FuzzMaven checks everything but transitivity: Maven's own
// ComparableVersion is not transitive when qualifiers and nested lists mix
// (TestMavenNotTransitive), and Ward reproduces Maven rather than
// inventing a different order.
func FuzzMaven(f *testing.F) {
	for _, tt := range orderings[MavenScheme] {
		f.Add(tt.a, tt.b, tt.a+"1")
	}
	f.Fuzz(func(t *testing.T, a, b, c string) { checkOrderOpt(t, MavenScheme, a, b, c, false) })
}
func FuzzGeneric(f *testing.F) { fuzzScheme(f, GenericScheme) }

// FuzzPEP440 checks the order properties, that String is already
// normalised (it parses back to the same spelling), that a local label
// sorts after its public version, and that every refusal is a *ParseError.
func FuzzPEP440(f *testing.F) {
	for _, tt := range orderings[PEP440Scheme] {
		f.Add(tt.a, tt.b, tt.a+"+1")
	}
	f.Add("1.0po\u017ft", "1.0+a..b", "1!")
	f.Add("1.0+99999999999999999999", "18446744073709551616", "1.0-1-1")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		checkOrder(t, PEP440Scheme, a, b, c)
		for _, in := range []string{a, b, c} {
			v, err := ParsePEP440(in)
			if err != nil {
				var pe *ParseError
				if !errors.As(err, &pe) {
					t.Fatalf("ParsePEP440(%q) error %T is not a *ParseError: %v", in, err, err)
				}
				continue
			}
			back, err := ParsePEP440(v.String())
			if err != nil || back.String() != v.String() {
				t.Fatalf("ParsePEP440(%q).String() = %q re-normalises to %q (%v)", in, v.String(), back.String(), err)
			}
			if pub, _, ok := strings.Cut(v.String(), "+"); ok {
				p, err := ParsePEP440(pub)
				if err != nil || v.Compare(p) != 1 {
					t.Fatalf("%q does not sort after its public version %q (%v)", v.String(), pub, err)
				}
			}
		}
	})
}

// FuzzCompareAPKInvalid checks that apk's comparison of arbitrary strings,
// valid or not, never panics and is antisymmetric.
func FuzzCompareAPKInvalid(f *testing.F) {
	f.Add("1.0", "1.0bc")
	f.Fuzz(func(t *testing.T, a, b string) {
		if CompareAPK(a, b) != -CompareAPK(b, a) {
			t.Fatalf("CompareAPK(%q, %q) not antisymmetric", a, b)
		}
	})
}

// fuzzCanonical runs the order checks of checkOrder and also that every
// refusal is a *ParseError and that key(String()) is stable: parsing the
// spelling String gives yields the same key again.
func fuzzCanonical(f *testing.F, s *Scheme, key func(Version) string, seeds ...string) {
	for _, tt := range orderings[s] {
		f.Add(tt.a, tt.b, tt.a+"-1")
	}
	for _, seed := range seeds {
		f.Add(seed, seed+".0", "1"+seed)
	}
	f.Fuzz(func(t *testing.T, a, b, c string) {
		checkOrder(t, s, a, b, c)
		for _, in := range []string{a, b, c} {
			v, err := s.Parse(in)
			if err != nil {
				var pe *ParseError
				if !errors.As(err, &pe) {
					t.Fatalf("%s: Parse(%q) error %T is not a *ParseError: %v", s.Name, in, err, err)
				}
				continue
			}
			back, err := s.Parse(v.String())
			if err != nil || key(back) != key(v) {
				t.Fatalf("%s: Parse(%q) gives %q, which parses to %v (%v)", s.Name, in, key(v), back, err)
			}
		}
	})
}

// FuzzRubyGems checks the order properties and that Gem::Version's
// spelling (String) is stable.
func FuzzRubyGems(f *testing.F) {
	fuzzCanonical(f, RubyGemsScheme, Version.String, "1.0.0.a.1.0", "0.0.beta", "1.0--", " \v1\t")
}

// FuzzNuGet checks the order properties and that the normalised spelling
// is stable.
func FuzzNuGet(f *testing.F) {
	fuzzCanonical(f, NuGetScheme, Version.String, "1.0.0-a.-1", " 19 .\u00a019 ", "0.1.2--B2.-.C.-A0-+x")
}

// FuzzPackagist checks the order properties and that the input's
// normalisation is stable (the normalised form itself need not be: see
// Packagist.String).
func FuzzPackagist(f *testing.F) {
	key := func(v Version) string { return v.(Packagist).Normalized() }
	fuzzCanonical(f, PackagistScheme, key, "1.0.0RC1dev", "2010-01-02-10-20-30.0.3", "1.0-STABLE", "1.0\n@dev", "dev-main", "1.x-dev")
}
