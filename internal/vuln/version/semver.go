package version

import (
	"strings"
)

// SemVer is a Semantic Versioning 2.0.0 version. Numeric parts are kept as
// decimal strings so that no size limit applies.
type SemVer struct {
	Major, Minor, Patch string   // decimal, no leading zeros
	Pre                 []string // pre-release identifiers; nil for a release
	Build               []string // build metadata; ignored by ordering
	scheme              *Scheme
}

// ParseSemVer parses a SemVer 2.0.0 version. A leading "v" is accepted and
// dropped; everything else follows the grammar at semver.org.
func ParseSemVer(s string) (SemVer, error) {
	v, err := parseSemVer(s, strings.TrimPrefix(s, "v"), "semver")
	v.scheme = SemVerScheme
	return v, err
}

func parseSemVer(orig, s, scheme string) (SemVer, error) {
	var v SemVer
	if s == "" {
		return v, perr(scheme, orig, "empty version")
	}
	core, build, hasBuild := strings.Cut(s, "+")
	core, pre, hasPre := strings.Cut(core, "-")
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return v, perr(scheme, orig, "want MAJOR.MINOR.PATCH, got %d dot-separated parts", len(parts))
	}
	for i, p := range parts {
		if err := numericIdent(p); err != "" {
			return v, perr(scheme, orig, "%s %s", [...]string{"major", "minor", "patch"}[i], err)
		}
	}
	v.Major, v.Minor, v.Patch = parts[0], parts[1], parts[2]
	if hasPre {
		v.Pre = strings.Split(pre, ".")
		for _, id := range v.Pre {
			if id == "" {
				return v, perr(scheme, orig, "empty pre-release identifier")
			}
			if !identChars(id) {
				return v, perr(scheme, orig, "pre-release identifier %q has characters other than [0-9A-Za-z-]", id)
			}
			if allDigits(id) && len(id) > 1 && id[0] == '0' {
				return v, perr(scheme, orig, "numeric pre-release identifier %q has a leading zero", id)
			}
		}
	}
	if hasBuild {
		v.Build = strings.Split(build, ".")
		for _, id := range v.Build {
			if id == "" || !identChars(id) {
				return v, perr(scheme, orig, "build identifier %q must be non-empty [0-9A-Za-z-]", id)
			}
		}
	}
	return v, nil
}

func numericIdent(p string) string {
	switch {
	case p == "":
		return "is empty"
	case !allDigits(p):
		return "is not a number: " + p
	case len(p) > 1 && p[0] == '0':
		return "has a leading zero: " + p
	}
	return ""
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}

func identChars(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) && s[i] != '-' {
			return false
		}
	}
	return true
}

// String returns the version without a "v" prefix.
func (v SemVer) String() string {
	var b strings.Builder
	b.WriteString(v.Major + "." + v.Minor + "." + v.Patch)
	if v.Pre != nil {
		b.WriteString("-" + strings.Join(v.Pre, "."))
	}
	if v.Build != nil {
		b.WriteString("+" + strings.Join(v.Build, "."))
	}
	return b.String()
}

// Scheme returns SemVerScheme, or GoScheme for versions from ParseGo.
func (v SemVer) Scheme() *Scheme {
	if v.scheme == nil {
		return SemVerScheme
	}
	return v.scheme
}

func (v SemVer) cmp(o Version) int { return v.Compare(o.(SemVer)) }

// Compare orders by SemVer precedence (semver.org §11); build metadata is
// ignored.
func (v SemVer) Compare(o SemVer) int {
	if c := cmpDigits(v.Major, o.Major); c != 0 {
		return c
	}
	if c := cmpDigits(v.Minor, o.Minor); c != 0 {
		return c
	}
	if c := cmpDigits(v.Patch, o.Patch); c != 0 {
		return c
	}
	switch {
	case v.Pre == nil && o.Pre == nil:
		return 0
	case v.Pre == nil:
		return 1
	case o.Pre == nil:
		return -1
	}
	for i := 0; i < len(v.Pre) && i < len(o.Pre); i++ {
		a, b := v.Pre[i], o.Pre[i]
		an, bn := allDigits(a), allDigits(b)
		var c int
		switch {
		case an && bn:
			c = cmpDigits(a, b)
		case an:
			c = -1
		case bn:
			c = 1
		default:
			c = strings.Compare(a, b)
		}
		if c != 0 {
			return c
		}
	}
	return sign(len(v.Pre) - len(o.Pre))
}

// ParseGo parses a Go module or toolchain version: "v1.2.3", "1.2.3",
// pseudo-versions such as "v0.0.0-20220203205134-d70459300c8a",
// "v2.0.0+incompatible", and the toolchain spellings "go1.21.3", "go1.21"
// (= 1.21.0), "go1.21rc2" (= 1.21.0-rc.2) and "go1.9beta1". The Go vulnerability
// database writes versions without the "v".
func ParseGo(s string) (SemVer, error) {
	t := s
	if strings.HasPrefix(t, "go") {
		var err error
		if t, err = goToolchain(s, t[2:]); err != nil {
			return SemVer{}, err
		}
	} else {
		t = strings.TrimPrefix(t, "v")
	}
	v, err := parseSemVer(s, t, "go")
	v.scheme = GoScheme
	return v, err
}

// goToolchain maps a toolchain version after "go" onto SemVer: "1.21rc2"
// becomes "1.21.0-rc.2" and "1.20" becomes "1.20.0". Before Go 1.21 the
// first release of a line was named go1.N, which is the release 1.N.0 that
// the vulnerability database writes; go/version's language versions
// ("1.21" before "1.21rc1") never name an installed toolchain.
func goToolchain(orig, s string) (string, error) {
	i := 0
	for i < len(s) && (isDigit(s[i]) || s[i] == '.') {
		i++
	}
	num, rest := s[:i], s[i:]
	parts := strings.Split(num, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return "", perr("go", orig, "toolchain version must be go1.N or go1.N.P")
	}
	for len(parts) < 3 {
		parts = append(parts, "0")
	}
	out := strings.Join(parts, ".")
	if rest != "" {
		j := 0
		for j < len(rest) && isAlpha(rest[j]) {
			j++
		}
		kind, n := rest[:j], rest[j:]
		if (kind != "rc" && kind != "beta" && kind != "alpha") || !allDigits(n) {
			return "", perr("go", orig, "unknown toolchain pre-release %q (want rcN, betaN or alphaN)", rest)
		}
		out += "-" + kind + "." + n
	}
	return out, nil
}
