// Package version parses and orders package versions the way each packaging
// ecosystem does, so that OSV ranges can be evaluated offline.
//
// Each scheme follows the reference implementation of its ecosystem, not a
// sample of versions:
//
//   - [SemVer]: Semantic Versioning 2.0.0 precedence (semver.org §11). A
//     leading "v" is accepted and dropped.
//   - [ParseGo]: Go module and toolchain versions ("v1.2.3", pseudo-versions,
//     "+incompatible", "go1.21.3", "go1.21rc2"), mapped onto SemVer the way
//     golang.org/x/mod/semver and go/version do.
//   - [Dpkg]: Debian policy §5.6.12 and dpkg's verrevcmp (lib/dpkg/version.c):
//     epoch:upstream-revision, "~" before everything including the end,
//     letters before non-letters, digit runs numerically. Used for Debian and
//     Ubuntu.
//   - [APK]: apk-tools src/version.c (v3): digit{.digit}{letter}{_suffix{N}}
//     {~hash}{-rN}, pre-release suffixes _alpha < _beta < _pre < _rc < (none)
//     < _cvs < _svn < _git < _hg < _p, string comparison for digit runs with a
//     leading zero. Used for Alpine, Alpaquita, BellSoft Hardened Containers,
//     Wolfi and Chainguard.
//   - [RPM]: rpm's rpmvercmp (rpmio/rpmvercmp.c) over epoch:version-release,
//     including "~" (pre-release) and "^" (post-release). Used for Red Hat,
//     Rocky Linux, AlmaLinux, SUSE, openSUSE, Photon OS, Mageia, openEuler
//     and Azure Linux.
//   - [Maven]: the POM reference's Version Order Specification, which
//     Maven's ComparableVersion implements: qualifier order alpha < beta <
//     milestone < rc = cr < snapshot < "" = ga = final = release < sp.
//   - [PEP440]: PEP 440 as pypa/packaging orders it, for PyPI: epoch,
//     release, dev < a < b < rc < (none) < post, local labels last, with
//     PEP 440's normalisation of spellings. The public version is parsed and
//     ordered by github.com/aquasecurity/go-pep440-version; local labels
//     are handled here, because that library gets them wrong (see [PEP440]).
//   - [RubyGems]: Gem::Version (rubygems lib/rubygems/version.rb): its
//     pattern, "-" read as ".pre.", segments of digits or letters compared
//     pairwise with a letter segment (prerelease) below any number and
//     trailing zero segments ignored ("1.0.a" < "1.0" = "1.0.0" < "1.10").
//   - [NuGet]: NuGet.Versioning's NuGetVersion.TryParse and
//     VersionComparer.Default: one to four numbers (missing ones 0, leading
//     zeros allowed), SemVer 2.0.0 release labels compared without case,
//     build metadata ignored.
//   - [Packagist]: composer/semver's VersionParser::normalize ("v1.0" →
//     "1.0.0.0", "1.0-b2" → "1.0.0.0-beta2") and Comparator, which is PHP's
//     version_compare on normalised versions: dev < alpha < beta < RC <
//     (release) < patch. Branches ("dev-main") are refused: Composer does
//     not order them.
//   - [Generic]: the documented fallback for ecosystems without a scheme
//     here. Versions are split into digit runs and letter runs (anything else
//     separates); digit runs compare numerically, letter runs
//     lexicographically ignoring case, a letter run sorts below the end of the
//     version and a digit run above it ("1.0rc1" < "1.0" < "1.0.1"). Results
//     based on it are marked approximate by the caller.
//
// Every Parse function rejects what its ecosystem rejects and returns an
// error that says why; Compare never panics and is a total order on the
// values that parse.
package version

import (
	"fmt"
	"strings"
)

// Version is a parsed version of one scheme. Values of different schemes are
// ordered by scheme name, so mixing them never panics but means nothing.
type Version interface {
	// String returns the version in its scheme's canonical spelling, which
	// parses back to an equal Version.
	String() string
	// Scheme returns the scheme that parsed the version.
	Scheme() *Scheme
	cmp(o Version) int
}

// Compare returns -1, 0 or +1 as a sorts before, equal to or after b.
func Compare(a, b Version) int {
	if a.Scheme() != b.Scheme() {
		return strings.Compare(a.Scheme().Name, b.Scheme().Name)
	}
	return a.cmp(b)
}

// Scheme is one ecosystem's version syntax and ordering.
type Scheme struct {
	// Name identifies the scheme: "semver", "go", "dpkg", "apk", "rpm",
	// "maven", "pep440", "rubygems", "nuget", "packagist" or "generic".
	Name string
	// Approximate is true for the fallback scheme, whose order is a guess.
	Approximate bool
	parse       func(string) (Version, error)
}

// Parse parses s in this scheme.
func (s *Scheme) Parse(v string) (Version, error) { return s.parse(v) }

// Compare parses a and b and compares them.
func (s *Scheme) Compare(a, b string) (int, error) {
	va, err := s.parse(a)
	if err != nil {
		return 0, err
	}
	vb, err := s.parse(b)
	if err != nil {
		return 0, err
	}
	return Compare(va, vb), nil
}

// The schemes. They are read-only values.
var (
	SemVerScheme    = &Scheme{Name: "semver"}
	GoScheme        = &Scheme{Name: "go"}
	DpkgScheme      = &Scheme{Name: "dpkg"}
	APKScheme       = &Scheme{Name: "apk"}
	RPMScheme       = &Scheme{Name: "rpm"}
	MavenScheme     = &Scheme{Name: "maven"}
	PEP440Scheme    = &Scheme{Name: "pep440"}
	RubyGemsScheme  = &Scheme{Name: "rubygems"}
	NuGetScheme     = &Scheme{Name: "nuget"}
	PackagistScheme = &Scheme{Name: "packagist"}
	GenericScheme   = &Scheme{Name: "generic", Approximate: true}
)

func init() {
	// Assigned here to break the initialisation cycle between the schemes
	// and the parse functions that return values pointing at them.
	SemVerScheme.parse = func(s string) (Version, error) { return ParseSemVer(s) }
	GoScheme.parse = func(s string) (Version, error) { return ParseGo(s) }
	DpkgScheme.parse = func(s string) (Version, error) { return ParseDpkg(s) }
	APKScheme.parse = func(s string) (Version, error) { return ParseAPK(s) }
	RPMScheme.parse = func(s string) (Version, error) { return ParseRPM(s) }
	MavenScheme.parse = func(s string) (Version, error) { return ParseMaven(s) }
	PEP440Scheme.parse = func(s string) (Version, error) { return ParsePEP440(s) }
	RubyGemsScheme.parse = func(s string) (Version, error) { return ParseRubyGems(s) }
	NuGetScheme.parse = func(s string) (Version, error) { return ParseNuGet(s) }
	PackagistScheme.parse = func(s string) (Version, error) { return ParsePackagist(s) }
	GenericScheme.parse = func(s string) (Version, error) { return ParseGeneric(s) }
}

// ForEcosystem returns the ordering used by an OSV ecosystem for ECOSYSTEM
// ranges. eco may carry a release suffix ("Debian:12", "Alpine:v3.18").
// Unknown ecosystems get GenericScheme, which is Approximate.
func ForEcosystem(eco string) *Scheme {
	base, _, _ := strings.Cut(eco, ":")
	switch base {
	case "Go":
		return GoScheme
	case "npm", "crates.io", "Hex", "Pub", "SwiftURL", "Bitnami":
		return SemVerScheme
	case "Debian", "Ubuntu":
		return DpkgScheme
	case "Alpine", "Alpaquita", "BellSoft Hardened Containers", "Wolfi", "Chainguard", "MinimOS":
		return APKScheme
	case "Red Hat", "Rocky Linux", "AlmaLinux", "SUSE", "openSUSE", "Photon OS", "Mageia", "openEuler", "Azure Linux":
		return RPMScheme
	case "Maven":
		return MavenScheme
	case "PyPI":
		return PEP440Scheme
	case "RubyGems":
		return RubyGemsScheme
	case "NuGet":
		return NuGetScheme
	case "Packagist":
		return PackagistScheme
	}
	return GenericScheme
}

// ParseError reports a version that its scheme rejects.
type ParseError struct {
	Scheme  string // scheme name
	Version string // the input
	Reason  string // what is wrong, worded for the reader
}

// Error says which version was refused and why.
func (e *ParseError) Error() string {
	return fmt.Sprintf("invalid %s version %q: %s", e.Scheme, e.Version, e.Reason)
}

func perr(scheme, v, format string, args ...any) error {
	return &ParseError{Scheme: scheme, Version: v, Reason: fmt.Sprintf(format, args...)}
}

// cmpDigits compares two runs of ASCII digits numerically, without limit on
// their length.
func cmpDigits(a, b string) int {
	a = strings.TrimLeft(a, "0")
	b = strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isAlnum(c byte) bool { return isDigit(c) || isAlpha(c) }
