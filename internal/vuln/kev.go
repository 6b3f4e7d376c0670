package vuln

import (
	"encoding/json"
	"io"
	"regexp"
	"time"
)

// KEVCatalog is CISA's Known Exploited Vulnerabilities catalogue
// (https://www.cisa.gov/known-exploited-vulnerabilities-catalog). Fields
// are the catalogue's fields of the same JSON name.
type KEVCatalog struct {
	CatalogVersion  string     `json:"catalogVersion"`
	DateReleased    time.Time  `json:"dateReleased"`
	Count           int        `json:"count"`
	Vulnerabilities []KEVEntry `json:"vulnerabilities"`
}

// KEVEntry is one known exploited vulnerability; fields are the
// catalogue's fields of the same JSON name.
type KEVEntry struct {
	CVEID                      string   `json:"cveID"`
	VendorProject              string   `json:"vendorProject"`
	Product                    string   `json:"product"`
	VulnerabilityName          string   `json:"vulnerabilityName"`
	DateAdded                  string   `json:"dateAdded"` // YYYY-MM-DD
	ShortDescription           string   `json:"shortDescription"`
	RequiredAction             string   `json:"requiredAction"`
	DueDate                    string   `json:"dueDate"` // YYYY-MM-DD
	KnownRansomwareCampaignUse string   `json:"knownRansomwareCampaignUse"`
	Notes                      string   `json:"notes"`
	CWEs                       []string `json:"cwes"`
}

// KnownRansomware reports whether CISA knows the vulnerability to be used
// in ransomware campaigns.
func (e KEVEntry) KnownRansomware() bool { return e.KnownRansomwareCampaignUse == "Known" }

// DefaultMaxKEVBytes bounds the KEV catalogue (1.3 MB in August 2025).
const DefaultMaxKEVBytes = 64 << 20

var (
	cveIDRE = regexp.MustCompile(`^CVE-[0-9]{4}-[0-9]{4,19}$`)
	cweRE   = regexp.MustCompile(`^CWE-[0-9]+$`)
)

// ParseKEV reads the KEV catalogue JSON (at most maxBytes, or
// DefaultMaxKEVBytes when maxBytes <= 0) and checks it against what its
// schema (cisagov/kev-data known_exploited_vulnerabilities_schema.json)
// requires: catalogVersion, dateReleased (date-time), count (integer) and
// vulnerabilities at the top; cveID (CVE-YYYY-NNNN…), vendorProject,
// product, vulnerabilityName, dateAdded (date), shortDescription,
// requiredAction and dueDate (date) in each entry; cwes as CWE-N.
func ParseKEV(source string, r io.Reader, maxBytes int64) (*KEVCatalog, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxKEVBytes
	}
	data, err := readLimited(r, maxBytes, "KEV catalogue "+source)
	if err != nil {
		return nil, err
	}
	var raw struct {
		CatalogVersion  *string           `json:"catalogVersion"`
		DateReleased    *string           `json:"dateReleased"`
		Count           *json.Number      `json:"count"`
		Vulnerabilities []json.RawMessage `json:"vulnerabilities"`
	}
	var p problems
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, &DocumentError{Source: source, Format: "CISA KEV", Problems: []*FieldError{jsonProblem(data, err)}}
	}
	cat := &KEVCatalog{}
	if raw.CatalogVersion == nil {
		p.add("catalogVersion", "missing (required)")
	} else {
		cat.CatalogVersion = *raw.CatalogVersion
	}
	if raw.DateReleased == nil {
		p.add("dateReleased", "missing (required)")
	} else if t, err := time.Parse(time.RFC3339Nano, *raw.DateReleased); err != nil {
		p.add("dateReleased", "want a date-time like 2025-08-25T17:04:19.9796Z, got %q", *raw.DateReleased)
	} else {
		cat.DateReleased = t
	}
	if raw.Count == nil {
		p.add("count", "missing (required)")
	} else if n, err := raw.Count.Int64(); err != nil {
		p.add("count", "want an integer, got %s", raw.Count.String())
	} else {
		cat.Count = int(n)
	}
	if raw.Vulnerabilities == nil {
		p.add("vulnerabilities", "missing (required)")
	}
	for i, rv := range raw.Vulnerabilities {
		path := idx("vulnerabilities", i)
		var e struct{ KEVEntry }
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(rv, &fields); err != nil {
			p.add(path, "want an object: %v", err)
			continue
		}
		for _, f := range []string{"cveID", "vendorProject", "product", "vulnerabilityName", "dateAdded",
			"shortDescription", "requiredAction", "dueDate"} {
			if _, ok := fields[f]; !ok {
				p.add(dot(path, f), "missing (required)")
			}
		}
		if err := json.Unmarshal(rv, &e.KEVEntry); err != nil {
			fe := jsonProblem(rv, err)
			p.add(joinPath(path, fe.Path), "%s", fe.Msg)
			continue
		}
		if !cveIDRE.MatchString(e.CVEID) {
			p.add(dot(path, "cveID"), "want CVE-YYYY-NNNN, got %q", e.CVEID)
		}
		for _, d := range []struct{ name, v string }{{"dateAdded", e.DateAdded}, {"dueDate", e.DueDate}} {
			if _, ok := fields[d.name]; !ok {
				continue
			}
			if _, err := time.Parse(time.DateOnly, d.v); err != nil {
				p.add(dot(path, d.name), "want a date like 2025-08-25, got %q", d.v)
			}
		}
		for j, c := range e.CWEs {
			if !cweRE.MatchString(c) {
				p.add(idx(dot(path, "cwes"), j), "want CWE-N, got %q", c)
			}
		}
		cat.Vulnerabilities = append(cat.Vulnerabilities, e.KEVEntry)
	}
	if err := p.err(source, "CISA KEV"); err != nil {
		return nil, err
	}
	return cat, nil
}
