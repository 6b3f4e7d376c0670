package version

import (
	"regexp"
	"strings"
)

// RubyGems is a gem version as Gem::Version (rubygems/rubygems,
// lib/rubygems/version.rb) parses and orders it, which is what OSV uses for
// the RubyGems ecosystem:
//
//   - a version must match Gem::Version's pattern
//     \A\s*([0-9]+(\.[0-9a-zA-Z]+)*(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?)?\s*\z;
//     surrounding whitespace is stripped and a blank version is "0";
//   - every "-" is replaced by ".pre." ("1.0-1" is "1.0.pre.1");
//   - a version holding a letter is a prerelease;
//   - the canonical segments drop trailing zero segments ("1.0.0" = "1")
//     and, in a prerelease, the zero segments before the first letter
//     segment that zeros precede ("1.0.0.a" = "1.a"), exactly as
//     canonical_segments' two regular expressions do;
//   - the segments are the runs of digits and the runs of letters
//     ("1.0.0.pre1" is [1, 0, 0, "pre", 1]); they compare pairwise, a
//     missing segment counting as 0: numbers numerically, strings bytewise
//     (case matters), and a string below any number, so "1.0.a" < "1.0.b"
//     < "1.0" and "1.9.3" < "1.10".
type RubyGems struct {
	s    string       // the version stripped, "0" when blank
	segs []gemSegment // canonical segments
}

type gemSegment struct {
	num bool
	v   string // digits or letters
}

// gemPattern is Gem::Version::ANCHORED_VERSION_PATTERN with Ruby's \s
// spelled out ([ \t\r\n\f\v]); Ruby's atomic group does not change what it
// accepts.
var gemPattern = regexp.MustCompile(`^[\t\n\x0B\f\r ]*(?:[0-9]+(?:\.[0-9a-zA-Z]+)*(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?)?[\t\n\x0B\f\r ]*$`)

// ParseRubyGems parses a gem version as Gem::Version.new does, refusing
// what Gem::Version.correct? refuses ("Malformed version number string").
func ParseRubyGems(s string) (RubyGems, error) {
	if !gemPattern.MatchString(s) {
		return RubyGems{}, perr("rubygems", s, "malformed: Gem::Version wants digits, then '.'-separated runs of letters and digits, then optionally '-' and '.'-separated runs of letters, digits and '-'")
	}
	in := strings.Trim(s, " \t\n\v\f\r")
	if in == "" {
		in = "0"
	}
	v := strings.ReplaceAll(in, "-", ".pre.")
	pre := false
	for i := 0; i < len(v); i++ {
		if isAlpha(v[i]) {
			pre = true
			break
		}
	}
	return RubyGems{s: in, segs: gemSegments(gemCanonical(v, pre))}, nil
}

// gemCanonical applies canonical_segments' substitutions:
// sub(/(?<=[a-zA-Z.])[.0]+\z/, "") and, for a prerelease,
// sub!(/(?<=\.|\A)[0.]+(?=[a-zA-Z])/, "").
func gemCanonical(v string, pre bool) string {
	r := len(v)
	for r > 0 && (v[r-1] == '.' || v[r-1] == '0') {
		r--
	}
	for i := max(r, 1); i < len(v); i++ {
		if isAlpha(v[i-1]) || v[i-1] == '.' {
			v = v[:i]
			break
		}
	}
	if !pre {
		return v
	}
	for i := 0; i < len(v); {
		if v[i] != '0' && v[i] != '.' {
			i++
			continue
		}
		k := i
		for k < len(v) && (v[k] == '0' || v[k] == '.') {
			k++
		}
		if k < len(v) && isAlpha(v[k]) {
			for j := i; j < k; j++ {
				if j == 0 || v[j-1] == '.' {
					return v[:j] + v[k:]
				}
			}
		}
		i = k
	}
	return v
}

// gemSegments is partition_segments: scan(/\d+|[a-z]+/i).
func gemSegments(v string) []gemSegment {
	var segs []gemSegment
	for i := 0; i < len(v); {
		j := i
		switch {
		case isDigit(v[i]):
			for j < len(v) && isDigit(v[j]) {
				j++
			}
			segs = append(segs, gemSegment{num: true, v: v[i:j]})
		case isAlpha(v[i]):
			for j < len(v) && isAlpha(v[j]) {
				j++
			}
			segs = append(segs, gemSegment{v: v[i:j]})
		default:
			j++
		}
		i = j
	}
	return segs
}

// String returns the version stripped of surrounding whitespace, "0" when
// blank. (Gem::Version#to_s also spells "-" as ".pre.", which does not
// always parse again: "1.0--" becomes "1.0.pre..pre.".)
func (v RubyGems) String() string { return v.s }

// Scheme returns RubyGemsScheme.
func (RubyGems) Scheme() *Scheme { return RubyGemsScheme }

func (v RubyGems) cmp(o Version) int { return v.Compare(o.(RubyGems)) }

// Compare orders as Gem::Version#<=>: canonical segments pairwise, a
// missing segment being 0, a string below a number.
func (v RubyGems) Compare(o RubyGems) int {
	zero := gemSegment{num: true, v: "0"}
	for i := 0; i < len(v.segs) || i < len(o.segs); i++ {
		a, b := zero, zero
		if i < len(v.segs) {
			a = v.segs[i]
		}
		if i < len(o.segs) {
			b = o.segs[i]
		}
		var c int
		switch {
		case a.num && b.num:
			c = cmpDigits(a.v, b.v)
		case a.num:
			c = 1
		case b.num:
			c = -1
		default:
			c = strings.Compare(a.v, b.v)
		}
		if c != 0 {
			return c
		}
	}
	return 0
}
