// Package vuln works out which known vulnerabilities a fleet is exposed
// to, offline: it reads SBOMs, OSV advisories and CISA's Known Exploited
// Vulnerabilities (KEV) catalogue, matches the SBOMs' components against
// the advisories, and ranks the findings. It is a library: storing SBOMs
// per model and firmware, scheduling, the CLI, the API and the reports are
// left to the packages that use it.
//
// # Inputs
//
// [ParseSBOM] reads CycloneDX JSON 1.4, 1.5 and 1.6 (decoded with
// github.com/CycloneDX/cyclonedx-go) and SPDX 2.3 JSON (decoded here: Ward
// needs only packages, versionInfo, purl and CPE external references and
// relationships, and wants each bad field named). Every component becomes a
// [Component]; purls are parsed with github.com/package-url/packageurl-go.
// A document that breaks its format's rules is refused with a
// [*DocumentError] listing each problem with its JSON path
// ("components[3].purl: invalid purl ...", "spdxVersion: want SPDX-2.3,
// got ..."), and a syntax error carries its line and column. Input is
// bounded ([DefaultMaxSBOMBytes]; components nest at most 64 deep).
//
// [DB.ImportOSVPath] and [DB.ImportOSV] read OSV records from single JSON
// files, directories and the per-ecosystem zip archives OSV publishes.
// Each record is checked against the rules of the OSV schema that Ward
// relies on ([ParseOSV]); a bad record is listed in the [ImportReport] with
// its file and fields, and the rest are imported. Zip archives are bounded
// in entries, per-entry inflated size and total inflated size, counted as
// bytes are inflated rather than as the archive claims. Withdrawn records
// are kept but never match. [DB.ImportKEV] reads the KEV catalogue and
// checks what its schema requires ([ParseKEV]). Each import stamps its
// feeds ("osv/<ecosystem>", "kev"); [DB.Stale] lists the feeds older than
// a maximum age, and a KEV catalogue that was never imported.
//
// # Matching
//
// A component is looked up by its purl, never by name alone and never by
// CPE: a component with only CPEs is reported in [Result].Unmatched ("CPE
// only"), as is one with no purl or a purl type that has no OSV ecosystem.
// The purl maps to an OSV ecosystem and package name:
//
//   - golang → Go, name namespace/name (module path, case kept);
//     pkg:golang/stdlib is the Go standard library ("stdlib").
//   - npm ("@scope/name", case-insensitive), pypi → PyPI (PEP 503
//     normalisation: lower case, runs of "-_." as "-"), maven → Maven
//     ("group:artifact"), composer → Packagist, gem → RubyGems, cargo →
//     crates.io, nuget → NuGet, hex, pub, swift, hackage, cran, conan,
//     bitnami, github → GitHub Actions.
//   - deb/debian → Debian:<major> and deb/ubuntu → Ubuntu:<yy.mm>, from the
//     distro qualifier ("debian-12.9", "bookworm", "ubuntu-22.04", "jammy",
//     "esm-infra/xenial"); Ubuntu's "Pro" and ":LTS" ecosystems count as
//     that release.
//   - apk/alpine → Alpine:v<major.minor> ("3.18.4", "v3.18");
//     apk/alpaquita → Alpaquita:<23|25|stream>; apk/bellsoft-hardened-containers
//     → BellSoft Hardened Containers:<release>; apk/wolfi, apk/chainguard →
//     Wolfi, Chainguard (no releases).
//   - rpm/redhat, rocky, almalinux, suse, opensuse, photon, mageia,
//     openeuler, azurelinux → their OSV ecosystems, by major release.
//
// Distribution advisories name source packages, so a binary package is
// also looked up under its source package when the SBOM says which one it
// is (purl "upstream" qualifier, Trivy's SrcName/SrcVersion/SrcEpoch
// properties, SPDX "built package from:" sourceInfo), with the source
// version. An advisory entry for a release applies only to components of
// that release; when the purl gives no release the pair is reported as
// [Undecided] rather than guessed. A purl "epoch" qualifier is prefixed to
// the version.
//
// Versions are compared with the ecosystem's own ordering from package
// [version]: SEMVER ranges with SemVer 2.0 (Go versions with their "v",
// "go" and pseudo-version spellings), ECOSYSTEM ranges with dpkg's order
// for Debian and Ubuntu, apk-tools' for Alpine, Alpaquita, BellSoft,
// Wolfi and Chainguard, rpmvercmp for the RPM distributions, Maven's
// ComparableVersion for Maven, PEP 440, as pypa/packaging orders it, for
// PyPI (pre-, post- and dev releases, epochs and local labels included, so
// "3.2.2rc1" is below a fix in "3.2.2"), Gem::Version for RubyGems ("-" is
// ".pre.", a letter segment is a prerelease below the release, trailing
// zeros do not count), NuGet.Versioning for NuGet (up to four numbers,
// SemVer 2.0 release labels without case, metadata ignored) and
// composer/semver's normalisation with PHP's version_compare for
// Packagist ("v1.0" = "1.0.0.0"; dev < alpha < beta < RC < release <
// patch); a Composer branch ("dev-main") has no order, so it is
// [Undecided]. Other ecosystems (Hackage, CRAN, ConanCenter, GitHub
// Actions and the rest) use the documented generic fallback and their
// findings are marked Approximate.
//
// Each range is evaluated as the OSV specification says: events are
// sorted by version ("0" first; at equal versions introduced before
// last_affected before fixed); walking them, an introduced event at or
// below the version sets "affected", a fixed event at or below it clears
// it, a last_affected event below it clears it; if the range has limit
// events the version must also be below one of them. A version listed in
// the entry's "versions" is affected too. Fixed is the first fixed event
// above the installed version. A version the ordering cannot parse, or a
// range event it cannot parse, makes the pair [Undecided] with the reason.
//
// GIT ranges are decided only from a commit the component gives (a purl
// version of 40 or 64 hex digits) for the range's repository (from a
// github purl, a vcs_url qualifier or a CycloneDX "vcs" reference): the
// commit is affected when it is an introduced or last_affected event, not
// affected when it is a fixed or limit event, and anything else is
// [Undecided], because placing a commit needs the repository's history.
// Versions are never mapped to commits.
//
// # KEV linkage
//
// Most OSV records reach a KEV CVE through "upstream" or "related" rather
// than "aliases". Ward decides:
//
//   - aliases and upstream say the record is that CVE (an alias is the same
//     vulnerability in another database; upstream is the vulnerability the
//     record was derived from, e.g. a distribution's record of a CVE). A
//     finding whose record names a KEV CVE this way has KEV set, with the
//     KEV dates and ransomware flag. So does a record whose own ID is a CVE
//     or ends with one (UBUNTU-CVE-2023-4911, BELL-CVE-2023-4911): older
//     Ubuntu records list their own CVE only under related.
//   - related says the records are connected, not the same: GO-2023-2102
//     (CVE-2023-39325, Go's HTTP/2 rapid reset) is related to
//     CVE-2023-44487, the KEV entry for the protocol attack. Such KEV CVEs
//     are listed in [Finding].RelatedKEV for the reader and break ties in
//     [Prioritise], but KEV stays false: CISA has not said that this
//     vulnerability is exploited, and the CRA early warning must not be
//     raised on a neighbour's evidence.
//
// # Prioritisation
//
// [Prioritise] puts every KEV finding first, then orders by severity
// weight (the CVSS v3.x base score computed from the record's vector, else
// its CVSS v4.0 base score, otherwise the database's rating; see
// [Severity.Weight] and [Severity] for the precedence) times the number of
// exposed devices. [ActivelyExploited] selects the KEV findings for the
// CRA's 24-hour early-warning section.
package vuln
