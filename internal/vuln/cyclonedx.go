package vuln

import (
	"encoding/json"
	"fmt"
	"strings"

	cdx "github.com/CycloneDX/cyclonedx-go"
	packageurl "github.com/package-url/packageurl-go"
)

// cdxTypes lists the component types each CycloneDX version allows
// (bom-1.x.schema.json, component.type enum).
var cdxTypes = map[string][]string{
	"1.4": {"application", "framework", "library", "container", "operating-system", "device", "firmware", "file"},
	"1.5": {"application", "framework", "library", "container", "platform", "operating-system", "device",
		"device-driver", "firmware", "file", "machine-learning-model", "data"},
	"1.6": {"application", "framework", "library", "container", "platform", "operating-system", "device",
		"device-driver", "firmware", "file", "machine-learning-model", "data", "cryptographic-asset"},
}

func parseCycloneDX(source string, data []byte) (*SBOM, error) {
	var p problems
	var head struct {
		BOMFormat   any `json:"bomFormat"`
		SpecVersion any `json:"specVersion"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, &DocumentError{Source: source, Format: "CycloneDX", Problems: []*FieldError{jsonProblem(data, err)}}
	}
	if head.BOMFormat != "CycloneDX" {
		p.add("bomFormat", "want \"CycloneDX\", got %s", jsonValue(head.BOMFormat))
	}
	spec, _ := head.SpecVersion.(string)
	types, ok := cdxTypes[spec]
	switch {
	case head.SpecVersion == nil:
		p.add("specVersion", "missing (want 1.4, 1.5 or 1.6)")
	case !ok:
		p.add("specVersion", "want 1.4, 1.5 or 1.6, got %s", jsonValue(head.SpecVersion))
	}
	if err := p.err(source, "CycloneDX"); err != nil {
		return nil, err
	}
	format := "CycloneDX " + spec
	var bom cdx.BOM
	if err := json.Unmarshal(data, &bom); err != nil {
		return nil, &DocumentError{Source: source, Format: format, Problems: []*FieldError{jsonProblem(data, err)}}
	}
	out := &SBOM{Format: "CycloneDX", SpecVersion: spec}
	if bom.Metadata != nil && bom.Metadata.Component != nil {
		c := cdxComponent(&p, types, "metadata.component", bom.Metadata.Component)
		out.Subject = &c
	}
	var walk func(path string, list *[]cdx.Component, depth int)
	walk = func(path string, list *[]cdx.Component, depth int) {
		if list == nil {
			return
		}
		if depth > 64 {
			p.add(path, "components nested more than 64 deep")
			return
		}
		for i := range *list {
			c := &(*list)[i]
			cp := idx(path, i)
			out.Components = append(out.Components, cdxComponent(&p, types, cp, c))
			walk(cp+".components", c.Components, depth+1)
		}
	}
	walk("components", bom.Components, 0)
	if err := p.err(source, format); err != nil {
		return nil, err
	}
	return out, nil
}

func cdxComponent(p *problems, types []string, path string, c *cdx.Component) Component {
	if c.Type == "" {
		p.add(dot(path, "type"), "missing (required: one of %s)", strings.Join(types, ", "))
	} else if !contains(types, string(c.Type)) {
		p.add(dot(path, "type"), "unknown component type %q (want one of %s)", c.Type, strings.Join(types, ", "))
	}
	if c.Name == "" {
		p.add(dot(path, "name"), "missing (required)")
	}
	out := Component{Name: c.Name, Version: c.Version, PURL: c.PackageURL, Ref: c.BOMRef, Path: path}
	if c.Group != "" {
		out.Name = c.Group + "/" + c.Name
	}
	if c.CPE != "" {
		if !validCPE(c.CPE) {
			p.add(dot(path, "cpe"), "invalid CPE %q: want cpe:2.3:part:vendor:product:... or cpe:/part:vendor:product", c.CPE)
		}
		out.CPEs = []string{c.CPE}
	}
	if c.ExternalReferences != nil {
		for _, r := range *c.ExternalReferences {
			if r.Type == cdx.ERTypeVCS && out.VCS == "" {
				out.VCS = r.URL
			}
		}
	}
	if c.Properties != nil {
		epoch := ""
		for _, pr := range *c.Properties {
			switch pr.Name {
			case "aquasecurity:trivy:SrcName":
				out.SourceName = pr.Value
			case "aquasecurity:trivy:SrcVersion":
				out.SourceVersion = pr.Value
			case "aquasecurity:trivy:SrcEpoch":
				epoch = pr.Value
			}
		}
		// Trivy keeps the source epoch apart; dpkg and rpm order by it first.
		if epoch != "" && epoch != "0" && out.SourceVersion != "" && !strings.Contains(out.SourceVersion, ":") {
			out.SourceVersion = epoch + ":" + out.SourceVersion
		}
	}
	if c.PackageURL != "" {
		if err := completeFromPURL(&out); err != nil {
			p.add(dot(path, "purl"), "%v", err)
		}
	}
	return out
}

// completeFromPURL parses c.PURL and fills in the fields it determines.
func completeFromPURL(c *Component) error {
	pu, err := packageurl.FromString(c.PURL)
	if err != nil {
		return fmt.Errorf("invalid purl %q: %v", c.PURL, err)
	}
	id := identify(pu)
	c.Ecosystem = id.ecosystem
	if id.name != "" {
		c.Name = id.name
	}
	if c.Version == "" {
		c.Version = pu.Version
	}
	if id.srcName != "" && c.SourceName == "" {
		c.SourceName, c.SourceVersion = id.srcName, id.srcVersion
	}
	if c.VCS == "" {
		c.VCS = id.repo
	}
	if isCommit(pu.Version) {
		c.Commit = pu.Version
	}
	return nil
}

// isCommit reports whether s is a full SHA-1 or SHA-256 commit hash, as
// OSV requires in GIT ranges.
func isCommit(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !(s[i] >= '0' && s[i] <= '9' || s[i] >= 'a' && s[i] <= 'f') {
			return false
		}
	}
	return true
}

func validCPE(s string) bool {
	if strings.HasPrefix(s, "cpe:2.3:") {
		return len(strings.Split(s, ":")) >= 13 // "cpe" "2.3" + 11 attributes
	}
	return strings.HasPrefix(s, "cpe:/") && len(s) > len("cpe:/a")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// jsonValue renders a decoded JSON value for an error message.
func jsonValue(v any) string {
	if v == nil {
		return "null"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(b) > 80 {
		b = append(b[:77], "..."...)
	}
	return string(b)
}
