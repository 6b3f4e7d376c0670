package vuln

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wardproject/ward/internal/wardtest"
)

// dbWith returns a DB holding the given records and the mini KEV catalogue.
func dbWith(t testing.TB, recs ...string) *DB {
	t.Helper()
	db, err := New(Options{Now: func() time.Time { return importTime }})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		rep, err := db.ImportOSV(context.Background(), fmt.Sprintf("rec%d.json", i), strings.NewReader(r))
		if err != nil || len(rep.Rejected) > 0 {
			t.Fatalf("import record %d: %v %v", i, err, rep.Rejected)
		}
	}
	if _, err := db.ImportKEV("kev.json", strings.NewReader(miniKEV)); err != nil {
		t.Fatal(err)
	}
	return db
}

func record(id, eco, name string, ranges string, extra string) string {
	return fmt.Sprintf(`{"id":%q,"modified":"2024-01-01T00:00:00Z"%s,"affected":[{"package":{"ecosystem":%q,"name":%q}%s}]}`, id, extra, eco, name, ranges)
}

// TestRangeSemantics exercises OSV's evaluation rules
// (https://ossf.github.io/osv-schema/#evaluation) on each range type.
func TestRangeSemantics(t *testing.T) {
	type check struct {
		purl string
		want string // "affected fixed=X", "not", or "undecided"
	}
	tests := []struct {
		name   string
		rec    string
		checks []check
	}{
		{
			name: "semver-two-intervals-unsorted",
			rec:  record("GO-1", "Go", "example.com/m", `,"ranges":[{"type":"SEMVER","events":[{"introduced":"1.21.0-0"},{"fixed":"1.21.3"},{"introduced":"0"},{"fixed":"1.20.10"}]}]`, ""),
			checks: []check{
				{"pkg:golang/example.com/m@v1.0.0", "affected fixed=1.20.10"},
				{"pkg:golang/example.com/m@v1.20.10", "not"},
				{"pkg:golang/example.com/m@v1.21.0-rc.1", "affected fixed=1.21.3"},
				{"pkg:golang/example.com/m@v1.21.2", "affected fixed=1.21.3"},
				{"pkg:golang/example.com/m@v1.21.3", "not"},
				{"pkg:golang/example.com/m@v0.0.0-20200101000000-abcdefabcdef", "affected fixed=1.20.10"},
				{"pkg:golang/example.com/m@not-a-version", "undecided"},
			},
		},
		{
			name: "last-affected",
			rec:  record("GO-2", "Go", "example.com/m", `,"ranges":[{"type":"SEMVER","events":[{"introduced":"1.0.0"},{"last_affected":"1.2.0"}]}]`, ""),
			checks: []check{
				{"pkg:golang/example.com/m@v0.9.0", "not"},
				{"pkg:golang/example.com/m@v1.0.0", "affected fixed="},
				{"pkg:golang/example.com/m@v1.2.0", "affected fixed="},
				{"pkg:golang/example.com/m@v1.2.1", "not"},
			},
		},
		{
			name: "limit",
			rec:  record("GO-3", "Go", "example.com/m", `,"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"limit":"2.0.0"}]}]`, ""),
			checks: []check{
				{"pkg:golang/example.com/m@v1.9.9", "affected fixed="},
				{"pkg:golang/example.com/m@v2.0.0", "not"},
			},
		},
		{
			name:   "withdrawn-never-matches",
			rec:    record("GO-4", "Go", "example.com/m", `,"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]`, `,"withdrawn":"2024-02-01T00:00:00Z"`),
			checks: []check{{"pkg:golang/example.com/m@v1.0.0", "not"}},
		},
		{
			name: "debian-epoch-and-tilde",
			rec:  record("DEBIAN-CVE-1", "Debian:12", "glibc", `,"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1:2.36-9+deb12u3"}]}]`, ""),
			checks: []check{
				{"pkg:deb/debian/libc6@2.36-9%2Bdeb12u3?distro=debian-12&upstream=glibc", "affected fixed=1:2.36-9+deb12u3"}, // no epoch: epoch 0 < 1
				{"pkg:deb/debian/libc6@1:2.36-9%2Bdeb12u2?distro=bookworm&upstream=glibc", "affected fixed=1:2.36-9+deb12u3"},
				{"pkg:deb/debian/libc6@1:2.36-9%2Bdeb12u3~bpo1?distro=debian-12.5&upstream=glibc", "affected fixed=1:2.36-9+deb12u3"},
				{"pkg:deb/debian/libc6@1:2.36-9%2Bdeb12u3?distro=debian-12&upstream=glibc", "not"},
				{"pkg:deb/debian/glibc@1:2.36-9%2Bdeb12u4?distro=debian-12", "not"},
				{"pkg:deb/debian/glibc@2.36-9?distro=debian-11", "not"}, // other release
				{"pkg:deb/debian/glibc@2.36-9", "undecided"},            // release unknown
				{"pkg:deb/debian/glibc@2.36-9?distro=debian-12&epoch=1", "affected fixed=1:2.36-9+deb12u3"},
			},
		},
		{
			name: "alpine-suffixes",
			rec:  record("ALPINE-1", "Alpine:v3.18", "openssl", `,"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"3.1.0_alpha1-r0"},{"fixed":"3.1.4-r1"}]}]`, ""),
			checks: []check{
				{"pkg:apk/alpine/openssl@3.1.0_alpha1-r0?distro=3.18.4", "affected fixed=3.1.4-r1"},
				{"pkg:apk/alpine/openssl@3.0.99-r0?distro=3.18.4", "not"},
				{"pkg:apk/alpine/libssl3@3.1.4-r0?distro=v3.18&upstream=openssl", "affected fixed=3.1.4-r1"},
				{"pkg:apk/alpine/openssl@3.1.4_p1-r0?distro=3.18.0", "not"},
				{"pkg:apk/alpine/openssl@3.1.4-r1?distro=3.18.0", "not"},
				{"pkg:apk/alpine/openssl@3.1.4-r0?distro=3.19.0", "not"},
			},
		},
		{
			name: "versions-list-only",
			rec:  record("UBUNTU-CVE-1", "Ubuntu:Pro:14.04:LTS", "linux", `,"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"}]}],"versions":["3.13.0-24.46"]`, ""),
			checks: []check{
				{"pkg:deb/ubuntu/linux@3.13.0-24.46?distro=ubuntu-14.04", "affected fixed="},
				{"pkg:deb/ubuntu/linux@3.13.0-24.46?distro=esm-infra-legacy/trusty", "affected fixed="},
				{"pkg:deb/ubuntu/linux@3.13.0-24.46?distro=ubuntu-16.04", "not"},
			},
		},
		{
			name: "pypi-name-normalisation",
			rec:  record("PYSEC-1", "PyPI", "Zope.Interface", `,"versions":["5.0"]`, ""),
			checks: []check{
				{"pkg:pypi/zope-interface@5.0", "affected fixed="},
				{"pkg:pypi/zope_interface@5.0", "affected fixed="},
				{"pkg:pypi/zope-interface@5.1", "not"},
			},
		},
		{
			// PyPI has a PEP 440 ordering, so its findings are exact.
			name: "pypi-pep440-exact",
			rec:  record("PYSEC-2", "PyPI", "Django", `,"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"3.0"},{"fixed":"3.2.2"}]}]`, ""),
			checks: []check{
				{"pkg:pypi/django@3.2.1", "affected fixed=3.2.2"},
				{"pkg:pypi/django@3.2.2rc1", "affected fixed=3.2.2"}, // a pre-release of the fix
				{"pkg:pypi/django@3.2.2.dev0", "affected fixed=3.2.2"},
				{"pkg:pypi/django@3.0", "affected fixed=3.2.2"},
				{"pkg:pypi/django@3.0.0", "affected fixed=3.2.2"}, // 3.0.0 == 3.0
				{"pkg:pypi/django@3.2.1.post1", "affected fixed=3.2.2"},
				{"pkg:pypi/django@3.2.1%2Bubuntu1", "affected fixed=3.2.2"}, // local label
				{"pkg:pypi/django@3.0a1", "not"},                            // before introduced
				{"pkg:pypi/django@2.2.24", "not"},                           // generic order would agree; still exact
				{"pkg:pypi/django@3.2.2", "not"},
				{"pkg:pypi/django@3.2.2.post1", "not"},
				{"pkg:pypi/django@V3.2.10", "not"},
				{"pkg:pypi/django@1!1.0", "not"}, // epoch 1 sorts after every epoch-0 version
				{"pkg:pypi/django@3.2-custom-build", "undecided"},
			},
		},
		{
			name: "pypi-versions-list-normalised",
			rec:  record("PYSEC-3", "PyPI", "pyyaml", `,"versions":["5.4b1","5.4.post1"]`, ""),
			checks: []check{
				{"pkg:pypi/PyYAML@5.4beta1", "affected fixed="},
				{"pkg:pypi/pyyaml@5.4-1", "affected fixed="},
				{"pkg:pypi/pyyaml@5.4", "not"},
			},
		},
		{
			name: "npm-scope",
			rec:  record("GHSA-1", "npm", "@babel/traverse", `,"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"7.23.2"}]}]`, ""),
			checks: []check{
				{"pkg:npm/%40babel/traverse@7.21.2", "affected fixed=7.23.2"},
				{"pkg:npm/traverse@7.21.2", "not"},
			},
		},
		{
			name: "git-needs-commit",
			rec: `{"id":"PSF-1","modified":"2024-01-01T00:00:00Z","affected":[{"ranges":[{"type":"GIT","repo":"https://github.com/python/cpython",
				"events":[{"introduced":"1111111111111111111111111111111111111111"},{"fixed":"2222222222222222222222222222222222222222"}]}]}]}`,
			checks: []check{
				{"pkg:github/python/cpython@1111111111111111111111111111111111111111", "affected fixed="},
				{"pkg:github/python/cpython@2222222222222222222222222222222222222222", "not"},
				{"pkg:github/python/cpython@3333333333333333333333333333333333333333", "undecided"},
				{"pkg:github/python/cpython@3.12.0", "undecided"},
			},
		},
		{
			// Hackage has no ordering in package version.
			name: "generic-fallback-is-approximate",
			rec:  record("X-1", "Hackage", "pkg", `,"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"2.0.1"}]}]`, ""),
			checks: []check{
				{"pkg:hackage/pkg@2.0.0", "affected fixed=2.0.1 approximate"},
				{"pkg:hackage/pkg@2.0.1", "not"},
			},
		},
		{
			// Composer's order; the generic one would put 2.0.1-patch1 below
			// 2.0.1 and 2.0.0-b1 below 2.0.0-beta1.
			name: "packagist-composer-exact",
			rec:  record("GHSA-P", "Packagist", "vendor/pkg", `,"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"2.0.0-beta1"},{"fixed":"2.0.1"}]}]`, ""),
			checks: []check{
				{"pkg:composer/vendor/pkg@2.0.0", "affected fixed=2.0.1"},
				{"pkg:composer/Vendor/Pkg@v2.0.0", "affected fixed=2.0.1"},   // leading v, name case
				{"pkg:composer/vendor/pkg@2.0.0-b1", "affected fixed=2.0.1"}, // b is beta
				{"pkg:composer/vendor/pkg@2.0.0-RC2", "affected fixed=2.0.1"},
				{"pkg:composer/vendor/pkg@2.0.0.1", "affected fixed=2.0.1"},
				{"pkg:composer/vendor/pkg@2.0.1-dev", "affected fixed=2.0.1"},
				{"pkg:composer/vendor/pkg@2.0.0-alpha3", "not"},
				{"pkg:composer/vendor/pkg@2.0.1", "not"},
				{"pkg:composer/vendor/pkg@2.0.1.0", "not"},
				{"pkg:composer/vendor/pkg@2.0.1-patch1", "not"},   // patch sorts after the release
				{"pkg:composer/vendor/pkg@dev-main", "undecided"}, // branches have no order
				{"pkg:composer/vendor/pkg@2.0.0-SNAPSHOT", "undecided"},
			},
		},
		{
			// Gem::Version's order; the generic one would put 3.0.0-1 (that
			// is 3.0.0.pre.1) above 3.0.0.
			name: "rubygems-gem-version-exact",
			rec: record("GHSA-R", "RubyGems", "rack", `,"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"2.2.6.4"},`+
				`{"introduced":"3.0.0"},{"fixed":"3.0.6.1"}]}]`, ""),
			checks: []check{
				{"pkg:gem/rack@2.2.6.3", "affected fixed=2.2.6.4"},
				{"pkg:gem/rack@2.2.6.4.pre1", "affected fixed=2.2.6.4"},
				{"pkg:gem/rack@2.2.6.4", "not"},
				{"pkg:gem/rack@3.0.0.beta1", "not"},
				{"pkg:gem/rack@3.0.0-1", "not"},
				{"pkg:gem/rack@3.0.0", "affected fixed=3.0.6.1"},
				{"pkg:gem/rack@3.0.6", "affected fixed=3.0.6.1"},
				{"pkg:gem/rack@3.0.6.1", "not"},
				{"pkg:gem/rack@3.0.6.1.0", "not"},
				{"pkg:gem/rack@1..0", "undecided"},
			},
		},
		{
			// NuGet.Versioning's order; the generic one would put build
			// metadata below the release.
			name: "nuget-versioning-exact",
			rec:  record("GHSA-N", "NuGet", "Newtonsoft.Json", `,"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"13.0.1"}]}]`, ""),
			checks: []check{
				{"pkg:nuget/Newtonsoft.Json@12.0.3", "affected fixed=13.0.1"},
				{"pkg:nuget/Newtonsoft.Json@13.0.1-beta1", "affected fixed=13.0.1"},
				{"pkg:nuget/Newtonsoft.Json@13.0.0.1", "affected fixed=13.0.1"},
				{"pkg:nuget/newtonsoft.json@13.0.1", "not"},
				{"pkg:nuget/Newtonsoft.Json@13.0.1.0", "not"},
				{"pkg:nuget/Newtonsoft.Json@13.0.01", "not"},
				{"pkg:nuget/Newtonsoft.Json@13.0.1%2Bsha.abc", "not"},
				{"pkg:nuget/Newtonsoft.Json@1.2.3.4.5", "undecided"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := dbWith(t, tt.rec)
			for _, c := range tt.checks {
				comp := Component{PURL: c.purl}
				if err := completeFromPURL(&comp); err != nil {
					t.Fatalf("%s: %v", c.purl, err)
				}
				res := db.Match([]Component{comp})
				got := "not"
				switch {
				case len(res.Findings) == 1:
					got = "affected fixed=" + res.Findings[0].Fixed
					if res.Findings[0].Approximate {
						got += " approximate"
					}
				case len(res.Undecided) == 1:
					got = "undecided"
				}
				if got != c.want {
					t.Errorf("%s: %s, want %s (undecided: %+v)", c.purl, got, c.want, res.Undecided)
				}
			}
		})
	}
}

// TestKEVLinkage pins the KEV decision documented in the package doc.
func TestKEVLinkage(t *testing.T) {
	rng := `,"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]`
	db := dbWith(t,
		record("GO-ALIAS", "Go", "m/alias", rng, `,"aliases":["CVE-2023-4911"]`),
		record("BELL-UP", "Go", "m/upstream", rng, `,"upstream":["CVE-2023-4911"]`),
		record("UBUNTU-CVE-2023-4911", "Go", "m/embedded", rng, `,"related":["CVE-2023-4911","USN-6409-1"]`),
		record("GO-RELATED", "Go", "m/related", rng, `,"aliases":["CVE-2023-39325"],"related":["CVE-2023-44487"]`),
		record("CVE-2023-44487", "Go", "m/cve-id", rng, ""),
	)
	tests := []struct {
		pkg        string
		kev        bool
		cve        string
		relatedKEV []string
		ransomware bool
	}{
		{"m/alias", true, "CVE-2023-4911", nil, false},
		{"m/upstream", true, "CVE-2023-4911", nil, false},
		{"m/embedded", true, "CVE-2023-4911", nil, false},
		{"m/related", false, "", []string{"CVE-2023-44487"}, false},
		{"m/cve-id", true, "CVE-2023-44487", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.pkg, func(t *testing.T) {
			res := db.Match([]Component{{PURL: "pkg:golang/" + tt.pkg + "@v1.0.0", Version: "v1.0.0"}})
			if len(res.Findings) != 1 {
				t.Fatalf("findings = %+v", res.Findings)
			}
			f := res.Findings[0]
			if f.KEV != tt.kev || f.KEVCVE != tt.cve || f.KnownRansomware != tt.ransomware {
				t.Errorf("KEV=%v cve=%q ransomware=%v, want %v %q %v", f.KEV, f.KEVCVE, f.KnownRansomware, tt.kev, tt.cve, tt.ransomware)
			}
			if d := cmp.Diff(tt.relatedKEV, f.RelatedKEV); d != "" {
				t.Errorf("RelatedKEV (-want +got):\n%s", d)
			}
		})
	}
}

// TestFindingsGolden matches each SBOM (real ones from the shared data and
// the hand-written device fixtures) against the real OSV records and KEV.
func TestFindingsGolden(t *testing.T) {
	db, _ := sharedDB(t)
	var sboms []string
	shared, _ := filepath.Glob(filepath.Join(wardtest.SharedData(t, "vuln/sbom"), "*.json"))
	for _, s := range shared {
		if !strings.HasPrefix(filepath.Base(s), "malformed-") {
			sboms = append(sboms, s)
		}
	}
	sboms = append(sboms, "testdata/sbom/gateway-fw.cdx.json", "testdata/sbom/ubuntu-host.spdx.json")
	var summary strings.Builder
	for _, path := range sboms {
		name := strings.TrimSuffix(filepath.Base(path), ".json")
		res := db.Match(sbomComponents(t, path))
		kev := 0
		for _, f := range res.Findings {
			if f.KEV {
				kev++
			}
		}
		fmt.Fprintf(&summary, "%-40s components=%d looked_up=%d affected=%d findings=%d kev=%d undecided=%d unmatched=%d\n",
			name, res.Components, res.LookedUp, res.Affected, len(res.Findings), kev, len(res.Undecided), len(res.Unmatched))
		t.Run(name, func(t *testing.T) {
			out, err := json.MarshalIndent(res, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			wardtest.Golden(t, "testdata/findings/"+name+".golden", append(out, '\n'))
		})
	}
	wardtest.Golden(t, "testdata/findings/summary.golden", []byte(summary.String()))
}
