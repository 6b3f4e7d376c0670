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
//	rubygems: rubygems test/rubygems/test_gem_version.rb (test_spaceship,
//	        test_semver, test_equals2, test_hash, test_canonical_segments,
//	        test_initialize) and the Gem::Version class comment
//	nuget:  NuGet.Client test/NuGet.Core.Tests/NuGet.Versioning.Test
//	        (VersionComparerTests, NuGetVersionTest, SemVer201SpecTests)
//	composer: composer/semver tests (ComparatorTest, SemverTest sort,
//	        VersionParserTest normalisation) with PHP's version_compare
//	code:   follows from the reference implementation's code, not a test
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
	RubyGemsScheme: {
		{"1.0.a", "<", "1.0.b", "rubygems: prerelease letters in order"},
		{"1.0.b", "<", "1.0", "rubygems: prerelease before the release"},
		{"1.0.0.pre", "<", "1.0.0", "rubygems"},
		{"1.9.3", "<", "1.10", "rubygems: numeric segments"},
		{"1.0", "=", "1.0.0", "rubygems test_spaceship"},
		{"1.0", ">", "1.0.a", "rubygems test_spaceship"},
		{"1.8.2", ">", "0.0.0", "rubygems test_spaceship"},
		{"1.8.2", ">", "1.8.2.a", "rubygems test_spaceship"},
		{"1.8.2.b", ">", "1.8.2.a", "rubygems test_spaceship"},
		{"1.8.2.a10", ">", "1.8.2.a9", "rubygems test_spaceship: a10 is a.10"},
		{"", "=", "0", "rubygems test_spaceship: blank is 0"},
		{"0.beta.1", "=", "0.0.beta.1", "rubygems test_spaceship: zeros before the prerelease"},
		{"0.0.beta", "<", "0.0.beta.1", "rubygems test_spaceship"},
		{"0.0.beta", "<", "0.beta.1", "rubygems test_spaceship"},
		{"5.a", "<", "5.0.0.rc2", "rubygems test_spaceship"},
		{"5.x", ">", "5.0.0.rc2", "rubygems test_spaceship"},
		{"1.9.3", ">", "1.9.2.99", "rubygems test_spaceship"},
		{"1.9.3", "<", "1.9.3.1", "rubygems test_spaceship"},
		{"1.0.0-alpha", "<", "1.0.0-alpha.1", "rubygems test_semver"},
		{"1.0.0-alpha.1", "<", "1.0.0-beta.2", "rubygems test_semver"},
		{"1.0.0-beta.2", "<", "1.0.0-beta.11", "rubygems test_semver"},
		{"1.0.0-beta.11", "<", "1.0.0-rc.1", "rubygems test_semver"},
		{"1.0.0-rc1", "<", "1.0.0", "rubygems test_semver"},
		{"1.0.0-1", "<", "1", "rubygems test_semver: '-' is .pre."},
		{"1.0-1", "=", "1.0.pre.1", "rubygems: '-' is .pre."},
		{"1.2.3-1", "=", "1.2.3.pre.1", "rubygems test_canonical_segments"},
		{"1.2.b1", "=", "1.2.b.1", "rubygems test_equals2"},
		{"1.2.pre.1", "=", "1.2.0.pre.1.0", "rubygems test_hash"},
		{"1.0.0.a.1.0", "=", "1.a.1", "rubygems test_canonical_segments"},
		{"1.0.b1", "<", "1.0", "rubygems class comment"},
		{"1.0.a.2", "<", "1.0.b1", "rubygems class comment"},
		{"0.9", "<", "1.0.a.2", "rubygems class comment"},
		{" 1.0 ", "=", "1.0", "rubygems test_initialize"},
		{"\n1.0\n", "=", "1.0", "rubygems test_initialize"},
		{"1.0.A", "<", "1.0.a", "code: letters compare bytewise"},
		{"1.0.a", "<", "1.0.0", "code: a letter below a number"},
		{"1.99999999999999999999", ">", "1.99999999999999999998", "code: Integer has no size limit"},
		{"3.2.0.rc1", "<", "3.2.0", "GHSA rails pre-release"},
	},
	NuGetScheme: {
		{"1.0.0-alpha", "<", "1.0.0-alpha.1", "semver.org via nuget"},
		{"1.0.0-alpha.1", "<", "1.0.0-alpha.beta", "semver.org via nuget"},
		{"1.0.0-alpha.beta", "<", "1.0.0-beta", "semver.org via nuget"},
		{"1.0.0-beta", "<", "1.0.0-beta.2", "semver.org via nuget"},
		{"1.0.0-beta.2", "<", "1.0.0-beta.11", "semver.org via nuget"},
		{"1.0.0-beta.11", "<", "1.0.0-rc.1", "semver.org via nuget"},
		{"1.0.0-rc.1", "<", "1.0.0", "semver.org via nuget"},
		{"1.0.0", "<", "1.0.0.1", "nuget: fourth number"},
		{"1.0.0", "=", "1.0.0", "nuget VersionComparisonDefaultEqual"},
		{"1.0.0-BETA", "=", "1.0.0-beta", "nuget VersionComparisonDefaultEqual"},
		{"1.0.0-BETA+AA", "=", "1.0.0-beta+aa", "nuget VersionComparisonDefaultEqual"},
		{"1.0.0-BETA.X.y.5.77.0+AA", "=", "1.0.0-beta.x.y.5.77.0+aa", "nuget VersionComparisonDefaultEqual"},
		{"1.0.0", "=", "1.0.0+beta", "nuget VersionComparisonDefaultEqual"},
		{"1.0", "=", "1.0.0.0", "nuget VersionComparisonDefaultEqualWithNuGetVersion"},
		{"1.0+test", "=", "1.0.0.0", "nuget VersionComparisonDefaultEqualWithNuGetVersion"},
		{"1.0.0.1-1.2.A", "=", "1.0.0.1-1.2.a+A", "nuget VersionComparisonDefaultEqualWithNuGetVersion"},
		{"1.0.01", "=", "1.0.1.0", "nuget VersionComparisonDefaultEqualWithNuGetVersion"},
		{"1.0", "<", "1.0.0.1", "nuget VersionComparisonDefaultNotEqualWithNuGetVersion"},
		{"1.0.0.1-1.2.A", "<", "1.0.0.1-1.2.a.A+A", "nuget VersionComparisonDefaultNotEqualWithNuGetVersion"},
		{"1.0.01", "<", "1.0.1.2", "nuget VersionComparisonDefaultNotEqualWithNuGetVersion"},
		{"0.0.0", "<", "1.0.0", "nuget VersionComparisonDefaultLess"},
		{"1.999.9999", "<", "2.1.1", "nuget VersionComparisonDefaultLess"},
		{"1.0.0-BETA", "<", "1.0.0-beta2", "nuget VersionComparisonDefaultLess"},
		{"1.0.0-beta+AA", "<", "1.0.0+aa", "nuget VersionComparisonDefaultLess"},
		{"1.0.0-BETA", "<", "1.0.0-beta.1+AA", "nuget VersionComparisonDefaultLess"},
		{"1.0.0-BETA.X.y.5.77.0+AA", "<", "1.0.0-beta.x.y.5.79.0+aa", "nuget VersionComparisonDefaultLess"},
		{"1.0.0-BETA.X.y.5.79.0+AA", "<", "1.0.0-beta.x.y.5.790.0+abc", "nuget VersionComparisonDefaultLess"},
		{"1.23", "<", "1.231", "nuget SemVerLessThanAndGreaterThanOperatorsWorks"},
		{"1.4.5.6", "<", "1.45.6", "nuget SemVerLessThanAndGreaterThanOperatorsWorks"},
		{"1.4.5.6", "<", "1.4.5.60", "nuget SemVerLessThanAndGreaterThanOperatorsWorks"},
		{"1.01", "<", "1.10", "nuget SemVerLessThanAndGreaterThanOperatorsWorks"},
		{"1.01-alpha", "<", "1.10-beta", "nuget SemVerLessThanAndGreaterThanOperatorsWorks"},
		{"1.01.0-RC-1", "<", "1.10.0-rc-2", "nuget SemVerLessThanAndGreaterThanOperatorsWorks"},
		{"1.01-RC-1", "<", "1.01", "nuget SemVerLessThanAndGreaterThanOperatorsWorks"},
		{"1.01", "<", "1.2-preview", "nuget SemVerLessThanAndGreaterThanOperatorsWorks"},
		{"1.23.01", "=", "1.23.1", "nuget SemVerEqualsOperatorWorks"},
		{"1.6.2-BeTa", "=", "1.6.02-beta", "nuget SemVerEqualsOperatorWorks"},
		{"22.3.07     ", "=", "22.3.07", "nuget SemVerEqualsOperatorWorks"},
		{"1.0.0.0+beta.2", "=", "1.0.0.0+beta.1", "nuget SemVerEqualsOperatorWorks"},
		{"   19   .   19   ", "=", "19.19", "nuget TryParseHandlesValidVersionPatterns"},
		{"2", "=", "2.0.0.0", "nuget VersionLength"},
		{"1.0.0-2", "<", "1.0.0-10", "code: numeric labels numerically"},
		{"1.0.0-99", "<", "1.0.0-a", "code: numeric label before alphanumeric"},
		{"1.0.0-a.-1", "<", "1.0.0-a.0", "code: int.TryParse reads -1 as a number"},
		{"1.0.0-a.5", "<", "1.0.0-a.2147483648", "code: beyond int32 a label is not a number"},
		{"1.0.0-a.2147483648", "<", "1.0.0-a.b", "code: then it compares as a string"},
		{"13.0.1-beta1", "<", "13.0.1", "GHSA Newtonsoft.Json"},
	},
	PackagistScheme: {
		{"1.0.0-dev", "<", "1.0.0-alpha1", "composer: stabilities"},
		{"1.0.0-alpha1", "<", "1.0.0-beta2", "composer: stabilities"},
		{"1.0.0-beta2", "<", "1.0.0-RC1", "composer: stabilities"},
		{"1.0.0-RC1", "<", "1.0.0", "composer: stabilities"},
		{"1.0.0", "<", "1.0.0-patch1", "composer: patch after the release"},
		{"v1.0", "=", "1.0.0.0", "composer: leading v, four numbers"},
		{"1.25.0", ">", "1.24.0", "composer ComparatorTest"},
		{"1.25.0", "<", "1.26.0", "composer ComparatorTest"},
		{"1.25.0-beta2.1", "<", "1.25.0-b.3", "composer ComparatorTest"},
		{"1.25.0-b2.1", "<", "1.25.0beta.3", "composer ComparatorTest"},
		{"1.25.0-b-2.1", "<", "1.25.0-rc", "composer ComparatorTest"},
		{"1.25.0-beta2.1", "=", "1.25.0-b.2.1", "composer ComparatorTest"},
		{"1.25.0beta2.1", "=", "1.25.0-b2.1", "composer ComparatorTest"},
		{"1.0.0", "<", "1.2-dev", "composer ComparatorTest lessThan"},
		{"1.0.0-a1", "=", "1.0.0-alpha1", "composer: a is alpha"},
		{"1.0.0-pl1", "=", "1.0.0-patch1", "composer: pl is patch"},
		{"1.0.0-p1", "=", "1.0.0.0-patch1", "composer: p is patch"},
		{"1.0.0-rc1", "=", "1.0.0-RC1", "composer: RC upper-cased"},
		{"1.0.0-beta.1", "=", "1.0.0-beta1", "composer: separator before the number"},
		{"1.0.0-RC1-dev", "<", "1.0.0-RC1", "composer: dev of a pre-release"},
		{"1.0.0-beta", "<", "1.0.0-beta1", "composer: a number after the stability"},
		{"1.0.0-patch1", "<", "1.0.0.1", "composer"},
		{"1.0.0+foo", "=", "1.0.0", "composer: build metadata dropped"},
		{"1.0.0 as 2.0", "=", "1.0.0", "composer: alias dropped"},
		{"1.0.0@dev", "=", "1.0.0", "composer: stability flag dropped"},
		{"1.x-dev", ">", "1.99.0", "composer: numeric branch is 1.9999999.9999999.9999999-dev"},
		{"2010-01-02", "=", "2010:01:02", "composer: date version, 2010.01.02"},
		{"2010-01-02", "<", "2010.01.02", "composer: 2010.01.02 is classical, 2010.01.02.0, one part longer"},
		{"20100102", ">", "1.0.0", "composer: date version"},
		{"1.0.0-STABLE", "<", "1.0.0-dev", "composer quirk: \"STABLE\" is kept as \"-stable\", which version_compare ranks lowest"},
		{"1.99999999999999999999", "=", "1.99999999999999999998", "code: strtol saturates at 2^63-1"},
		{"4.4.3", ">", "4.4.2", "GHSA Packagist"},
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
		RubyGemsScheme: {"0.9", "1.0.a.2", "1.0.b1", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-beta.2",
			"1.0.0-beta.11", "1.0.0-rc.1", "1.0", "1.0.0.1", "1.9.3", "1.10"},
		NuGetScheme: {"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
			"1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.0.1", "1.0.1"},
		// composer/semver SemverTest sortProvider, then the stabilities.
		PackagistScheme: {"0.1", "1.0", "2.4.0-alpha", "2.4.0", "3.0.0-dev", "3.0.0-alpha1", "3.0.0-beta2",
			"3.0.0-RC1", "3.0.0", "3.0.0-patch1", "3.0.0.1", "3.2.1"},
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
		// rubygems test_initialize_invalid, test_empty_version.
		{"rubygems/ok", RubyGemsScheme, "1.2.3.pre1-rc.1", ""},
		{"rubygems/blank", RubyGemsScheme, "   ", ""},
		{"rubygems/dashes", RubyGemsScheme, "1.0--", ""},
		{"rubygems/junk", RubyGemsScheme, "junk", "malformed"},
		{"rubygems/two-lines", RubyGemsScheme, "1.0\n2.0", "malformed"},
		{"rubygems/double-dot", RubyGemsScheme, "1..2", "malformed"},
		{"rubygems/space", RubyGemsScheme, "1.2 3.4", "malformed"},
		{"rubygems/cve-2013-4287", RubyGemsScheme, "2.3422222.222.222222222.22222.ads0as.dasd0.ddd2222.2.qd3e.", "malformed"},
		{"rubygems/trailing-dash", RubyGemsScheme, "1.0-", "malformed"},
		{"rubygems/leading-v", RubyGemsScheme, "v1.0", "malformed"},
		{"rubygems/letter-first-segment", RubyGemsScheme, "1a", "malformed"},
		{"rubygems/plus", RubyGemsScheme, "1.0+build", "malformed"},
		{"rubygems/non-ascii", RubyGemsScheme, "1.0.\u00e9", "malformed"},
		// nuget NuGetVersionTest, SemVer201SpecTests.
		{"nuget/ok", NuGetScheme, "1.2.3-X.yZ.3.234.243.3242342+METADATA", ""},
		{"nuget/one-number", NuGetScheme, "2", ""},
		{"nuget/label-zero", NuGetScheme, "1.2.3-0", ""},
		{"nuget/dash-labels", NuGetScheme, "0.1.2--B2.-.C.-A0-", ""},
		{"nuget/metadata-zeros", NuGetScheme, "0.1.2+02A.0", ""},
		{"nuget/max", NuGetScheme, "2147483647.1.1.1", ""},
		{"nuget/spaces", NuGetScheme, "   19.   19.   19.   19", ""},
		{"nuget/empty", NuGetScheme, "", "empty"},
		{"nuget/blank", NuGetScheme, "         ", "empty"},
		{"nuget/1beta", NuGetScheme, "1beta", "not one to four"},
		{"nuget/caret", NuGetScheme, "1.2Av^c", "not one to four"},
		{"nuget/trailing-dots", NuGetScheme, "1.2..", "not one to four"},
		{"nuget/five", NuGetScheme, "1.2.3.4.5", "more than four numbers"},
		{"nuget/dot-beta", NuGetScheme, "1.2.3.Beta", "not one to four"},
		{"nuget/alpha", NuGetScheme, "1.34.2Alpha", "not one to four"},
		{"nuget/trailing-dash", NuGetScheme, "1.4.7-", "not one to four"},
		{"nuget/star-label", NuGetScheme, "1.4.7-*", "release label \"*\""},
		{"nuget/star-metadata", NuGetScheme, "1.4.7+*", "build metadata part \"*\""},
		{"nuget/label-char", NuGetScheme, "1.4.7-A^A", "only ASCII letters"},
		{"nuget/metadata-char", NuGetScheme, "1.4.7+AA.01^", "only ASCII letters"},
		{"nuget/too-large", NuGetScheme, "1.2147483648", "larger than 2147483647"},
		{"nuget/huge", NuGetScheme, "10000000000000000000", "larger than 2147483647"},
		{"nuget/empty-section", NuGetScheme, "1..2", "not one to four"},
		{"nuget/dots", NuGetScheme, "....", "not one to four"},
		{"nuget/negative", NuGetScheme, "-1.1.1.1", "version number is empty"},
		{"nuget/trailing-dot", NuGetScheme, "1.", "ends with '.'"},
		{"nuget/inner-space", NuGetScheme, "1     1.1.1.1", "not one to four"},
		{"nuget/space-dot", NuGetScheme, "1.1.1 .", "ends with '.'"},
		{"nuget/split-digits", NuGetScheme, "   19.   1 9", "not one to four"},
		{"nuget/label-leading-zero", NuGetScheme, "0.1.2-2.A.02", "leading zero"},
		{"nuget/empty-label", NuGetScheme, "0.1.2-Alpha..2", "is empty"},
		{"nuget/label-after-dash", NuGetScheme, "0.1.2-.AA", "is empty"},
		{"nuget/label-non-ascii", NuGetScheme, "0.1.2-alp\u2510jj", "only ASCII letters"},
		{"nuget/leading-v", NuGetScheme, "v1.0.0", "not one to four"},
		// composer VersionParserTest failingNormalizedVersions, and
		// branches, which normalize accepts and Ward cannot order.
		{"packagist/ok", PackagistScheme, "v1.13.11-beta.0", ""},
		{"packagist/padded", PackagistScheme, " 1.0.0 ", ""},
		{"packagist/numeric-branch", PackagistScheme, "2.1.*-dev", ""},
		{"packagist/empty", PackagistScheme, "", "empty"},
		{"packagist/letter", PackagistScheme, "a", "VersionParser rejects it"},
		{"packagist/meh", PackagistScheme, "1.0.0-meh", "VersionParser rejects it"},
		{"packagist/five", PackagistScheme, "1.0.0.0.0", "VersionParser rejects it"},
		{"packagist/feature", PackagistScheme, "feature-foo", "VersionParser rejects it"},
		{"packagist/metadata-space", PackagistScheme, "1.0.0+foo bar", "VersionParser rejects it"},
		{"packagist/snapshot", PackagistScheme, "1.0.1-SNAPSHOT", "VersionParser rejects it"},
		{"packagist/less-than", PackagistScheme, "1.0.0<1.0.5-dev", "VersionParser rejects it"},
		{"packagist/dev-less-than", PackagistScheme, "1.0.0-dev<1.0.5-dev", "VersionParser rejects it"},
		{"packagist/space-dev", PackagistScheme, "foo bar-dev", "VersionParser rejects it"},
		{"packagist/inner-space", PackagistScheme, "1.0 .2", "VersionParser rejects it"},
		{"packagist/as", PackagistScheme, " as ", "VersionParser rejects it"},
		{"packagist/only-alias", PackagistScheme, " as 1.2", "VersionParser rejects it"},
		{"packagist/caret", PackagistScheme, "^1", "VersionParser rejects it"},
		{"packagist/tilde", PackagistScheme, "~1", "VersionParser rejects it"},
		{"packagist/wildcard", PackagistScheme, "1.*", "VersionParser rejects it"},
		{"packagist/date-4-bits", PackagistScheme, "20100102.0.3.4", "VersionParser rejects it"},
		{"packagist/six-digit-major", PackagistScheme, "100000.0.0.0", "VersionParser rejects it"},
		{"packagist/calver-7", PackagistScheme, "2023013.0.0", "VersionParser rejects it"},
		{"packagist/long-s", PackagistScheme, "1.0-\u017ftable", "VersionParser rejects it"},
		{"packagist/dev-master", PackagistScheme, "dev-master", "branch \"dev-master\""},
		{"packagist/master", PackagistScheme, "master", "branch \"dev-master\""},
		{"packagist/dev-upper", PackagistScheme, "DEV-FOOBAR", "branch \"dev-FOOBAR\""},
		{"packagist/dev-alias", PackagistScheme, "dev-master as 1.0.0", "branch"},
		{"packagist/dev-slash", PackagistScheme, "dev-feature/foo", "branch"},
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
		{"RubyGems", RubyGemsScheme}, {"NuGet", NuGetScheme}, {"Packagist", PackagistScheme},
		{"Hackage", GenericScheme}, {"", GenericScheme},
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

// TestPackagistNormalized checks composer/semver's VersionParserTest
// successfulNormalizedVersions (all but the branches, which Ward refuses).
func TestPackagistNormalized(t *testing.T) {
	tests := []struct{ in, want string }{
		{"1.0.0", "1.0.0.0"},
		{"1.2.3.4", "1.2.3.4"},
		{"1.0.0RC1dev", "1.0.0.0-RC1-dev"},
		{"1.0.0-rC15-dev", "1.0.0.0-RC15-dev"},
		{"1.0.0.RC.15-dev", "1.0.0.0-RC15-dev"},
		{"1.0.0-rc1", "1.0.0.0-RC1"},
		{"1.0.0.pl3-dev", "1.0.0.0-patch3-dev"},
		{"1.0-dev", "1.0.0.0-dev"},
		{"0", "0.0.0.0"},
		{"99999", "99999.0.0.0"},
		{"10.4.13-beta", "10.4.13.0-beta"},
		{"10.4.13beta2", "10.4.13.0-beta2"},
		{"10.4.13beta.2", "10.4.13.0-beta2"},
		{"v1.13.11-beta.0", "1.13.11.0-beta0"},
		{"1.13.11.0-beta0", "1.13.11.0-beta0"},
		{"10.4.13-b", "10.4.13.0-beta"},
		{"10.4.13-b5", "10.4.13.0-beta5"},
		{"v1.0.0", "1.0.0.0"},
		{"2010.01", "2010.01.0.0"},
		{"2010.01.02", "2010.01.02.0"},
		{"2010.1.555", "2010.1.555.0"},
		{"2010.10.200", "2010.10.200.0"},
		{"20230131.0.0", "20230131.0.0"},
		{"202301310000.0.0", "202301310000.0.0"},
		{"v20100102", "20100102"},
		{"20100102", "20100102"},
		{"20100102.0", "20100102.0"},
		{"20100102.1.0", "20100102.1.0"},
		{"20100102.0.3", "20100102.0.3"},
		{"100000", "100000"},
		{"2010-01-02-10-20-30.0.3", "2010.01.02.10.20.30.0.3"},
		{"2010-01-02-10-20-30.5", "2010.01.02.10.20.30.5"},
		{"2010-01-02", "2010.01.02"},
		{"2012.06.07", "2012.06.07.0"},
		{"2010-01-02.5", "2010.01.02.5"},
		{"20100102-203040", "20100102.203040"},
		{"20100102.x-dev", "20100102.9999999.9999999.9999999-dev"},
		{"20100102.203040.x-dev", "20100102.203040.9999999.9999999-dev"},
		{"20100102203040-10", "20100102203040.10"},
		{"20100102-203040-p1", "20100102.203040-patch1"},
		{"201903.0", "201903.0"},
		{"201903.x-dev", "201903.9999999.9999999.9999999-dev"},
		{"201903.0-p2", "201903.0-patch2"},
		{"1.x-dev", "1.9999999.9999999.9999999-dev"},
		{"1.0.0+foo@dev", "1.0.0.0"},
		{"1.0.0-beta.5+foo", "1.0.0.0-beta5"},
		{"1.0.0+foo", "1.0.0.0"},
		{"1.0.0-alpha.3.1+foo", "1.0.0.0-alpha3.1"},
		{"1.0.0-alpha2.1+foo", "1.0.0.0-alpha2.1"},
		{"1.0.0-alpha-2.1-3+foo", "1.0.0.0-alpha2.1-3"},
		{"1.0.0+foo as 2.0", "1.0.0.0"},
		{"00.01.03.04", "00.01.03.04"},
		{"000.001.003.004", "000.001.003.004"},
		{"0.000.103.204", "0.000.103.204"},
		{"0700", "0700.0.0.0"},
		{"041.x-dev", "041.9999999.9999999.9999999-dev"},
		{" 1.0.0", "1.0.0.0"},
		{"1.0.0 ", "1.0.0.0"},
		// Not in composer's tests; these follow from normalize's code.
		{"1.0-stable", "1.0.0.0"},
		{"1.0-STABLE", "1.0.0.0-stable"},
		{"V1.0-A1", "1.0.0.0-alpha1"},
		{"2.1.*-dev", "2.1.9999999.9999999-dev"},
		{"1.0\n@dev", "1.0.0.0"}, // PCRE's $ matches before a final newline
	}
	for _, tt := range tests {
		v, err := ParsePackagist(tt.in)
		if err != nil {
			t.Errorf("ParsePackagist(%q): %v", tt.in, err)
			continue
		}
		if got := v.Normalized(); got != tt.want {
			t.Errorf("ParsePackagist(%q).Normalized() = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestNuGetString checks the normalised spelling, after NuGetVersionTest's
// ToStringReturnsNormalizedForSemVer2 and ParseReadsLegacyStyleVersionNumbers.
func TestNuGetString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"1.0+A", "1.0.0+A"},
		{"1.0-1.1", "1.0.0-1.1"},
		{"1.0-1.1+B.B", "1.0.0-1.1+B.B"},
		{"1.0.0009.01-1.1+A", "1.0.9.1-1.1+A"},
		{"1.022", "1.22.0"},
		{"1.3.42.10133", "1.3.42.10133"},
		{"  1.022-Beta", "1.22.0-Beta"},
		{"   19   .   19   .   19   .   19   ", "19.19.19.19"},
	}
	for _, tt := range tests {
		v, err := ParseNuGet(tt.in)
		if err != nil {
			t.Errorf("ParseNuGet(%q): %v", tt.in, err)
			continue
		}
		if got := v.String(); got != tt.want {
			t.Errorf("ParseNuGet(%q).String() = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestRubyGemsString checks the spelling, which is Gem::Version#to_s
// (test_to_s, test_empty_version) except that "-" is kept.
func TestRubyGemsString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"5.2.4", "5.2.4"},
		{"", "0"},
		{"   ", "0"},
		{" 1.0\n", "1.0"},
		{"1.2.3-1", "1.2.3-1"},
		{"1.0--", "1.0--"},
	}
	for _, tt := range tests {
		v, err := ParseRubyGems(tt.in)
		if err != nil {
			t.Errorf("ParseRubyGems(%q): %v", tt.in, err)
			continue
		}
		if got := v.String(); got != tt.want {
			t.Errorf("ParseRubyGems(%q).String() = %q, want %q", tt.in, got, tt.want)
		}
	}
}
