package update

import (
	"errors"
	"fmt"
	"strings"
)

// ErrVersionOrder is returned by CompareVersions when two versions cannot
// be ordered. A device must not guess: an update whose version it cannot
// order against the installed one is refused (a rollback could hide
// behind a version string it misreads).
var ErrVersionOrder = errors.New("versions cannot be ordered")

// CompareVersions orders two firmware versions: -1 when a < b, 0 when they
// are the same release, +1 when a > b.
//
// A version is numeric dot-separated components with an optional leading
// "v", then optionally "-prerelease" and "+build": 1.5.0, v2.1, 1.0.3-rc.1,
// 4.2.0.17+20261201. Components compare as numbers (1.10 > 1.9) and
// missing ones are zero (1.5 = 1.5.0); a pre-release comes before its
// release and pre-releases compare identifier by identifier as in SemVer
// 2.0.0 §11 (numeric ones as numbers, below alphanumeric ones); build
// metadata is ignored. Anything else (1.5a, release-7, 2026.x) is an
// error wrapping ErrVersionOrder rather than a guess.
func CompareVersions(a, b string) (int, error) {
	va, err := parseVersion(a)
	if err != nil {
		return 0, err
	}
	vb, err := parseVersion(b)
	if err != nil {
		return 0, err
	}
	n := max(len(va.core), len(vb.core))
	for i := range n {
		if c := compareNumeric(component(va.core, i), component(vb.core, i)); c != 0 {
			return c, nil
		}
	}
	switch {
	case va.pre == nil && vb.pre == nil:
		return 0, nil
	case va.pre == nil:
		return 1, nil
	case vb.pre == nil:
		return -1, nil
	}
	for i := 0; i < len(va.pre) && i < len(vb.pre); i++ {
		if c := comparePrerelease(va.pre[i], vb.pre[i]); c != 0 {
			return c, nil
		}
	}
	return compareInts(len(va.pre), len(vb.pre)), nil
}

// version is a parsed firmware version.
type version struct {
	core []string // numeric components, leading zeros trimmed
	pre  []string // pre-release identifiers; nil for a release
}

func parseVersion(s string) (version, error) {
	bad := func(why string) (version, error) {
		return version{}, fmt.Errorf("firmware version %q %s: %w (use numeric versions such as 1.5.0 or 1.5.0-rc.1)", s, why, ErrVersionOrder)
	}
	if !versionRe.MatchString(s) {
		return bad("has characters other than letters, digits, '.', '+', '_' and '-' or is longer than 64")
	}
	rest := s
	if len(rest) > 1 && (rest[0] == 'v' || rest[0] == 'V') && rest[1] >= '0' && rest[1] <= '9' {
		rest = rest[1:]
	}
	rest, _, _ = strings.Cut(rest, "+") // build metadata
	core, pre, hasPre := strings.Cut(rest, "-")
	var v version
	for c := range strings.SplitSeq(core, ".") {
		if c == "" || strings.Trim(c, "0123456789") != "" {
			return bad("is not numeric components separated by dots")
		}
		v.core = append(v.core, trimZeros(c))
	}
	if hasPre {
		for id := range strings.SplitSeq(pre, ".") {
			if id == "" {
				return bad("has an empty pre-release identifier")
			}
			v.pre = append(v.pre, id)
		}
	}
	return v, nil
}

func trimZeros(d string) string {
	if t := strings.TrimLeft(d, "0"); t != "" {
		return t
	}
	return "0"
}

func component(c []string, i int) string {
	if i < len(c) {
		return c[i]
	}
	return "0"
}

// compareNumeric compares two digit strings without leading zeros as
// numbers of any length.
func compareNumeric(a, b string) int {
	if c := compareInts(len(a), len(b)); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

func compareInts(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func isDigits(s string) bool { return s != "" && strings.Trim(s, "0123456789") == "" }

// comparePrerelease orders two pre-release identifiers: numeric ones as
// numbers and below alphanumeric ones, which compare in ASCII order.
func comparePrerelease(a, b string) int {
	da, db := isDigits(a), isDigits(b)
	switch {
	case da && db:
		return compareNumeric(trimZeros(a), trimZeros(b))
	case da:
		return -1
	case db:
		return 1
	}
	return strings.Compare(a, b)
}
