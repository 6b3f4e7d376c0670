package vuln

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
)

// Ward decodes SPDX 2.3 JSON itself instead of using an SPDX library: it
// needs only packages, their versions, purl/CPE external references and
// relationships, and wants every bad field reported with its path, which
// generic decoders do not do.

var spdxIDPattern = regexp.MustCompile(`^SPDXRef-[A-Za-z0-9.\-]+$`)

type spdxDocument struct {
	SPDXVersion       *string           `json:"spdxVersion"`
	DataLicense       *string           `json:"dataLicense"`
	SPDXID            *string           `json:"SPDXID"`
	Name              *string           `json:"name"`
	DocumentNamespace *string           `json:"documentNamespace"`
	CreationInfo      *json.RawMessage  `json:"creationInfo"`
	DocumentDescribes []string          `json:"documentDescribes"`
	Packages          []json.RawMessage `json:"packages"`
	Relationships     []json.RawMessage `json:"relationships"`
}

type spdxPackage struct {
	SPDXID           *string `json:"SPDXID"`
	Name             *string `json:"name"`
	VersionInfo      string  `json:"versionInfo"`
	DownloadLocation *string `json:"downloadLocation"`
	SourceInfo       string  `json:"sourceInfo"`
	ExternalRefs     []struct {
		ReferenceCategory *string `json:"referenceCategory"`
		ReferenceType     *string `json:"referenceType"`
		ReferenceLocator  *string `json:"referenceLocator"`
	} `json:"externalRefs"`
}

type spdxRelationship struct {
	SPDXElementID      *string `json:"spdxElementId"`
	RelationshipType   *string `json:"relationshipType"`
	RelatedSPDXElement *string `json:"relatedSpdxElement"`
}

func parseSPDX(source string, data []byte) (*SBOM, error) {
	var p problems
	var doc spdxDocument
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, &DocumentError{Source: source, Format: "SPDX", Problems: []*FieldError{jsonProblem(data, err)}}
	}
	switch {
	case doc.SPDXVersion == nil:
		p.add("spdxVersion", "missing (want \"SPDX-2.3\")")
	case *doc.SPDXVersion != "SPDX-2.3":
		p.add("spdxVersion", "want SPDX-2.3, got %q", *doc.SPDXVersion)
	}
	if doc.SPDXID == nil {
		p.add("SPDXID", "missing (want \"SPDXRef-DOCUMENT\")")
	} else if *doc.SPDXID != "SPDXRef-DOCUMENT" {
		p.add("SPDXID", "want \"SPDXRef-DOCUMENT\", got %q", *doc.SPDXID)
	}
	if doc.DataLicense == nil {
		p.add("dataLicense", "missing (want \"CC0-1.0\")")
	} else if *doc.DataLicense != "CC0-1.0" {
		p.add("dataLicense", "want \"CC0-1.0\", got %q", *doc.DataLicense)
	}
	if doc.Name == nil {
		p.add("name", "missing (required)")
	}
	if doc.DocumentNamespace == nil || *doc.DocumentNamespace == "" {
		p.add("documentNamespace", "missing (required)")
	}
	if doc.CreationInfo == nil {
		p.add("creationInfo", "missing (required: created and creators)")
	} else {
		var ci struct {
			Created  *string  `json:"created"`
			Creators []string `json:"creators"`
		}
		if err := json.Unmarshal(*doc.CreationInfo, &ci); err != nil {
			p.add("creationInfo", "%s", jsonProblem(*doc.CreationInfo, err).Msg)
		} else {
			if ci.Created == nil {
				p.add("creationInfo.created", "missing (required)")
			}
			if len(ci.Creators) == 0 {
				p.add("creationInfo.creators", "missing or empty (required)")
			}
		}
	}
	out := &SBOM{Format: "SPDX", SpecVersion: "SPDX-2.3"}
	ids := make(map[string]int, len(doc.Packages))
	for i, raw := range doc.Packages {
		path := idx("packages", i)
		var pkg spdxPackage
		dec := json.NewDecoder(bytes.NewReader(raw))
		if err := dec.Decode(&pkg); err != nil {
			fe := jsonProblem(raw, err)
			p.add(joinPath(path, fe.Path), "%s", fe.Msg)
			continue
		}
		c := Component{Path: path, Version: pkg.VersionInfo}
		switch {
		case pkg.SPDXID == nil:
			p.add(dot(path, "SPDXID"), "missing (required, e.g. \"SPDXRef-Package-1\")")
		case !spdxIDPattern.MatchString(*pkg.SPDXID):
			p.add(dot(path, "SPDXID"), "invalid %q (want SPDXRef- followed by letters, digits, \".\" or \"-\")", *pkg.SPDXID)
		default:
			c.Ref = *pkg.SPDXID
			if j, dup := ids[c.Ref]; dup {
				p.add(dot(path, "SPDXID"), "%q is already used by packages[%d]", c.Ref, j)
			}
			ids[c.Ref] = i
		}
		if pkg.Name == nil || *pkg.Name == "" {
			p.add(dot(path, "name"), "missing (required)")
		} else {
			c.Name = *pkg.Name
		}
		if pkg.DownloadLocation == nil {
			p.add(dot(path, "downloadLocation"), "missing (required; use \"NOASSERTION\" when unknown)")
		}
		for j, ref := range pkg.ExternalRefs {
			rp := idx(dot(path, "externalRefs"), j)
			if ref.ReferenceCategory == nil {
				p.add(dot(rp, "referenceCategory"), "missing (required)")
			}
			if ref.ReferenceType == nil || ref.ReferenceLocator == nil {
				p.add(rp, "referenceType and referenceLocator are required")
				continue
			}
			loc := *ref.ReferenceLocator
			switch *ref.ReferenceType {
			case "purl":
				if c.PURL != "" {
					continue // the first purl names the package
				}
				c.PURL = loc
			case "cpe23Type", "cpe22Type":
				if !validCPE(loc) {
					p.add(dot(rp, "referenceLocator"), "invalid CPE %q", loc)
				}
				c.CPEs = append(c.CPEs, loc)
			}
		}
		if c.PURL != "" {
			name := c.Name
			if err := completeFromPURL(&c); err != nil {
				p.add(dot(idx(dot(path, "externalRefs"), purlRef(pkg)), "referenceLocator"), "%v", err)
			}
			if c.Name == "" {
				c.Name = name
			}
		}
		if c.SourceName == "" {
			// Trivy and syft write "built package from: NAME VERSION".
			if rest, ok := strings.CutPrefix(pkg.SourceInfo, "built package from: "); ok {
				if f := strings.Fields(rest); len(f) == 2 {
					c.SourceName, c.SourceVersion = f[0], f[1]
				}
			}
		}
		out.Components = append(out.Components, c)
	}
	describes := map[string]bool{}
	for _, d := range doc.DocumentDescribes {
		describes[d] = true
	}
	for i, raw := range doc.Relationships {
		path := idx("relationships", i)
		var r spdxRelationship
		if err := json.Unmarshal(raw, &r); err != nil {
			fe := jsonProblem(raw, err)
			p.add(joinPath(path, fe.Path), "%s", fe.Msg)
			continue
		}
		if r.SPDXElementID == nil || r.RelationshipType == nil || r.RelatedSPDXElement == nil {
			p.add(path, "spdxElementId, relationshipType and relatedSpdxElement are required")
			continue
		}
		if *r.SPDXElementID == "SPDXRef-DOCUMENT" && *r.RelationshipType == "DESCRIBES" {
			describes[*r.RelatedSPDXElement] = true
		}
	}
	if err := p.err(source, "SPDX"); err != nil {
		return nil, err
	}
	// The package the document DESCRIBES is its subject. It stays in
	// Components too: in SPDX it is a package like the others and may
	// itself be vulnerable (pkg:bitnami/postgresql, say).
	if len(describes) == 1 {
		for id := range describes {
			if j, ok := ids[id]; ok {
				subj := out.Components[j]
				out.Subject = &subj
			}
		}
	}
	return out, nil
}

func purlRef(pkg spdxPackage) int {
	for j, ref := range pkg.ExternalRefs {
		if ref.ReferenceType != nil && *ref.ReferenceType == "purl" {
			return j
		}
	}
	return 0
}

func joinPath(base, field string) string {
	if field == "" {
		return base
	}
	return base + "." + field
}
