package report

import (
	"encoding/json"
	"io"
	"strings"

	"github.com/wardproject/ward/internal/audit"
)

// maxSARIFLocations caps the logical locations of one result; the full
// resource list is in the JSON and CSV reports, and the result's
// properties carry the total.
const maxSARIFLocations = 1000

// helpBase is where each check is documented (docs/compliance.md, one
// anchor per check id).
const helpBase = "https://github.com/wardproject/ward/blob/main/docs/compliance.md#"

type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool        sarifTool         `json:"tool"`
	Invocations []sarifInvocation `json:"invocations"`
	Results     []sarifResult     `json:"results"`
	Properties  map[string]any    `json:"properties,omitempty"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifRule struct {
	ID                   string         `json:"id"`
	Name                 string         `json:"name"`
	ShortDescription     sarifText      `json:"shortDescription"`
	FullDescription      sarifText      `json:"fullDescription"`
	Help                 sarifText      `json:"help"`
	HelpURI              string         `json:"helpUri"`
	DefaultConfiguration sarifLevel     `json:"defaultConfiguration"`
	Properties           map[string]any `json:"properties"`
}

type sarifLevel struct {
	Level string `json:"level"`
}

type sarifInvocation struct {
	ExecutionSuccessful bool   `json:"executionSuccessful"`
	EndTimeUTC          string `json:"endTimeUtc"`
}

type sarifResult struct {
	RuleID       string             `json:"ruleId"`
	RuleIndex    int                `json:"ruleIndex"`
	Level        string             `json:"level"`
	Message      sarifText          `json:"message"`
	Locations    []sarifLocation    `json:"locations"`
	Suppressions []sarifSuppression `json:"suppressions,omitempty"`
	Kind         string             `json:"kind,omitempty"`
	Properties   map[string]any     `json:"properties"`
}

type sarifLocation struct {
	LogicalLocations []sarifLogical `json:"logicalLocations"`
}

type sarifLogical struct {
	Name               string `json:"name"`
	FullyQualifiedName string `json:"fullyQualifiedName"`
	Kind               string `json:"kind"`
}

type sarifSuppression struct {
	Kind   string `json:"kind"`
	Status string `json:"status"`
}

// sarifLevelOf maps a severity to a SARIF level.
func sarifLevelOf(s audit.Severity) string {
	switch s {
	case audit.Critical, audit.High:
		return "error"
	case audit.Medium:
		return "warning"
	}
	return "note"
}

// securitySeverity is the numeric "security-severity" property GitHub
// code scanning reads (CVSS-like bands).
func securitySeverity(s audit.Severity) string {
	switch s {
	case audit.Critical:
		return "9.5"
	case audit.High:
		return "8.0"
	case audit.Medium:
		return "5.5"
	case audit.Low:
		return "2.0"
	}
	return "0.0"
}

// ruleName turns "device-cert-expiring" into "DeviceCertExpiring".
func ruleName(id string) string {
	var b strings.Builder
	for _, p := range strings.FieldsFunc(id, func(r rune) bool { return r == '-' || r == '.' }) {
		b.WriteString(strings.ToUpper(p[:1]) + p[1:])
	}
	return b.String()
}

func renderSARIF(w io.Writer, r *Report) error {
	normalise(r)
	checks := audit.Checks()
	index := map[string]int{}
	var rules []sarifRule
	addRule := func(c audit.Check) {
		index[c.ID] = len(rules)
		tags := append([]string{"security", "iot"}, c.Standards...)
		props := map[string]any{"tags": tags, "security-severity": securitySeverity(c.Severity), "scope": string(c.Scope)}
		if c.AWS != "" {
			props["aws-iot-device-defender"] = c.AWS
		}
		rules = append(rules, sarifRule{ID: c.ID, Name: ruleName(c.ID), ShortDescription: sarifText{c.Title},
			FullDescription: sarifText{c.Description}, Help: sarifText{c.Remediation}, HelpURI: helpBase + c.ID,
			DefaultConfiguration: sarifLevel{sarifLevelOf(c.Severity)}, Properties: props})
	}
	for _, c := range checks {
		addRule(c)
	}
	results := make([]sarifResult, 0, len(r.Findings))
	for i := range r.Findings {
		f := &r.Findings[i]
		ri, ok := index[f.Check]
		if !ok { // a check this build does not know: describe it from the finding
			addRule(audit.Check{ID: f.Check, Title: f.Title, Severity: f.Severity, Description: f.Title, Remediation: f.Remediation, Standards: f.Standards})
			ri = index[f.Check]
		}
		locs := make([]sarifLogical, 0, min(len(f.Resources), maxSARIFLocations))
		for _, res := range f.Resources[:min(len(f.Resources), maxSARIFLocations)] {
			_, name, ok := strings.Cut(res, ":")
			if !ok {
				name = res
			}
			locs = append(locs, sarifLogical{Name: name, FullyQualifiedName: res, Kind: "resource"})
		}
		props := map[string]any{"severity": string(f.Severity), "standards": f.Standards, "resources_total": len(f.Resources),
			"state": findingState(f), "security-severity": securitySeverity(f.Severity)}
		for k, t := range map[string]string{"first_seen": ts(f.FirstSeen), "last_seen": ts(f.LastSeen), "resolved_at": ts(f.ResolvedAt), "id": f.ID} {
			if t != "" {
				props[k] = t
			}
		}
		res := sarifResult{RuleID: f.Check, RuleIndex: ri, Level: sarifLevelOf(f.Severity),
			Message:    sarifText{f.Title + ": " + f.Evidence},
			Locations:  []sarifLocation{{LogicalLocations: locs}},
			Properties: props}
		if f.Suppressed {
			res.Suppressions = []sarifSuppression{{Kind: "external", Status: "accepted"}}
		}
		if !f.ResolvedAt.IsZero() {
			res.Kind, res.Level = "pass", "none"
		}
		results = append(results, res)
	}
	log := sarifLog{
		Schema:  "https://json.schemastore.org/sarif-2.1.0.json",
		Version: "2.1.0",
		Runs: []sarifRun{{
			Tool:        sarifTool{Driver: sarifDriver{Name: "Ward", InformationURI: "https://github.com/wardproject/ward", Rules: rules}},
			Invocations: []sarifInvocation{{ExecutionSuccessful: true, EndTimeUTC: ts(r.Generated)}},
			Results:     results,
			Properties:  map[string]any{"standard": r.Scorecard.Standard, "score": r.Scorecard.Score},
		}},
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(log)
}
