package version

import (
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// NuGet is a NuGet package version as NuGet.Versioning's
// NuGetVersion.TryParse parses it and VersionComparer.Default orders it
// (NuGet/NuGet.Client, src/NuGet.Core/NuGet.Versioning), which is what
// OSV uses for the NuGet ecosystem:
//
//   - Major[.Minor[.Patch[.Revision]]][-label(.label)*][+metadata]: one to
//     four numbers of at most 2147483647, missing ones 0 ("1.0" =
//     "1.0.0" = "1.0.0.0"), leading zeros allowed ("1.0.01" = "1.0.1");
//     whitespace around the version and around each number is ignored, as
//     TryParse ignores it;
//   - labels and metadata parts are non-empty runs of ASCII letters,
//     digits and "-"; a numeric label may not have a leading zero;
//   - the four numbers compare numerically, then a version with labels
//     sorts before the same version without; labels compare pairwise, both
//     numeric (as .NET's int.TryParse reads them, so "-1" is −1 and numbers
//     beyond 32 bits are not numeric) numerically, a numeric label before
//     an alphanumeric one, others as strings ignoring case; a shorter list
//     that is a prefix of a longer one sorts first (SemVer 2.0.0 §11);
//   - build metadata is ignored.
type NuGet struct {
	nums     [4]int32 // major, minor, patch, revision
	labels   []string // as given
	metadata string   // "" when absent
	keys     []nugetLabel
}

type nugetLabel struct {
	num   bool
	n     int64
	upper string
}

// ParseNuGet parses a NuGet version as NuGetVersion.TryParse does and
// says why it refuses one.
func ParseNuGet(s string) (NuGet, error) {
	v := strings.TrimFunc(s, unicode.IsSpace)
	if v == "" {
		return NuGet{}, perr("nuget", s, "empty")
	}
	// NuGet's ParseSections: the version runs to the first '-' or '+'
	// (which, as the last character, stays part of it and so fails), the
	// labels to the next '+', the metadata to the end.
	verPart, labelPart, metaPart := v, "", ""
	hasLabels, hasMeta := false, false
	if d := strings.IndexAny(v, "-+"); d >= 0 && d < len(v)-1 {
		verPart = v[:d]
		rest := v[d+1:]
		if v[d] == '+' {
			metaPart, hasMeta = rest, true
		} else {
			hasLabels = true
			labelPart = rest
			if p := strings.IndexByte(rest, '+'); p >= 0 && p < len(rest)-1 {
				labelPart, metaPart, hasMeta = rest[:p], rest[p+1:], true
			}
		}
	}
	var out NuGet
	nums, reason := nugetNumbers(verPart)
	if reason != "" {
		return NuGet{}, perr("nuget", s, "%s", reason)
	}
	out.nums = nums
	if hasLabels {
		out.labels = strings.Split(labelPart, ".")
		for _, l := range out.labels {
			if r := nugetPart(l, false); r != "" {
				return NuGet{}, perr("nuget", s, "release label %q %s", l, r)
			}
		}
		out.keys = make([]nugetLabel, len(out.labels))
		for i, l := range out.labels {
			n, ok := nugetInt(l)
			out.keys[i] = nugetLabel{num: ok, n: n, upper: strings.ToUpper(l)}
		}
	}
	if hasMeta {
		for _, p := range strings.Split(metaPart, ".") {
			if r := nugetPart(p, true); r != "" {
				return NuGet{}, perr("nuget", s, "build metadata part %q %s", p, r)
			}
		}
		out.metadata = metaPart
	}
	return out, nil
}

// nugetNumbers is TryGetNormalizedVersion: up to four sections, each
// optional whitespace, digits, optional whitespace, then "." or the end.
func nugetNumbers(str string) ([4]int32, string) {
	var nums [4]int32
	if strings.TrimFunc(str, unicode.IsSpace) == "" {
		return nums, "version number is empty"
	}
	pos := 0
	for k := 0; k < 4; k++ {
		n, end, reason := nugetSection(str, pos)
		if reason != "" {
			return nums, reason
		}
		nums[k], pos = n, end
	}
	if pos != len(str) {
		return nums, "has more than four numbers, or characters other than digits, '.' and spaces before the '-' or '+'"
	}
	return nums, ""
}

func nugetSection(str string, start int) (int32, int, string) {
	if start == len(str) {
		return 0, start, ""
	}
	bad := func() (int32, int, string) {
		return 0, 0, "version number " + strconv.Quote(str) + " is not one to four '.'-separated numbers"
	}
	end := start
	for end < len(str) {
		r, size := utf8.DecodeRuneInString(str[end:])
		if !unicode.IsSpace(r) {
			if !isDigit(str[end]) {
				return bad()
			}
			break
		}
		end += size
	}
	var n int64
	digits, done := false, false
loop:
	for end < len(str) {
		c := str[end]
		switch {
		case isDigit(c):
			digits = true
			n = n*10 + int64(c-'0')
			if n > math.MaxInt32 {
				return 0, 0, "number is larger than 2147483647"
			}
			end++
		case c == '.':
			end++
			if end == len(str) {
				return 0, 0, "version number ends with '.'"
			}
			done = true
			break loop
		default:
			r, _ := utf8.DecodeRuneInString(str[end:])
			if unicode.IsSpace(r) {
				break loop
			}
			return bad()
		}
	}
	if !digits {
		return bad()
	}
	if end == len(str) {
		done = true
	}
	for !done && end < len(str) {
		r, size := utf8.DecodeRuneInString(str[end:])
		if unicode.IsSpace(r) {
			end += size
			continue
		}
		if r != '.' {
			return bad()
		}
		end++
		if end == len(str) {
			return 0, 0, "version number ends with '.'"
		}
		break
	}
	return int32(n), end, ""
}

// nugetPart is IsValidPart: non-empty, [0-9A-Za-z-] only and, unless
// allowed, no leading zero in an all-digit part.
func nugetPart(p string, leadingZeros bool) string {
	if p == "" {
		return "is empty"
	}
	if !leadingZeros && len(p) > 1 && p[0] == '0' && isNumeric(p) {
		return "is a number with a leading zero"
	}
	for i := 0; i < len(p); i++ {
		if !isAlnum(p[i]) && p[i] != '-' {
			return "may hold only ASCII letters, digits and '-'"
		}
	}
	return ""
}

// nugetInt is .NET's int.TryParse on a label (which holds only letters,
// digits and '-'): an optional '-' sign, digits, and a value that fits in
// 32 bits.
func nugetInt(l string) (int64, bool) {
	digits := strings.TrimPrefix(l, "-")
	if !isNumeric(digits) {
		return 0, false
	}
	n, err := strconv.ParseInt(l, 10, 32)
	if err != nil {
		return 0, false
	}
	return n, true
}

// String returns the normalised form NuGet's ToFullString gives:
// Major.Minor.Patch, ".Revision" when it is not 0, then the labels and the
// metadata as given.
func (v NuGet) String() string {
	var b strings.Builder
	for i, n := range v.nums {
		if i == 3 && n == 0 {
			break
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(strconv.Itoa(int(n)))
	}
	if len(v.labels) > 0 {
		b.WriteByte('-')
		b.WriteString(strings.Join(v.labels, "."))
	}
	if v.metadata != "" {
		b.WriteByte('+')
		b.WriteString(v.metadata)
	}
	return b.String()
}

// Scheme returns NuGetScheme.
func (NuGet) Scheme() *Scheme { return NuGetScheme }

func (v NuGet) cmp(o Version) int { return v.Compare(o.(NuGet)) }

// Compare orders as VersionComparer.Default: the four numbers, then the
// release labels; metadata is ignored.
func (v NuGet) Compare(o NuGet) int {
	for i := range v.nums {
		if v.nums[i] != o.nums[i] {
			if v.nums[i] < o.nums[i] {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(v.keys) == 0 && len(o.keys) == 0:
		return 0
	case len(v.keys) == 0:
		return 1
	case len(o.keys) == 0:
		return -1
	}
	for i := 0; i < len(v.keys) && i < len(o.keys); i++ {
		a, b := v.keys[i], o.keys[i]
		var c int
		switch {
		case a.num && b.num:
			c = sign(int(a.n - b.n))
		case a.num:
			c = -1
		case b.num:
			c = 1
		default:
			c = strings.Compare(a.upper, b.upper)
		}
		if c != 0 {
			return c
		}
	}
	return sign(len(v.keys) - len(o.keys))
}
