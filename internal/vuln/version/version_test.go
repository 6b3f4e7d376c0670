package version

import (
	"strings"
	"testing"
)

// ordering is one expected comparison "a op b" taken from an ecosystem's
// documentation or its reference implementation's test suite.
type ordering struct {
	a, op, b string
	source   string
}

// Sources cited below:
//
//	semver.org: Semantic Versioning 2.0.0 §11 (precedence examples)
//	policy: Debian Policy §5.6.12 (Version)
//	dpkg: dpkg lib/dpkg/t/t-version.c
//	apk: apk-tools test/unit/version.data (v3)
//	rpm: rpm tests/rpmvercmp.at
//	maven: maven-artifact ComparableVersionTest (VERSIONS_QUALIFIER)
//	pep440: PEP 440 (https://peps.python.org/pep-0440/), its examples and
//	        "Normalization" section; results checked against pypa/packaging
var orderings = map[*Scheme][]ordering{
	SemVerScheme: {
		{"1.0.0", "<", "2.0.0", "semver.org"},
		{"2.0.0", "<", "2.1.0", "semver.org"},
		{"2.1.0", "<", "2.1.1", "semver.org"},
		{"1.0.0-alpha", "<", "1.0.0", "semver.org"},
		{"1.0.0-alpha", "<", "1.0.0-alpha.1", "semver.org"},
		{"1.0.0-alpha.1", "<", "1.0.0-alpha.beta", "semver.org"},
		{"1.0.0-alpha.beta", "<", "1.0.0-beta", "semver.org"},
		{"1.0.0-beta", "<", "1.0.0-beta.2", "semver.org"},
		{"1.0.0-beta.2", "<", "1.0.0-beta.11", "semver.org"},
		{"1.0.0-beta.11", "<", "1.0.0-rc.1", "semver.org"},
		{"1.0.0-rc.1", "<", "1.0.0", "semver.org"},
		{"1.0.0+20130313144700", "=", "1.0.0+exp.sha.5114f85", "semver.org (build metadata has no precedence)"},
		{"v1.2.3", "=", "1.2.3", "leading v accepted"},
		{"18446744073709551616.0.0", ">", "18446744073709551615.0.0", "no size limit"},
	},
	GoScheme: {
		{"v0.0.0-20220203205134-d70459300c8a", "<", "v0.1.0", "go: pseudo-version before the first tag"},
		{"v0.1.1-0.20220203205134-d70459300c8a", ">", "v0.1.0", "go: pseudo-version after v0.1.0"},
		{"v0.1.1-0.20220203205134-d70459300c8a", "<", "v0.1.1", "go: pseudo-version before v0.1.1"},
		{"v2.0.0+incompatible", "=", "2.0.0", "go: +incompatible is build metadata"},
		{"go1.21.3", "=", "1.21.3", "go: toolchain spelling"},
		{"go1.20", "=", "1.20.0", "go: first release of a line"},
		{"go1.21rc2", "<", "1.21.0", "go: release candidate"},
		{"1.21.0-0", "<", "1.21.0-rc.1", "go vulndb: introduced 1.21.0-0 covers the pre-releases"},
		{"go1.9beta1", "<", "go1.9rc1", "go: beta before rc"},
	},
	DpkgScheme: {
		{"1.0~~", "<", "1.0~~a", "policy: ~~ < ~~a < ~ < (empty) < a"},
		{"1.0~~a", "<", "1.0~", "policy"},
		{"1.0~", "<", "1.0", "policy"},
		{"1.0", "<", "1.0a", "policy"},
		{"1.0~rc1", "<", "1.0", "policy: tilde for pre-releases"},
		{"1.0a", "<", "1.0+", "policy: letters sort before non-letters"},
		{"1.0+", "<", "1.0.", "verrevcmp: non-letters by ASCII"},
		{"1.0a", "<", "1.0.1", "policy"},
		{"0-0", "=", "00-00", "dpkg: (0,0,00) == (0,00,0)"},
		{"1:2-3", "=", "1:2-3", "dpkg"},
		{"0:0-0", "<", "1:0-0", "dpkg: epoch difference"},
		{"a", ">", "", "dpkg: skipped (not a valid version)"},
		{"1:1.0", ">", "9.9", "policy: epoch first"},
		{"1.0", "=", "0:1.0", "dpkg: absent epoch is 0"},
		{"1.0-1", "<", "1.0-1ubuntu1", "revision"},
		{"1.0-1ubuntu1", "<", "1.0-1ubuntu1.1", "revision"},
		{"2.35-0ubuntu3.3", "<", "2.35-0ubuntu3.4", "UBUNTU-CVE-2023-4911"},
		{"1:1.27.2-2ubuntu3.4", "<", "1:1.27.2-2ubuntu3.4+esm1", "UBUNTU-CVE-2022-48174"},
		{"1:1.22.0-15ubuntu1.4+esm1", "<", "1:1.22.0-15ubuntu1.4+esm2", "UBUNTU-CVE-2022-48174"},
		{"2.30-1", "<", "2.30-1+b1", "binNMU"},
		{"1.2.3+dfsg-1", ">", "1.2.3-1", "repack suffix"},
		{"1.0-0", "=", "1.0-00", "digit runs numerically"},
		{"1.10", ">", "1.9", "digit runs numerically"},
		{"7.6p2-4", ">", "7.6-0", "letters after digits"},
		{"1.0.0~beta1~svn1245", "<", "1.0.0~beta1", "policy: tilde nesting"},
	},
	APKScheme: {
		{"2.34", ">", "0.1.0_alpha", "apk"},
		{"23_foo", ">", "4_beta", "apk (invalid: unknown suffix)"},
		{"1.0", "<", "1.0bc", "apk (invalid: string sort)"},
		{"0.1.0_alpha", "=", "0.1.0_alpha", "apk"},
		{"0.1.0_alpha2", ">", "0.1.0_alpha", "apk"},
		{"1.1", ">", "1.1_alpha1", "apk"},
		{"0.8_beta4", "<", "4.8-r1", "apk"},
		{"3.1_p16", "<", "3.1_p17", "apk"},
		{"1.06-r6", "<", "006", "apk"},
		{"2.01.01_alpha10", ">", "0.94", "apk"},
		{"1.0", ">", "0.99.3.20040818", "apk"},
		{"1.39", ">", "1.00_beta2", "apk"},
		{"4.2.52_p2-r1", "<", "4.2.52_p4-r2", "apk"},
		{"1.02.07", "<", "1.02.10-r1", "apk"},
		{"2.18.3-r10", ">", "1.05-r18", "apk"},
		{"20050405", ">", "1.8", "apk"},
		{"3.0.20060720", "<", "20060720", "apk"},
		{"20040401", ">", "2.0.0_rc3-r1", "apk"},
		{"3.9_pre20060124", ">", "0.01", "apk"},
		{"0.10.0", "<", "0.10.1_rc1", "apk"},
		{"2.10.1", ">", "02.08.01b", "apk"},
		{"1.6d", ">", "1.2.07.8", "apk"},
		{"1.2.07.8", "<", "1.2.12.04", "apk"},
		{"1.07.5", ">", "1.07", "apk"},
		{"1.2.9.1-r1", ">", "1.2.9.1", "apk"},
		{"1.3_pre1-r1", "<", "1.3.2", "apk"},
		{"1.0_p10-r0", ">", "1.0_p9-r0", "apk"},
		{"0.1.0_alpha_pre2", "<", "0.1.0_alpha", "apk"},
		{"1.0.0_pre20191002222144-r0", "<", "1.0.0_pre20210530193627-r0", "apk"},
		{"6.0_pre1", "<", "6.0", "apk"},
		{"6.0_p1", ">", "6.0", "apk"},
		{"8.2.0", "<", "8.2.001", "apk (leading zero: string sort)"},
		{"8.2.0015", "<", "8.2.002", "apk"},
		{"1.0~1234", "<", "1.0~2345", "apk"},
		{"1.0~1234-r1", "<", "1.0~2345-r0", "apk"},
		{"1.0~1234-r1", ">", "1.0~1234-r0", "apk"},
		{"2.37.0-r0", "<", "2.37.0-r6", "BELL-CVE records"},
		{"1.36.1-r15", "<", "1.36.1-r29", "revision numerically"},
		{"1.2.3", "<", "1.2.3-r0", "apk: a revision sorts after none"},
	},
	RPMScheme: {
		{"1.0", "=", "1.0", "rpm"},
		{"1.0", "<", "2.0", "rpm"},
		{"2.0.1", ">", "2.0", "rpm"},
		{"2.0", "<", "2.0.1a", "rpm"},
		{"5.5p1", "<", "5.5p2", "rpm"},
		{"5.5p1", "<", "5.5p10", "rpm"},
		{"10xyz", "<", "10.1xyz", "rpm"},
		{"xyz10", "<", "xyz10.1", "rpm"},
		{"xyz.4", "<", "8", "rpm"},
		{"6.0.rc1", ">", "6.0", "rpm"},
		{"10a2", "<", "10b2", "rpm"},
		{"1b.fc17", "<", "1.fc17", "rpm"},
		{"1.0~rc1", "<", "1.0", "rpm tilde"},
		{"1.0~rc1", "<", "1.0~rc2", "rpm tilde"},
		{"1.0~rc1~git123", "<", "1.0~rc1", "rpm tilde"},
		{"1.0^", ">", "1.0", "rpm caret"},
		{"1.0^git1", "<", "1.01", "rpm caret"},
		{"1.0^git1~pre", "<", "1.0^git1", "rpm caret+tilde"},
		{"1:1.0-1", ">", "2.0-1", "epoch"},
		{"1.0-1.el8", "<", "1.0-2.el8", "release"},
	},
	MavenScheme: {
		{"1-alpha2snapshot", "<", "1-alpha2", "maven"},
		{"1-alpha2", "<", "1-alpha-123", "maven"},
		{"1-alpha-123", "<", "1-beta-2", "maven"},
		{"1-beta-2", "<", "1-beta123", "maven"},
		{"1-beta123", "<", "1-m2", "maven"},
		{"1-m2", "<", "1-m11", "maven"},
		{"1-m11", "<", "1-rc", "maven"},
		{"1-rc", "<", "1-cr2", "maven"},
		{"1-cr2", "<", "1-rc123", "maven"},
		{"1-rc123", "<", "1-SNAPSHOT", "maven"},
		{"1-SNAPSHOT", "<", "1", "maven"},
		{"1", "<", "1-sp", "maven"},
		{"1-sp", "<", "1-sp2", "maven"},
		{"1-sp2", "<", "1-sp123", "maven"},
		{"1-sp123", "<", "1-abc", "maven"},
		{"1-abc", "<", "1-def", "maven"},
		{"1-def", "<", "1-pom-1", "maven"},
		{"1-pom-1", "<", "1-1-snapshot", "maven"},
		{"1-1-snapshot", "<", "1-1", "maven"},
		{"1-1", "<", "1-2", "maven"},
		{"1-2", "<", "1-123", "maven"},
		{"1", "=", "1.0.0", "maven: trailing zeros trimmed"},
		{"1-ga", "=", "1", "maven: ga is the release"},
		{"1-final", "=", "1.0", "maven"},
		{"1.0-RC1", "=", "1.0-rc-1", "maven: case and transition"},
		{"1-1", "<", "1.1", "maven: -number < .number"},
		{"1.0-RC3", "<", "1.0.1", "maven"},
		{"2.14.1", "<", "2.15.0", "GHSA-jfh8-c2jp-5v3q"},
		{"2.4", "<", "2.12.2", "GHSA-jfh8-c2jp-5v3q"},
		{"2.12.2", ">", "2.12.1", "GHSA-jfh8-c2jp-5v3q"},
		{"2.0.0-beta9", "<", "2.0", "log4j history"},
	},
	PEP440Scheme: {
		{"1.0.dev0", "<", "1.0a1", "pep440: dev release before pre-releases"},
		{"1.0a1", "<", "1.0b1", "pep440"},
		{"1.0b1", "<", "1.0rc1", "pep440"},
		{"1.0rc1", "<", "1.0", "pep440"},
		{"1.0", "<", "1.0.post1", "pep440"},
		{"1.0", "=", "1.0.0", "pep440: release zero padding"},
		{"1.0", "=", "1", "pep440: release zero padding"},
		{"1.0.post1.dev1", "<", "1.0.post1", "pep440: dev release of a post release"},
		{"1.0.post1.dev1", ">", "1.0", "pep440: dev release of a post release"},
		{"1.0a2.dev456", "<", "1.0a2", "pep440: dev release of a pre-release"},
		{"1.0a1.post1", "<", "1.0a2.dev0", "pep440"},
		{"1.0rc1.post1", ">", "1.0rc1", "pep440"},
		{"1.0.post0", ">", "1.0", "pep440: post0 is a post release"},
		{"1!0.1", ">", "2.0", "pep440: epoch first"},
		{"1!2.0", ">", "3.0", "pep440: epoch first"},
		{"2013.10", "<", "1!1.0", "pep440: epoch example"},
		{"0!1.0", "=", "1.0", "pep440: absent epoch is 0"},
		{"1.0+local", ">", "1.0", "pep440: local label after the public version"},
		{"1.0+local", "<", "1.0.post1", "pep440: local only breaks ties"},
		{"1.0+abc.5", "<", "1.0+abc.10", "pep440: local numbers numerically"},
		{"1.0+abc", "<", "1.0+1", "pep440: local names before numbers"},
		{"1.0+1", "<", "1.0+1.0", "pep440: shorter local label first"},
		{"1.0+99999999999999999999", ">", "1.0+abc", "pep440: local number beyond 2^64"},
		{"1.0+ubuntu-1", "=", "1.0+ubuntu.1", "pep440: local separators normalised"},
		{"1.0+ubuntu_1", "=", "1.0+ubuntu.1", "pep440: local separators normalised"},
		{"1.0+UBUNTU1", "=", "1.0+ubuntu1", "pep440: case"},
		{"1.0+01", "=", "1.0+1", "pep440: local integer normalisation"},
		{"1.0alpha1", "=", "1.0a1", "pep440: pre-release spelling"},
		{"1.0beta1", "=", "1.0b1", "pep440: pre-release spelling"},
		{"1.0c1", "=", "1.0rc1", "pep440: pre-release spelling"},
		{"1.0pre1", "=", "1.0rc1", "pep440: pre-release spelling"},
		{"1.0preview1", "=", "1.0rc1", "pep440: pre-release spelling"},
		{"1.0-a.1", "=", "1.0a1", "pep440: pre-release separators"},
		{"1.0_RC_1", "=", "1.0rc1", "pep440: pre-release separators and case"},
		{"1.0a", "=", "1.0a0", "pep440: implicit pre-release number"},
		{"1.0-1", "=", "1.0.post1", "pep440: implicit post release"},
		{"1.0.rev1", "=", "1.0.post1", "pep440: post release spelling"},
		{"1.0-r1", "=", "1.0.post1", "pep440: post release spelling"},
		{"1.0post", "=", "1.0.post0", "pep440: implicit post release number"},
		{"1.0-dev", "=", "1.0.dev0", "pep440: implicit dev release number"},
		{"1.0.DEV1", "=", "1.0.dev1", "pep440: case"},
		{"v1.0", "=", "1.0", "pep440: leading v"},
		{"V1!2.0", "=", "1!2.0", "pep440: leading v before an epoch"},
		{"01.002", "=", "1.2", "pep440: integer normalisation"},
		{" 1.0\n", "=", "1.0", "pep440: surrounding whitespace"},
		{"1.9", "<", "1.10", "pep440: numeric"},
		{"1.99999999999999999", "<", "1.100000000000000000", "pep440: large numbers"},
		{"3.2.2rc1", "<", "3.2.2", "PYSEC: Django pre-release of the fix"},
	},
	GenericScheme: {
		{"1.0rc1", "<", "1.0", "generic: letters below the end"},
		{"1.0", "<", "1.0.1", "generic: digits above the end"},
		{"1.9", "<", "1.10", "generic: numeric"},
		{"1.0-A", "=", "1.0.a", "generic: separators and case ignored"},
	},
}

func TestOrderings(t *testing.T) {
	for scheme, cases := range orderings {
		for _, tt := range cases {
			t.Run(scheme.Name+"/"+tt.a+tt.op+tt.b, func(t *testing.T) {
				if strings.Contains(tt.source, "invalid") || strings.Contains(tt.source, "skipped") {
					if scheme == APKScheme {
						checkOp(t, tt, CompareAPK(tt.a, tt.b))
					}
					return
				}
				c, err := scheme.Compare(tt.a, tt.b)
				if err != nil {
					t.Fatalf("compare: %v", err)
				}
				checkOp(t, tt, c)
				if r, _ := scheme.Compare(tt.b, tt.a); r != -c {
					t.Errorf("Compare(b, a) = %d, want %d", r, -c)
				}
			})
		}
	}
}

func checkOp(t *testing.T, tt ordering, c int) {
	t.Helper()
	want := map[string]int{"<": -1, "=": 0, ">": 1}[tt.op]
	if c != want {
		t.Errorf("%q %s %q (%s): Compare = %d", tt.a, tt.op, tt.b, tt.source, c)
	}
}

// TestSorted checks whole chains, so that transitivity is exercised on the
// documented values too.
func TestSorted(t *testing.T) {
	chains := map[*Scheme][]string{
		DpkgScheme: {"1.0~~", "1.0~~a", "1.0~", "1.0", "1.0a", "1.0+", "1.0.1", "1:0.1"},
		APKScheme: {"1.0_alpha", "1.0_alpha1", "1.0_beta", "1.0_pre", "1.0_rc1", "1.0", "1.0-r1", "1.0_cvs",
			"1.0_svn", "1.0_git", "1.0_hg", "1.0_p1", "1.0a", "1.0.1"},
		SemVerScheme: {"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
			"1.0.0-beta.11", "1.0.0-rc.1", "1.0.0"},
		MavenScheme: {"1-alpha2snapshot", "1-alpha2", "1-alpha-123", "1-beta-2", "1-beta123", "1-m2", "1-m11",
			"1-rc", "1-cr2", "1-rc123", "1-SNAPSHOT", "1", "1-sp", "1-sp2", "1-sp123", "1-abc", "1-def",
			"1-pom-1", "1-1-snapshot", "1-1", "1-2", "1-123"},
		// PEP 440 "Summary of permitted suffixes and relative ordering", then
		// its epoch example.
		PEP440Scheme: {"1.dev0", "1.0.dev456", "1.0a1", "1.0a2.dev456", "1.0a12.dev456", "1.0a12",
			"1.0b1.dev456", "1.0b2", "1.0b2.post345.dev456", "1.0b2.post345", "1.0rc1.dev456", "1.0rc1",
			"1.0", "1.0+abc.5", "1.0+abc.7", "1.0+5", "1.0.post456.dev34", "1.0.post456", "1.0.15",
			"1.1.dev1", "2013.10", "2014.04", "1!1.0", "1!1.1", "1!2.0"},
	}
	for s, chain := range chains {
		vs := make([]Version, len(chain))
		for i, c := range chain {
			v, err := s.Parse(c)
			if err != nil {
				t.Fatalf("%s: %v", s.Name, err)
			}
			vs[i] = v
		}
		for i := range vs {
			for j := range vs {
				if got, want := Compare(vs[i], vs[j]), sign(i-j); got != want {
					t.Errorf("%s: Compare(%s, %s) = %d, want %d", s.Name, chain[i], chain[j], got, want)
				}
			}
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name    string
		scheme  *Scheme
		in      string
		wantErr string // "" means valid
	}{
		{"semver/ok", SemVerScheme, "1.2.3-rc.1+build.5", ""},
		{"semver/two-parts", SemVerScheme, "1.2", "want MAJOR.MINOR.PATCH"},
		{"semver/leading-zero", SemVerScheme, "01.2.3", "major has a leading zero"},
		{"semver/pre-leading-zero", SemVerScheme, "1.2.3-01", "leading zero"},
		{"semver/empty-pre", SemVerScheme, "1.2.3-", "empty pre-release identifier"},
		{"semver/bad-char", SemVerScheme, "1.2.3-a_b", "characters other than"},
		{"go/pseudo", GoScheme, "v0.0.0-20220203205134-d70459300c8a", ""},
		{"go/toolchain-bad", GoScheme, "go1.21xx1", "unknown toolchain pre-release"},
		// dpkg lib/dpkg/t/t-version.c test_version_parse.
		{"dpkg/zero", DpkgScheme, "0", ""},
		{"dpkg/epoch-zero", DpkgScheme, "0:0", ""},
		{"dpkg/hyphens", DpkgScheme, "0:0-0-0-0", ""},
		{"dpkg/colons", DpkgScheme, "0:0:0:0-0", ""},
		{"dpkg/upstream-chars", DpkgScheme, "0:09azAZ.-+~:-0", ""},
		{"dpkg/revision-chars", DpkgScheme, "0:0-azAZ09.+~", ""},
		{"dpkg/spaces-trimmed", DpkgScheme, "  \t0:0-1  ", ""},
		{"dpkg/empty", DpkgScheme, "", "version string is empty"},
		{"dpkg/blank", DpkgScheme, "  ", "version string is empty"},
		{"dpkg/nothing-after-colon", DpkgScheme, "0:", "nothing after colon"},
		{"dpkg/embedded-space", DpkgScheme, "0:0 0-1", "embedded spaces"},
		{"dpkg/negative-epoch", DpkgScheme, "-1:0-1", "epoch in version is not a number"},
		{"dpkg/huge-epoch", DpkgScheme, "999999999999999999999999:0-1", "epoch in version is too big"},
		{"dpkg/alpha-epoch", DpkgScheme, "a:0-0", "epoch in version is not a number"},
		{"dpkg/empty-upstream", DpkgScheme, "-0", "version number is empty"},
		{"dpkg/empty-upstream-epoch", DpkgScheme, "0:-0", "version number is empty"},
		{"dpkg/not-digit", DpkgScheme, "0:abc3-0", "does not start with digit"},
		{"dpkg/bad-upstream-char", DpkgScheme, "0:0_-0", "invalid character '_' in version number"},
		{"dpkg/colon-in-revision", DpkgScheme, "0:0-0:0", "invalid character ':' in revision number"},
		{"dpkg/empty-revision", DpkgScheme, "1.0-", "revision number is empty"},
		// apk-tools test/unit/version.data validity lines.
		{"apk/1.2", APKScheme, "1.2", ""},
		{"apk/pre", APKScheme, "0.1_pre2", ""},
		{"apk/hash", APKScheme, "0.1_pre2~1234abcd", ""},
		{"apk/p-pre", APKScheme, "0.1_p1_pre2", ""},
		{"apk/alpha-pre", APKScheme, "0.1_alpha1_pre2", ""},
		{"apk/git-pre", APKScheme, "0.1_git20240101_pre1", ""},
		{"apk/empty", APKScheme, "", "does not follow"},
		{"apk/two-letters", APKScheme, "0.1bc", "does not follow"},
		{"apk/letter-digit", APKScheme, "0.1a1", "does not follow"},
		{"apk/letter-dot", APKScheme, "0.1a.1", "does not follow"},
		{"apk/empty-hash", APKScheme, "0.1_pre2~", "does not follow"},
		{"apk/bad-hash", APKScheme, "0.1_pre2~1234xbcd", "does not follow"},
		{"apk/suffix-after-hash", APKScheme, "0.1_pre2~1234abcd_pre1", "does not follow"},
		{"apk/hash-after-rev", APKScheme, "0.1_pre2-r1~1234xbcd", "does not follow"},
		{"apk/unknown-suffix", APKScheme, "0.1_foobar", "does not follow"},
		{"apk/dash-pre", APKScheme, "0.1-pre1.1", "does not follow"},
		{"apk/r-no-digits", APKScheme, "0.1-r", "does not follow"},
		{"apk/suffix-after-rev", APKScheme, "0.1-r2_pre1", "does not follow"},
		{"apk/two-revs", APKScheme, "0.1-r2-r3", "does not follow"},
		{"apk/rev-dot", APKScheme, "0.1-r2.1", "does not follow"},
		{"apk/leading-dot", APKScheme, ".1", "does not follow"},
		{"apk/letter", APKScheme, "a", "does not follow"},
		{"apk/bare-suffix", APKScheme, "_pre1", "does not follow"},
		{"apk/bare-rev", APKScheme, "-r1", "does not follow"},
		{"apk/underscore", APKScheme, "0.1_", "does not follow"},
		{"apk/double-underscore", APKScheme, "0.1__alpha", "does not follow"},
		{"apk/numeric-suffix", APKScheme, "0.1_1_alpha", "does not follow"},
		{"rpm/ok", RPMScheme, "1:2.3-4.el8", ""},
		{"rpm/bad-epoch", RPMScheme, "x:1.0", "epoch \"x\" is not a number"},
		{"rpm/empty-release", RPMScheme, "1.0-", "release after '-' is empty"},
		{"maven/space", MavenScheme, "1.0 beta", "contains spaces"},
		{"pep440/ok", PEP440Scheme, "1!2.0a1.post2.dev3+ubuntu-1.2", ""},
		{"pep440/empty", PEP440Scheme, "", "empty"},
		{"pep440/blank", PEP440Scheme, " \t", "empty"},
		{"pep440/word", PEP440Scheme, "latest", "does not follow PEP 440"},
		{"pep440/v", PEP440Scheme, "v", "does not follow PEP 440"},
		{"pep440/trailing-dash", PEP440Scheme, "1.0-", "does not follow PEP 440"},
		{"pep440/trailing-dot", PEP440Scheme, "1.0.", "does not follow PEP 440"},
		{"pep440/double-dot", PEP440Scheme, "1..0", "does not follow PEP 440"},
		{"pep440/underscore-release", PEP440Scheme, "1_0", "does not follow PEP 440"},
		{"pep440/two-posts", PEP440Scheme, "1.0-1-1", "does not follow PEP 440"},
		{"pep440/epoch-only", PEP440Scheme, "1!", "does not follow PEP 440"},
		{"pep440/no-epoch", PEP440Scheme, "!1.0", "does not follow PEP 440"},
		{"pep440/unknown-suffix", PEP440Scheme, "1.0.x", "does not follow PEP 440"},
		{"pep440/dpkg-style", PEP440Scheme, "1:1.0-1", "does not follow PEP 440"},
		{"pep440/empty-local", PEP440Scheme, "1.0+", "local version label after '+' is empty"},
		{"pep440/local-empty-segment", PEP440Scheme, "1.0+a..b", "empty segment"},
		{"pep440/local-leading-sep", PEP440Scheme, "1.0+_a", "empty segment"},
		{"pep440/local-trailing-sep", PEP440Scheme, "1.0+a-", "empty segment"},
		{"pep440/local-bad-char", PEP440Scheme, "1.0+a~b", "only letters, digits"},
		{"pep440/two-plus", PEP440Scheme, "1.0+a+b", "only letters, digits"},
		{"pep440/inner-space", PEP440Scheme, "1.0 +abc", "contains spaces"},
		{"pep440/non-ascii", PEP440Scheme, "1.0po\u017ft", "non-ASCII"},
		{"pep440/too-large", PEP440Scheme, "1.18446744073709551616", "larger than 18446744073709551615"},
		{"pep440/max", PEP440Scheme, "1.18446744073709551615", ""},
		{"pep440/too-large-epoch", PEP440Scheme, "99999999999999999999!1.0", "larger than"},
		{"generic/punct", GenericScheme, "-.-", "has no digits or letters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.scheme.Parse(tt.in)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Parse(%q): %v", tt.in, err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("Parse(%q) succeeded, want error containing %q", tt.in, tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("Parse(%q) = %v, want error containing %q", tt.in, err, tt.wantErr)
			}
		})
	}
}

func TestForEcosystem(t *testing.T) {
	tests := []struct {
		eco  string
		want *Scheme
	}{
		{"Go", GoScheme}, {"npm", SemVerScheme}, {"Debian:12", DpkgScheme},
		{"Ubuntu:Pro:18.04:LTS", DpkgScheme}, {"Alpine:v3.18", APKScheme},
		{"Alpaquita:stream", APKScheme}, {"BellSoft Hardened Containers:23", APKScheme},
		{"Rocky Linux:9", RPMScheme}, {"Maven", MavenScheme}, {"PyPI", PEP440Scheme},
		{"Packagist", GenericScheme}, {"", GenericScheme},
	}
	for _, tt := range tests {
		if got := ForEcosystem(tt.eco); got != tt.want {
			t.Errorf("ForEcosystem(%q) = %s, want %s", tt.eco, got.Name, tt.want.Name)
		}
	}
}

// TestMavenNotTransitive pins a cycle that Maven 3's ComparableVersion
// itself has (found by FuzzMaven): "1A0" is [1, [alpha]], below "1", which
// is below "1.A" ([1, "a"], an unknown qualifier after the release), yet a
// nested list beats a qualifier, so "1A0" > "1.A". Real advisories use
// well-formed versions where this does not arise.
func TestMavenNotTransitive(t *testing.T) {
	c := func(a, b string) int { r, _ := MavenScheme.Compare(a, b); return r }
	if c("1A0", "1") != -1 || c("1", "1.A") != -1 || c("1A0", "1.A") != 1 {
		t.Fatalf("got %d %d %d, want Maven's -1 -1 1", c("1A0", "1"), c("1", "1.A"), c("1A0", "1.A"))
	}
}

// TestPEP440String checks the normalised spellings of PEP 440's
// "Normalization" section.
func TestPEP440String(t *testing.T) {
	tests := []struct{ in, want string }{
		{"1.0", "1.0"},
		{"V1.0", "1.0"},
		{"1.0ALPHA1", "1.0a1"},
		{"1.1-beta.2", "1.1b2"},
		{"1.0c", "1.0rc0"},
		{"1.0preview_3", "1.0rc3"},
		{"1.0-1", "1.0.post1"},
		{"1.0_rev-2", "1.0.post2"},
		{"1.0.post", "1.0.post0"},
		{"1.0dev", "1.0.dev0"},
		{"00!01.02.0a01.post02.dev03", "1.2.0a1.post2.dev3"},
		{"1!2.0", "1!2.0"},
		{"1.0+Ubuntu-01_X", "1.0+ubuntu.1.x"},
		{"  2.0\t", "2.0"},
	}
	for _, tt := range tests {
		v, err := ParsePEP440(tt.in)
		if err != nil {
			t.Errorf("ParsePEP440(%q): %v", tt.in, err)
			continue
		}
		if got := v.String(); got != tt.want {
			t.Errorf("ParsePEP440(%q).String() = %q, want %q", tt.in, got, tt.want)
		}
	}
}
