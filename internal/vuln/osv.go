package vuln

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Advisory is an OSV record (https://ossf.github.io/osv-schema/), keeping
// the fields Ward uses. Each field is the schema field of the same JSON
// name; timestamps are zero when absent.
type Advisory struct {
	ID            string        `json:"id"`
	SchemaVersion string        `json:"schema_version,omitempty"`
	Modified      time.Time     `json:"modified"`
	Published     time.Time     `json:"published,omitzero"`
	Withdrawn     time.Time     `json:"withdrawn,omitzero"`
	Aliases       []string      `json:"aliases,omitempty"`
	Related       []string      `json:"related,omitempty"`
	Upstream      []string      `json:"upstream,omitempty"`
	Summary       string        `json:"summary,omitempty"`
	Details       string        `json:"details,omitempty"`
	Severity      []OSVSeverity `json:"severity,omitempty"`
	Affected      []Affected    `json:"affected,omitempty"`
	// DatabaseSpecific holds database_specific; Ward reads its "severity".
	DatabaseSpecific map[string]any `json:"database_specific,omitempty"`
	// Source names the file (or zip entry) the record came from.
	Source string `json:"-"`
}

// OSVSeverity is one entry of an OSV severity list.
type OSVSeverity struct {
	Type  string `json:"type"`  // CVSS_V2, CVSS_V3, CVSS_V4 or Ubuntu
	Score string `json:"score"` // a vector, or Ubuntu's priority word
}

// Affected is one OSV affected entry: a package and the versions of it that
// are vulnerable.
type Affected struct {
	// Package is nil for entries that only name a repository (GIT ranges).
	Package          *OSVPackage    `json:"package,omitempty"`
	Severity         []OSVSeverity  `json:"severity,omitempty"`
	Ranges           []Range        `json:"ranges,omitempty"`
	Versions         []string       `json:"versions,omitempty"`
	DatabaseSpecific map[string]any `json:"database_specific,omitempty"`
}

// OSVPackage names a package in an OSV ecosystem.
type OSVPackage struct {
	Ecosystem string `json:"ecosystem"` // e.g. "Go", "Debian:12", "Alpaquita:stream"
	Name      string `json:"name"`
	PURL      string `json:"purl,omitempty"`
}

// Range is an OSV range: a type, the repository for GIT ranges, and a list
// of events.
type Range struct {
	Type   string  `json:"type"` // SEMVER, ECOSYSTEM or GIT
	Repo   string  `json:"repo,omitempty"`
	Events []Event `json:"events"`
}

// Event is one OSV range event; exactly one field is set, holding a
// version (or a commit for GIT ranges; "0" for introduced means the
// beginning of history, "*" for limit means no limit).
type Event struct {
	Introduced   string `json:"introduced,omitempty"`
	Fixed        string `json:"fixed,omitempty"`
	LastAffected string `json:"last_affected,omitempty"`
	Limit        string `json:"limit,omitempty"`
}

// IsWithdrawn reports whether the record has been withdrawn. Withdrawn
// records are kept (so a later import can see they exist) but never match.
func (a *Advisory) IsWithdrawn() bool { return !a.Withdrawn.IsZero() }

// DefaultMaxRecordBytes bounds one OSV record. Ubuntu kernel records with
// their version lists reach a few hundred kilobytes.
const DefaultMaxRecordBytes = 16 << 20

var (
	gitHash        = regexp.MustCompile(`^(0|[a-f0-9]{40}|[a-f0-9]{64})$`)
	timestampRE    = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$`)
	referenceTypes = []string{"ADVISORY", "ARTICLE", "DETECTION", "DISCUSSION", "REPORT", "FIX", "INTRODUCED", "GIT", "PACKAGE", "EVIDENCE", "WEB"}
	ubuntuPriority = []string{"negligible", "low", "medium", "high", "critical"}
	cvss4RE        = regexp.MustCompile(`^CVSS:4[.]0/AV:[NALP]/AC:[LH]/AT:[NP]/PR:[NLH]/UI:[NPA]/VC:[HLN]/VI:[HLN]/VA:[HLN]/SC:[HLN]/SI:[HLN]/SA:[HLN](/[A-Za-z]+:[A-Za-z]+)*$`)
	cvss2RE        = regexp.MustCompile(`^(AV:[NAL]|AC:[LMH]|Au:[MSN]|[CIA]:[NPC]|E:(U|POC|F|H|ND)|RL:(OF|TF|W|U|ND)|RC:(UC|UR|C|ND)|CDP:(N|L|LM|MH|H|ND)|TD:(N|L|M|H|ND)|[CIA]R:(L|M|H|ND))(/(AV:[NAL]|AC:[LMH]|Au:[MSN]|[CIA]:[NPC]|E:(U|POC|F|H|ND)|RL:(OF|TF|W|U|ND)|RC:(UC|UR|C|ND)|CDP:(N|L|LM|MH|H|ND)|TD:(N|L|M|H|ND)|[CIA]R:(L|M|H|ND)))*$`)
)

// ParseOSV parses and validates one OSV record. It checks what the OSV
// schema (validation/schema.json) requires of the fields Ward relies on:
// id and modified present, timestamps in RFC 3339 UTC, the types of every
// list (a null where an array is required is an error), package ecosystem
// and name, range types, events that contain an introduced event and have
// exactly one key each, GIT ranges with a repo and full commit hashes,
// last_affected and fixed not mixed in one range, severity types and
// scores, and reference types. Ecosystem names are not checked against
// the schema's list, which grows; unknown ecosystems simply never match.
// Problems are reported together, each with its JSON path.
func ParseOSV(source string, data []byte) (*Advisory, error) {
	var p problems
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return nil, &DocumentError{Source: source, Format: "OSV", Problems: []*FieldError{jsonProblem(data, err)}}
	}
	if dec.More() {
		return nil, &DocumentError{Source: source, Format: "OSV", Problems: []*FieldError{{Msg: "more than one JSON value (an OSV file holds one record)"}}}
	}
	root, ok := tree.(map[string]any)
	if !ok {
		return nil, &DocumentError{Source: source, Format: "OSV", Problems: []*FieldError{{Msg: "want a JSON object"}}}
	}
	validateOSV(&p, root)
	if err := p.err(source, "OSV"); err != nil {
		return nil, err
	}
	var a Advisory
	if err := json.Unmarshal(data, &a); err != nil {
		return nil, &DocumentError{Source: source, Format: "OSV", Problems: []*FieldError{jsonProblem(data, err)}}
	}
	a.Source = source
	return &a, nil
}

func validateOSV(p *problems, r map[string]any) {
	if id, ok := r["id"].(string); !ok || strings.TrimSpace(id) == "" || strings.ContainsAny(id, " \t\r\n/") {
		p.add("id", "missing or not a record ID (want e.g. \"GO-2024-2687\"), got %s", jsonValue(r["id"]))
	}
	if _, ok := r["modified"]; !ok {
		p.add("modified", "missing (required RFC 3339 UTC timestamp)")
	}
	for _, k := range []string{"modified", "published", "withdrawn"} {
		if v, ok := r[k]; ok {
			checkTimestamp(p, k, v)
		}
	}
	for _, k := range []string{"schema_version", "summary", "details"} {
		if v, ok := r[k]; ok {
			if _, isStr := v.(string); !isStr {
				p.add(k, "want a string, got %s", jsonValue(v))
			}
		}
	}
	// aliases may be null; related and upstream may not.
	checkStrings(p, "aliases", r, true)
	checkStrings(p, "related", r, false)
	checkStrings(p, "upstream", r, false)
	checkSeverity(p, "severity", r["severity"])
	if v, ok := r["database_specific"]; ok {
		checkObject(p, "database_specific", v)
	}
	if refs, ok := arrayAt(p, "references", r, "references", true); ok {
		for i, ref := range refs {
			path := idx("references", i)
			o, ok := ref.(map[string]any)
			if !ok {
				p.add(path, "want an object, got %s", jsonValue(ref))
				continue
			}
			if t, _ := o["type"].(string); !contains(referenceTypes, t) {
				p.add(dot(path, "type"), "want one of %s, got %s", strings.Join(referenceTypes, ", "), jsonValue(o["type"]))
			}
			if _, ok := o["url"].(string); !ok {
				p.add(dot(path, "url"), "missing or not a string")
			}
		}
	}
	if credits, ok := arrayAt(p, "credits", r, "credits", false); ok {
		for i, c := range credits {
			o, ok := c.(map[string]any)
			if !ok {
				p.add(idx("credits", i), "want an object, got %s", jsonValue(c))
				continue
			}
			if _, ok := o["name"].(string); !ok {
				p.add(dot(idx("credits", i), "name"), "missing or not a string")
			}
		}
	}
	affected, ok := arrayAt(p, "affected", r, "affected", true)
	if !ok {
		return
	}
	for i, av := range affected {
		path := idx("affected", i)
		a, ok := av.(map[string]any)
		if !ok {
			p.add(path, "want an object, got %s", jsonValue(av))
			continue
		}
		if pv, ok := a["package"]; ok {
			pkg, ok := pv.(map[string]any)
			if !ok {
				p.add(dot(path, "package"), "want an object, got %s", jsonValue(pv))
			} else {
				if eco, ok := pkg["ecosystem"].(string); !ok || eco == "" {
					p.add(dot(path, "package.ecosystem"), "missing or empty (required, e.g. \"Go\" or \"Debian:12\")")
				}
				if _, ok := pkg["name"].(string); !ok {
					p.add(dot(path, "package.name"), "missing or not a string (required)")
				}
				if v, ok := pkg["purl"]; ok {
					if _, isStr := v.(string); !isStr {
						p.add(dot(path, "package.purl"), "want a string, got %s", jsonValue(v))
					}
				}
			}
		}
		checkSeverity(p, dot(path, "severity"), a["severity"])
		for _, k := range []string{"ecosystem_specific", "database_specific"} {
			if v, ok := a[k]; ok {
				checkObject(p, dot(path, k), v)
			}
		}
		checkStringsAt(p, dot(path, "versions"), a, "versions", false)
		ranges, ok := arrayAt(p, dot(path, "ranges"), a, "ranges", false)
		if !ok {
			continue
		}
		for j, rv := range ranges {
			checkRange(p, idx(dot(path, "ranges"), j), rv)
		}
	}
}

func checkRange(p *problems, path string, rv any) {
	rg, ok := rv.(map[string]any)
	if !ok {
		p.add(path, "want an object, got %s", jsonValue(rv))
		return
	}
	typ, _ := rg["type"].(string)
	switch typ {
	case "GIT", "SEMVER", "ECOSYSTEM":
	default:
		p.add(dot(path, "type"), "want GIT, SEMVER or ECOSYSTEM, got %s", jsonValue(rg["type"]))
	}
	if typ == "GIT" {
		if repo, ok := rg["repo"].(string); !ok || repo == "" {
			p.add(dot(path, "repo"), "missing (GIT ranges require a repo)")
		}
	} else if v, ok := rg["repo"]; ok {
		if _, isStr := v.(string); !isStr {
			p.add(dot(path, "repo"), "want a string, got %s", jsonValue(v))
		}
	}
	events, ok := rg["events"].([]any)
	if !ok || len(events) == 0 {
		p.add(dot(path, "events"), "missing or empty (want at least an introduced event), got %s", jsonValue(rg["events"]))
		return
	}
	var hasIntro, hasFixed, hasLast bool
	for k, ev := range events {
		ep := idx(dot(path, "events"), k)
		o, ok := ev.(map[string]any)
		if !ok || len(o) != 1 {
			p.add(ep, "want an object with exactly one of introduced, fixed, last_affected or limit, got %s", jsonValue(ev))
			continue
		}
		for key, val := range o {
			s, isStr := val.(string)
			switch key {
			case "introduced":
				hasIntro = true
			case "fixed":
				hasFixed = true
			case "last_affected":
				hasLast = true
			case "limit":
			default:
				p.add(dot(ep, key), "unknown event (want introduced, fixed, last_affected or limit)")
				continue
			}
			switch {
			case !isStr || s == "":
				p.add(dot(ep, key), "want a non-empty string, got %s", jsonValue(val))
			case typ == "GIT" && !gitHash.MatchString(s) && !(key == "limit" && s == "*"):
				p.add(dot(ep, key), "GIT events need a full 40- or 64-digit lower-case commit hash or \"0\", got %q", s)
			}
		}
	}
	if !hasIntro {
		p.add(dot(path, "events"), "no introduced event (every range needs one; use \"0\" for all versions)")
	}
	if hasFixed && hasLast {
		p.add(dot(path, "events"), "both fixed and last_affected events (the OSV schema makes them mutually exclusive in one range)")
	}
}

func checkTimestamp(p *problems, path string, v any) {
	s, ok := v.(string)
	if !ok || !timestampRE.MatchString(s) {
		p.add(path, "want an RFC 3339 UTC timestamp like 2024-01-02T03:04:05Z, got %s", jsonValue(v))
		return
	}
	if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
		p.add(path, "invalid timestamp %q: %v", s, err)
	}
}

func checkObject(p *problems, path string, v any) {
	if _, ok := v.(map[string]any); !ok {
		p.add(path, "want an object, got %s", jsonValue(v))
	}
}

// arrayAt returns v as an array. A missing field is fine; null is fine
// only when nullOK.
func arrayAt(p *problems, path string, m map[string]any, key string, nullOK bool) ([]any, bool) {
	v, present := m[key]
	if !present {
		return nil, false
	}
	if v == nil {
		if !nullOK {
			p.add(path, "want an array, got null")
		}
		return nil, false
	}
	arr, ok := v.([]any)
	if !ok {
		p.add(path, "want an array, got %s", jsonValue(v))
		return nil, false
	}
	return arr, true
}

func checkStrings(p *problems, key string, r map[string]any, nullOK bool) {
	checkStringsAt(p, key, r, key, nullOK)
}

func checkStringsAt(p *problems, path string, r map[string]any, key string, nullOK bool) {
	v, present := r[key]
	if !present {
		return
	}
	if v == nil {
		if !nullOK {
			p.add(path, "want an array of strings, got null")
		}
		return
	}
	arr, ok := v.([]any)
	if !ok {
		p.add(path, "want an array of strings, got %s", jsonValue(v))
		return
	}
	for i, s := range arr {
		if _, ok := s.(string); !ok {
			p.add(idx(path, i), "want a string, got %s", jsonValue(s))
		}
	}
}

func checkSeverity(p *problems, path string, v any) {
	if v == nil {
		return
	}
	arr, ok := v.([]any)
	if !ok {
		p.add(path, "want an array, got %s", jsonValue(v))
		return
	}
	for i, sv := range arr {
		sp := idx(path, i)
		o, ok := sv.(map[string]any)
		if !ok {
			p.add(sp, "want an object, got %s", jsonValue(sv))
			continue
		}
		typ, _ := o["type"].(string)
		score, ok := o["score"].(string)
		if !ok {
			p.add(dot(sp, "score"), "missing or not a string")
			continue
		}
		switch typ {
		case "CVSS_V3":
			if _, err := CVSS3BaseScore(score); err != nil {
				p.add(dot(sp, "score"), "%v", err)
			}
		case "CVSS_V4":
			if !cvss4RE.MatchString(score) {
				p.add(dot(sp, "score"), "invalid CVSS v4.0 vector %q", score)
			}
		case "CVSS_V2":
			if !cvss2RE.MatchString(score) {
				p.add(dot(sp, "score"), "invalid CVSS v2 vector %q", score)
			}
		case "Ubuntu":
			if !contains(ubuntuPriority, score) {
				p.add(dot(sp, "score"), "want one of %s, got %q", strings.Join(ubuntuPriority, ", "), score)
			}
		default:
			p.add(dot(sp, "type"), "want CVSS_V2, CVSS_V3, CVSS_V4 or Ubuntu, got %s", jsonValue(o["type"]))
		}
	}
}

// severityOf picks the severity of an affected entry: its own CVSS v3
// vector, then the record's, then its own CVSS v4.0 vector, then the
// record's (see Severity for why v3 comes first), then
// database_specific.severity (GitHub's CRITICAL/HIGH/MODERATE/LOW), then
// Ubuntu's priority. A CVSS v4 vector that cannot be scored is kept, with
// the rating from the later sources.
func severityOf(a *Advisory, aff *Affected) Severity {
	lists := [][]OSVSeverity{aff.Severity, a.Severity}
	var s Severity
	for _, list := range lists {
		for _, e := range list {
			if e.Type == "CVSS_V3" {
				if score, err := CVSS3BaseScore(e.Score); err == nil {
					return Severity{Score: score, Rating: cvssRating(score), Vector: e.Score, Source: "CVSS_V3"}
				}
			}
		}
	}
	for _, list := range lists {
		for _, e := range list {
			if e.Type != "CVSS_V4" {
				continue
			}
			if score, err := CVSS4BaseScore(e.Score); err == nil {
				return Severity{Score: score, Rating: cvssRating(score), Vector: e.Score, Source: "CVSS_V4"}
			}
			if s.Vector == "" {
				s.Vector, s.Source = e.Score, "CVSS_V4"
			}
		}
	}
	for _, ds := range []map[string]any{aff.DatabaseSpecific, a.DatabaseSpecific} {
		if r, ok := ds["severity"].(string); ok && r != "" {
			s.Rating = normRating(r)
			if s.Source == "" {
				s.Source = "database_specific"
			}
			return s
		}
	}
	for _, list := range lists {
		for _, e := range list {
			if e.Type == "Ubuntu" {
				s.Rating = normRating(e.Score)
				if s.Source == "" {
					s.Source = "Ubuntu"
				}
				return s
			}
		}
	}
	return s
}

// normRating maps the words databases use onto CVSS ratings: GitHub's
// MODERATE is MEDIUM, Ubuntu's negligible is LOW.
func normRating(r string) string {
	switch u := strings.ToUpper(r); u {
	case "MODERATE":
		return "MEDIUM"
	case "NEGLIGIBLE":
		return "LOW"
	case "CRITICAL", "HIGH", "MEDIUM", "LOW", "NONE":
		return u
	default:
		return fmt.Sprintf("UNKNOWN(%s)", r)
	}
}
