package vuln

import (
	"regexp"
	"strings"

	packageurl "github.com/package-url/packageurl-go"
)

// purlIdent is what a purl says about a package, in OSV's terms.
type purlIdent struct {
	base           string // OSV ecosystem without release: "Go", "Debian", "Alpine"
	release        string // normalised release, "" when the ecosystem has none or the purl does not say
	ecosystem      string // OSV ecosystem string: base, or base:release in OSV's spelling
	name           string // package name in the ecosystem's spelling
	srcName        string // distro source package from the "upstream" qualifier
	srcVersion     string
	repo           string // source repository ("github.com/owner/name"), for GIT ranges
	distroRequired bool   // the ecosystem's advisories are per release
}

// purlTypeEcosystem maps purl types whose packages live in one OSV
// ecosystem (purl-spec PURL-TYPES.rst ↔ OSV ecosystems).
var purlTypeEcosystem = map[string]string{
	"golang":   "Go",
	"npm":      "npm",
	"pypi":     "PyPI",
	"maven":    "Maven",
	"composer": "Packagist",
	"gem":      "RubyGems",
	"cargo":    "crates.io",
	"nuget":    "NuGet",
	"hex":      "Hex",
	"pub":      "Pub",
	"swift":    "SwiftURL",
	"hackage":  "Hackage",
	"cran":     "CRAN",
	"conan":    "ConanCenter",
	"bitnami":  "Bitnami",
	"github":   "GitHub Actions",
}

// distroEcosystem maps purl type/namespace of distribution packages to OSV
// ecosystems.
var distroEcosystem = map[string]string{
	"deb/debian":                       "Debian",
	"deb/ubuntu":                       "Ubuntu",
	"apk/alpine":                       "Alpine",
	"apk/alpaquita":                    "Alpaquita",
	"apk/bellsoft-hardened-containers": "BellSoft Hardened Containers",
	"apk/wolfi":                        "Wolfi",
	"apk/chainguard":                   "Chainguard",
	"apk/minimos":                      "MinimOS",
	"rpm/redhat":                       "Red Hat",
	"rpm/rocky":                        "Rocky Linux",
	"rpm/rocky-linux":                  "Rocky Linux",
	"rpm/almalinux":                    "AlmaLinux",
	"rpm/opensuse":                     "openSUSE",
	"rpm/suse":                         "SUSE",
	"rpm/photon":                       "Photon OS",
	"rpm/mageia":                       "Mageia",
	"rpm/openeuler":                    "openEuler",
	"rpm/azurelinux":                   "Azure Linux",
}

// Ecosystems whose advisories are not split by release.
var releaseless = map[string]bool{"Wolfi": true, "Chainguard": true, "MinimOS": true}

var debianCodenames = map[string]string{
	"hamm": "2", "slink": "2", "potato": "2", "woody": "3", "sarge": "3", "etch": "4", "lenny": "5",
	"squeeze": "6", "wheezy": "7", "jessie": "8", "stretch": "9", "buster": "10", "bullseye": "11",
	"bookworm": "12", "trixie": "13", "forky": "14", "duke": "15",
}

var ubuntuCodenames = map[string]string{
	"trusty": "14.04", "xenial": "16.04", "bionic": "18.04", "cosmic": "18.10", "disco": "19.04",
	"eoan": "19.10", "focal": "20.04", "groovy": "20.10", "hirsute": "21.04", "impish": "21.10",
	"jammy": "22.04", "kinetic": "22.10", "lunar": "23.04", "mantic": "23.10", "noble": "24.04",
	"oracular": "24.10", "plucky": "25.04", "questing": "25.10",
}

var (
	reMajorMinor = regexp.MustCompile(`\d+\.\d+`)
	reMajor      = regexp.MustCompile(`\d+`)
	pypiSep      = regexp.MustCompile(`[-_.]+`)
)

// identify maps a purl onto OSV's ecosystem and package naming.
func identify(pu packageurl.PackageURL) purlIdent {
	q := pu.Qualifiers.Map()
	id := purlIdent{name: pu.Name}
	if pu.Namespace != "" {
		id.name = pu.Namespace + "/" + pu.Name
	}
	if vcs := q["vcs_url"]; vcs != "" {
		id.repo = normRepo(vcs)
	}
	if base, ok := purlTypeEcosystem[pu.Type]; ok {
		id.base, id.ecosystem = base, base
		switch pu.Type {
		case "maven":
			id.name = pu.Namespace + ":" + pu.Name
			if pu.Namespace == "" {
				id.name = pu.Name
			}
		case "golang":
			if pu.Namespace == "" && (pu.Name == "stdlib" || pu.Name == "go") {
				id.name = "stdlib"
			}
		case "github":
			id.repo = "github.com/" + strings.ToLower(pu.Namespace+"/"+pu.Name)
		}
		return id
	}
	key := pu.Type + "/" + strings.ToLower(pu.Namespace)
	base, ok := distroEcosystem[key]
	if !ok {
		return id
	}
	id.name = pu.Name
	id.base, id.ecosystem = base, base
	if up := q["upstream"]; up != "" {
		id.srcName, id.srcVersion, _ = strings.Cut(up, "@")
	}
	if releaseless[base] {
		return id
	}
	id.distroRequired = true
	distro := strings.ToLower(q["distro"])
	id.release = normRelease(base, distro)
	if id.release != "" {
		id.ecosystem = osvEcosystem(base, id.release)
	}
	return id
}

// normRelease turns a purl distro qualifier ("debian-10.2", "bookworm",
// "ubuntu-22.04", "jammy", "3.16.0", "v3.18", "23", "stream",
// "esm-infra/xenial") into the release OSV uses, normalised: Debian and RPM
// families by major number, Ubuntu and Alpine by major.minor.
func normRelease(base, distro string) string {
	if distro == "" {
		return ""
	}
	// "esm-infra/xenial", "trusty/esm": the codename may be any part.
	for _, part := range strings.FieldsFunc(distro, func(r rune) bool { return r == '/' || r == '-' || r == '_' }) {
		switch base {
		case "Debian":
			if r, ok := debianCodenames[part]; ok {
				return r
			}
		case "Ubuntu":
			if r, ok := ubuntuCodenames[part]; ok {
				return r
			}
		}
	}
	switch base {
	case "Ubuntu", "Alpine":
		return reMajorMinor.FindString(distro)
	case "Alpaquita", "BellSoft Hardened Containers":
		if strings.Contains(distro, "stream") {
			return "stream"
		}
		return reMajor.FindString(distro)
	}
	return reMajor.FindString(distro)
}

// osvEcosystem spells base:release as OSV does.
func osvEcosystem(base, release string) string {
	switch base {
	case "Alpine":
		return "Alpine:v" + release
	}
	return base + ":" + release
}

// osvRelease extracts the normalised release from an OSV ecosystem string:
// "Debian:12" → "12", "Ubuntu:Pro:18.04:LTS" → "18.04", "Alpine:v3.18" →
// "3.18", "Alpaquita:stream" → "stream", "Red Hat:enterprise_linux:8::appstream" → "8".
func osvRelease(eco string) (base, release string) {
	base, rest, _ := strings.Cut(eco, ":")
	if rest == "" {
		return base, ""
	}
	switch base {
	case "Ubuntu", "Alpine":
		return base, reMajorMinor.FindString(rest)
	case "Alpaquita", "BellSoft Hardened Containers":
		if strings.Contains(rest, "stream") {
			return base, "stream"
		}
	}
	if m := reMajor.FindString(rest); m != "" {
		return base, m
	}
	return base, strings.ToLower(rest)
}

// normName spells a package name the same way on both sides of a match, as
// each ecosystem compares names: PyPI by PEP 503 normalisation, npm,
// Packagist, NuGet and crates.io without case (crates.io also treats "-" and
// "_" alike), distributions by lower case; Go module paths, Maven
// coordinates and the rest exactly.
func normName(base, name string) string {
	switch base {
	case "PyPI":
		return pypiSep.ReplaceAllString(strings.ToLower(name), "-")
	case "crates.io":
		return strings.ReplaceAll(strings.ToLower(name), "_", "-")
	case "npm", "Packagist", "NuGet", "Debian", "Ubuntu", "Alpine", "Alpaquita",
		"BellSoft Hardened Containers", "Wolfi", "Chainguard", "MinimOS", "GitHub Actions":
		return strings.ToLower(name)
	}
	return name
}

// normRepo reduces a repository URL to host/path without scheme, user,
// ".git" or trailing slash, lower-cased: "https://github.com/python/cpython"
// and "git+ssh://git@github.com/Python/cpython.git" both give
// "github.com/python/cpython".
func normRepo(u string) string {
	u = strings.TrimSpace(strings.ToLower(u))
	u = strings.TrimPrefix(u, "git+")
	if i := strings.Index(u, "://"); i >= 0 {
		u = u[i+3:]
	}
	if i := strings.IndexByte(u, '@'); i >= 0 && i < strings.IndexByte(u+"/", '/') {
		u = u[i+1:]
	}
	u = strings.Replace(u, ":", "/", 1) // git@github.com:owner/repo
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	u = strings.TrimSuffix(strings.TrimSuffix(u, "/"), ".git")
	return u
}
