package version

import (
	"regexp"
	"strings"
)

// Packagist is a Composer package version, normalised as composer/semver's
// VersionParser::normalize does and ordered as its Comparator does, by
// PHP's version_compare (php-src ext/standard/versioning.c) on the
// normalised versions. OSV uses this for the Packagist ecosystem.
//
// Normalisation: surrounding whitespace is trimmed, an alias ("1.0 as
// 2.0"), a stability flag ("@dev") and build metadata ("+foo") are dropped;
// then
//
//   - [v]N[.N[.N[.N]]] (a major of at most five digits) becomes four
//     numbers, leading zeros kept: "v1.0" → "1.0.0.0";
//   - otherwise a date version (YYYY, one to six two-digit parts, then up
//     to two parts of one to three digits, separated by ".", ":", "-" or
//     nothing) keeps its parts: "2010-01-02" → "2010.01.02";
//   - a stability suffix, optionally after ".", "_" or "-", with an
//     optional number, is spelt out: a, alpha → alpha; b, beta → beta; RC;
//     p, pl, patch → patch ("1.0.0RC1" → "1.0.0.0-RC1", "1.0-b.2" →
//     "1.0.0.0-beta2"); "stable" is dropped; "-dev" may follow;
//   - a numeric branch "N[.N|x]*-dev" becomes N with 9999999 for x and
//     missing parts ("1.x-dev" → "1.9999999.9999999.9999999-dev").
//
// Anything else is refused, including "1.0.0.0.0", "1.0-SNAPSHOT" and
// other suffixes. Branches ("dev-main", "dev-feature/x", "master") are
// refused too: Composer never orders a branch against a version (its
// Constraint::versionCompare makes every such comparison false), so Ward
// cannot place them in a range.
//
// Order (version_compare): the normalised version is split into parts at
// ".", "-", "_", "+" and between digits and letters; numbers compare
// numerically (as C's strtol reads them, so beyond 2⁶³−1 they are equal);
// names rank dev < alpha < beta < RC < (a number) < patch, so
// "1.0.0-dev" < "1.0.0-alpha1" < "1.0.0-beta2" < "1.0.0-RC1" < "1.0.0" <
// "1.0.0-patch1"; when one version runs out, a number left in the other
// makes that one greater ("1.0" < "1.0.0" for date versions), a name is
// ranked against a number.
type Packagist struct {
	s     string // the version as given, trimmed
	norm  string // composer's normalised version
	canon string // norm as php_canonicalize_version rewrites it
}

// pcreSpace is PCRE's \s in PHP (PCRE2, C locale): space, \t, \n, \v, \f,
// \r. Go's \s lacks \v.
const pcreSpace = `\t\n\x0B\f\r `

// ci spells a word case-insensitively with ASCII classes only, because
// Go's (?i) would also match "ſ" (U+017F) for "s", which PCRE without /u
// does not.
func ci(word string) string {
	var b strings.Builder
	for i := 0; i < len(word); i++ {
		c := word[i]
		if isAlpha(c) {
			b.WriteString("[" + strings.ToLower(string(c)) + strings.ToUpper(string(c)) + "]")
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// The regular expressions of VersionParser::normalize, translated to Go.
// PCRE's "$" also matches before a final newline, hence "\n?$" where one
// can reach it. Possessive quantifiers are dropped: in these patterns
// nothing after them could take back what they match, so backtracking
// never changes the result.
var (
	// [._-]?(?:(stable|beta|b|RC|alpha|a|patch|pl|p)((?:[.-]?\d+)*+)?)?([.-]?dev)?
	composerModifier = `[._-]?(?:(` + ci("stable") + `|` + ci("beta") + `|` + ci("b") + `|` + ci("RC") + `|` +
		ci("alpha") + `|` + ci("a") + `|` + ci("patch") + `|` + ci("pl") + `|` + ci("p") +
		`)((?:[.-]?\d+)*)?)?([.-]?` + ci("dev") + `)?`
	composerAlias     = regexp.MustCompile(`^([^,` + pcreSpace + `]+) +as +([^,` + pcreSpace + `]+)$`)
	composerFlag      = regexp.MustCompile(`@(?:` + ci("stable") + `|` + ci("RC") + `|` + ci("beta") + `|` + ci("alpha") + `|` + ci("dev") + `)$`)
	composerMeta      = regexp.MustCompile(`^([^,` + pcreSpace + `+]+)\+[^` + pcreSpace + `]+\n?$`)
	composerClassical = regexp.MustCompile(`^[vV]?(\d{1,5})(\.\d+)?(\.\d+)?(\.\d+)?` + composerModifier + `\n?$`)
	composerDate      = regexp.MustCompile(`^[vV]?(\d{4}(?:[.:-]?\d{2}){1,6}(?:[.:-]?\d{1,3}){0,2})` + composerModifier + `\n?$`)
	composerDevSuffix = regexp.MustCompile(`(.*?)[.-]?` + ci("dev") + `\n?$`)
	composerBranch    = regexp.MustCompile(`^[vV]?(\d+)(\.(?:\d+|[xX*]))?(\.(?:\d+|[xX*]))?(\.(?:\d+|[xX*]))?$`)
	composerNonDigit  = regexp.MustCompile(`\D`)
)

// phpTrim is the character list of PHP's trim().
const phpTrim = " \t\n\r\x00\x0B"

// ParsePackagist parses a Composer version. It refuses what
// VersionParser::normalize refuses and, with a reason saying so, the
// branch names that normalize accepts but Composer cannot order.
func ParsePackagist(s string) (Packagist, error) {
	norm, err := composerNormalize(s)
	if err != nil {
		return Packagist{}, err
	}
	return Packagist{s: strings.Trim(s, phpTrim), norm: norm, canon: phpCanonicalize(norm)}, nil
}

func composerNormalize(s string) (string, error) {
	v := strings.Trim(s, phpTrim)
	if v == "" {
		return "", perr("packagist", s, "empty")
	}
	if m := composerAlias.FindStringSubmatch(v); m != nil {
		v = m[1]
	}
	if loc := composerFlag.FindStringIndex(v); loc != nil {
		v = v[:loc[0]]
	}
	if v == "master" || v == "trunk" || v == "default" {
		v = "dev-" + v
	}
	if len(v) >= 4 && strings.EqualFold(v[:4], "dev-") {
		return "", perr("packagist", s, "is the branch %q: Composer does not order branches against versions", "dev-"+v[4:])
	}
	if m := composerMeta.FindStringSubmatch(v); m != nil {
		v = m[1]
	}
	var version string
	var mod []string // stability, its number, dev
	if m := composerClassical.FindStringSubmatch(v); m != nil {
		version = m[1]
		for _, p := range m[2:5] {
			if p == "" {
				p = ".0"
			}
			version += p
		}
		mod = m[5:8]
	} else if m := composerDate.FindStringSubmatch(v); m != nil {
		version = composerNonDigit.ReplaceAllString(m[1], ".")
		mod = m[2:5]
	}
	if mod != nil {
		if mod[0] != "" {
			if mod[0] == "stable" {
				return version, nil
			}
			version += "-" + composerExpandStability(mod[0]) + strings.TrimLeft(mod[1], ".-")
		}
		if mod[2] != "" {
			version += "-dev"
		}
		return version, nil
	}
	if m := composerDevSuffix.FindStringSubmatch(v); m != nil {
		if n, ok := composerNormalizeBranch(m[1]); ok {
			return n, nil
		}
	}
	return "", perr("packagist", s, "Composer's VersionParser rejects it: want [v]N[.N[.N[.N]]] or a date, optionally followed by -alpha, -beta, -RC, -patch (with a number) and -dev, or a numeric branch such as 1.x-dev")
}

// composerExpandStability is VersionParser::expandStability.
func composerExpandStability(s string) string {
	switch s = strings.ToLower(s); s {
	case "a":
		return "alpha"
	case "b":
		return "beta"
	case "p", "pl":
		return "patch"
	case "rc":
		return "RC"
	}
	return s
}

// composerNormalizeBranch is VersionParser::normalizeBranch for the
// numeric branches; ok is false for the others, which normalize refuses
// when they end in "-dev" without a "dev-" prefix.
func composerNormalizeBranch(name string) (string, bool) {
	m := composerBranch.FindStringSubmatch(strings.Trim(name, phpTrim))
	if m == nil {
		return "", false
	}
	var b strings.Builder
	for _, p := range m[1:5] {
		if p == "" {
			p = ".x"
		}
		b.WriteString(strings.NewReplacer("*", "x", "X", "x").Replace(p))
	}
	return strings.ReplaceAll(b.String(), "x", "9999999") + "-dev", true
}

// phpCanonicalize is php_canonicalize_version: "-", "_" and "+" become
// ".", a "." is inserted between a digit and a non-digit, other
// non-alphanumerics become ".", and no two dots follow each other.
func phpCanonicalize(v string) string {
	if v == "" {
		return ""
	}
	isdig := func(c byte) bool { return isDigit(c) }
	isndig := func(c byte) bool { return !isDigit(c) && c != '.' }
	buf := make([]byte, 0, 2*len(v))
	lp := v[0]
	buf = append(buf, lp)
	for i := 1; i < len(v); i++ {
		c := v[i]
		lq := buf[len(buf)-1]
		switch {
		case c == '-' || c == '_' || c == '+':
			if lq != '.' {
				buf = append(buf, '.')
			}
		case isndig(lp) && isdig(c) || isdig(lp) && isndig(c):
			if lq != '.' {
				buf = append(buf, '.')
			}
			buf = append(buf, c)
		case !isAlnum(c):
			if lq != '.' {
				buf = append(buf, '.')
			}
		default:
			buf = append(buf, c)
		}
		lp = c
	}
	return string(buf)
}

// phpSpecialForms is compare_special_version_forms' table, matched by
// prefix in this order.
var phpSpecialForms = [...]struct {
	name  string
	order int
}{
	{"dev", 0}, {"alpha", 1}, {"a", 1}, {"beta", 2}, {"b", 2},
	{"RC", 3}, {"rc", 3}, {"#", 4}, {"pl", 5}, {"p", 5},
}

func phpFormOrder(form string) int {
	for _, f := range phpSpecialForms {
		if strings.HasPrefix(form, f.name) {
			return f.order
		}
	}
	return -1
}

// phpStrtol is strtol on a run that starts with a digit: the leading
// digits, saturating at LONG_MAX (64-bit).
func phpStrtol(s string) uint64 {
	const longMax = 1<<63 - 1
	var n uint64
	for i := 0; i < len(s) && isDigit(s[i]); i++ {
		d := uint64(s[i] - '0')
		if n > (longMax-d)/10 {
			return longMax
		}
		n = n*10 + d
	}
	return n
}

// phpVersionCompare is php_version_compare on versions already
// canonicalised (or starting with "#", which PHP leaves alone).
func phpVersionCompare(v1, v2 string) int {
	if v1 == "" || v2 == "" {
		switch {
		case v1 == "" && v2 == "":
			return 0
		case v1 != "":
			return 1
		}
		return -1
	}
	p1, p2 := v1, v2
	more1, more2 := true, true // n1, n2 != NULL
	compare := 0
	for p1 != "" && p2 != "" && more1 && more2 {
		e1, r1, ok1 := strings.Cut(p1, ".")
		e2, r2, ok2 := strings.Cut(p2, ".")
		more1, more2 = ok1, ok2
		d1 := e1 != "" && isDigit(e1[0])
		d2 := e2 != "" && isDigit(e2[0])
		switch {
		case d1 && d2:
			l1, l2 := phpStrtol(e1), phpStrtol(e2)
			switch {
			case l1 < l2:
				compare = -1
			case l1 > l2:
				compare = 1
			}
		case !d1 && !d2:
			compare = sign(phpFormOrder(e1) - phpFormOrder(e2))
		case d1:
			compare = sign(phpFormOrder("#N#") - phpFormOrder(e2))
		default:
			compare = sign(phpFormOrder(e1) - phpFormOrder("#N#"))
		}
		if compare != 0 {
			break
		}
		if ok1 {
			p1 = r1
		} else {
			p1 = e1
		}
		if ok2 {
			p2 = r2
		} else {
			p2 = e2
		}
	}
	if compare == 0 {
		switch {
		case more1:
			if p1 != "" && isDigit(p1[0]) {
				compare = 1
			} else {
				compare = phpVersionCompare(phpCanonicalizeRest(p1), "#N#")
			}
		case more2:
			if p2 != "" && isDigit(p2[0]) {
				compare = -1
			} else {
				compare = phpVersionCompare("#N#", phpCanonicalizeRest(p2))
			}
		}
	}
	return compare
}

// phpCanonicalizeRest canonicalises the rest of a version for the
// recursive call, as php_version_compare does unless it starts with "#".
func phpCanonicalizeRest(s string) string {
	if s != "" && s[0] == '#' {
		return s
	}
	return phpCanonicalize(s)
}

// String returns the version as given, trimmed. (Composer's normalised
// form, [Packagist.Normalized], does not always normalise to itself:
// "1.0-STABLE" becomes "1.0.0.0-stable", which would normalise to
// "1.0.0.0".)
func (v Packagist) String() string { return v.s }

// Normalized returns the version as VersionParser::normalize spells it
// ("1.0.0.0-RC1").
func (v Packagist) Normalized() string { return v.norm }

// Scheme returns PackagistScheme.
func (Packagist) Scheme() *Scheme { return PackagistScheme }

func (v Packagist) cmp(o Version) int { return v.Compare(o.(Packagist)) }

// Compare orders as Composer's Comparator: version_compare on the
// normalised versions.
func (v Packagist) Compare(o Packagist) int { return phpVersionCompare(v.canon, o.canon) }
