package vuln

import "sort"

// Priority is a finding with the fleet-wide numbers that rank it.
type Priority struct {
	Finding
	// Devices is how many devices are exposed to the finding's advisory.
	Devices int `json:"devices"`
	// Score is Severity.Weight() × Devices.
	Score float64 `json:"score"`
}

// Prioritise ranks findings for remediation: every KEV finding before
// every other, then by severity weight × the number of exposed devices
// (exposedDevices maps an advisory ID to that number; a missing ID counts
// as one device), then by severity, then related-KEV context, then by ID so
// that the order is stable. The input is not changed.
func Prioritise(findings []Finding, exposedDevices map[string]int) []Priority {
	out := make([]Priority, len(findings))
	for i, f := range findings {
		n, ok := exposedDevices[f.AdvisoryID]
		if !ok {
			n = 1
		}
		out[i] = Priority{Finding: f, Devices: n, Score: f.Severity.Weight() * float64(n)}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		switch {
		case a.KEV != b.KEV:
			return a.KEV
		case a.Score != b.Score:
			return a.Score > b.Score
		case a.Severity.Weight() != b.Severity.Weight():
			return a.Severity.Weight() > b.Severity.Weight()
		case (len(a.RelatedKEV) > 0) != (len(b.RelatedKEV) > 0):
			return len(a.RelatedKEV) > 0
		case a.AdvisoryID != b.AdvisoryID:
			return a.AdvisoryID < b.AdvisoryID
		}
		return a.PURL < b.PURL
	})
	return out
}

// ActivelyExploited selects the findings for the EU Cyber Resilience Act's
// 24-hour early warning of actively exploited vulnerabilities (CRA Art.
// 14(1), 14(2)(a)): those flagged KEV. Related-KEV context alone does not
// qualify. The result is ordered by the date CISA added the CVE, newest
// first (the ones most likely still unreported), then by advisory ID, and
// holds each advisory once per component.
func ActivelyExploited(findings []Finding) []Finding {
	var out []Finding
	for _, f := range findings {
		if f.KEV {
			out = append(out, f)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].KEVDateAdded != out[j].KEVDateAdded {
			return out[i].KEVDateAdded > out[j].KEVDateAdded
		}
		if out[i].AdvisoryID != out[j].AdvisoryID {
			return out[i].AdvisoryID < out[j].AdvisoryID
		}
		return out[i].PURL < out[j].PURL
	})
	return out
}
