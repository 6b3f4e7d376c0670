package vuln

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// DefaultMaxSBOMBytes bounds an SBOM read by ParseSBOM when the caller
// passes no limit. The largest real SBOM in Ward's test data is 1.9 MB.
const DefaultMaxSBOMBytes = 64 << 20

// Component is one package from an SBOM, normalised across formats.
type Component struct {
	// Name is the package name: the purl's name with its namespace in the
	// ecosystem's spelling ("@babel/parser", "org.apache.logging.log4j:log4j-core",
	// "golang.org/x/net") when there is a purl, the document's name otherwise.
	Name    string
	Version string
	// PURL is the package URL as written in the document ("" if none).
	PURL string
	// CPEs are the CPE 2.3 or 2.2 names given for the component. They are
	// kept for reports; Ward does not match on them.
	CPEs []string
	// Ecosystem is the OSV ecosystem the purl maps to, with its release
	// when the purl carries one: "Go", "npm", "Debian:10", "Ubuntu:22.04",
	// "Alpine:v3.16", "Alpaquita:23". Empty when there is no purl or its
	// type has no OSV ecosystem.
	Ecosystem string
	// SourceName and SourceVersion name the distribution source package the
	// binary package was built from, when the document says (purl
	// "upstream" qualifier, or Trivy's SrcName/SrcVersion properties).
	// Debian, Ubuntu and Alpine advisories are written against source
	// packages.
	SourceName, SourceVersion string
	// Ref is the component's bom-ref (CycloneDX) or SPDXID (SPDX).
	Ref string
	// Path is where the component sits in the document, e.g.
	// "components[2].components[0]" or "packages[4]".
	Path string
	// VCS is the source repository URL, from a CycloneDX "vcs" external
	// reference or a purl "vcs_url" qualifier; used with GIT ranges.
	VCS string
	// Commit is the full commit hash the component was built from, when
	// its purl version is one (40 or 64 hex digits); used with GIT ranges.
	Commit string
}

// SBOM is a parsed software bill of materials.
type SBOM struct {
	// Format is "CycloneDX" or "SPDX"; SpecVersion is e.g. "1.5" or "SPDX-2.3".
	Format, SpecVersion string
	// Subject is what the SBOM describes (CycloneDX metadata.component, or
	// the SPDX package the document DESCRIBES), when it says.
	Subject *Component
	// Components lists every package, nested ones included, in document
	// order. A CycloneDX metadata.component is not among them; an SPDX
	// described package is.
	Components []Component
}

// ParseSBOM reads a CycloneDX (1.4–1.6) or SPDX 2.3 JSON document of at
// most maxBytes bytes (DefaultMaxSBOMBytes when maxBytes <= 0). source names
// the document in errors. A document that breaks its format's rules yields
// a *DocumentError naming each bad field.
func ParseSBOM(source string, r io.Reader, maxBytes int64) (*SBOM, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxSBOMBytes
	}
	data, err := readLimited(r, maxBytes, "SBOM "+source)
	if err != nil {
		return nil, err
	}
	var probe struct {
		BOMFormat   *json.RawMessage `json:"bomFormat"`
		SPDXVersion *json.RawMessage `json:"spdxVersion"`
		SPDXID      *json.RawMessage `json:"SPDXID"`
		Namespace   *json.RawMessage `json:"documentNamespace"`
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &DocumentError{Source: source, Format: "JSON", Problems: []*FieldError{{Msg: "the document is empty"}}}
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, &DocumentError{Source: source, Format: "JSON", Problems: []*FieldError{jsonProblem(data, err)}}
	}
	switch {
	case probe.BOMFormat != nil:
		return parseCycloneDX(source, data)
	case probe.SPDXVersion != nil || probe.SPDXID != nil || probe.Namespace != nil:
		return parseSPDX(source, data)
	}
	return nil, fmt.Errorf("%s: no bomFormat (CycloneDX) or spdxVersion (SPDX) at the top level: %w", source, ErrUnknownFormat)
}
