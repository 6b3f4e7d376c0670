package vuln

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPrioritise(t *testing.T) {
	findings := []Finding{
		{AdvisoryID: "A-low-many", Severity: Severity{Score: 3.0}},
		{AdvisoryID: "B-crit-one", Severity: Severity{Score: 9.8}},
		{AdvisoryID: "C-kev-low", Severity: Severity{Score: 2.0}, KEV: true, KEVDateAdded: "2023-01-01"},
		{AdvisoryID: "D-kev-high", Severity: Severity{Score: 8.0}, KEV: true, KEVDateAdded: "2025-08-25"},
		{AdvisoryID: "E-unrated", Severity: Severity{}},
		{AdvisoryID: "F-rating-only", Severity: Severity{Rating: "CRITICAL"}},
		{AdvisoryID: "G-related", Severity: Severity{}, RelatedKEV: []string{"CVE-2023-44487"}},
	}
	devices := map[string]int{"A-low-many": 10, "B-crit-one": 1, "C-kev-low": 1, "D-kev-high": 2, "F-rating-only": 1}
	var got []string
	for _, p := range Prioritise(findings, devices) {
		got = append(got, p.AdvisoryID)
	}
	// KEV first (by score × devices: 16 > 2), then 30, 9.8, 9.5, then the
	// two unrated (5 × 1) with the related-KEV one first.
	want := []string{"D-kev-high", "C-kev-low", "A-low-many", "B-crit-one", "F-rating-only", "G-related", "E-unrated"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("order (-want +got):\n%s", d)
	}
	var ae []string
	for _, f := range ActivelyExploited(findings) {
		ae = append(ae, f.AdvisoryID)
	}
	if d := cmp.Diff([]string{"D-kev-high", "C-kev-low"}, ae); d != "" {
		t.Errorf("ActivelyExploited (-want +got):\n%s", d)
	}
}
