package report

import (
	"encoding/json"
	"io"

	"github.com/wardproject/ward/internal/audit"
)

// SchemaID is the $id of docs/report-schema.json, written as the JSON
// report's "$schema".
const SchemaID = "https://github.com/wardproject/ward/blob/main/docs/report-schema.json"

// document is the JSON report (docs/report-schema.json).
type document struct {
	Schema        string          `json:"$schema"`
	SchemaVersion int             `json:"schema_version"`
	Generated     string          `json:"generated"`
	Title         string          `json:"title"`
	Standard      standardRef     `json:"standard"`
	Summary       summary         `json:"summary"`
	Fleet         FleetSummary    `json:"fleet"`
	Scorecard     audit.Scorecard `json:"scorecard"`
	TopRisks      []Risk          `json:"top_risks"`
	Findings      []audit.Finding `json:"findings"`
	Exposure      Exposure        `json:"exposure"`
	Trends        []TrendPoint    `json:"trends"`
}

type standardRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// summary is the report's headline numbers.
type summary struct {
	Score             float64        `json:"score"`
	Assessed          int            `json:"assessed"`
	Passed            int            `json:"passed"`
	Failed            int            `json:"failed"`
	NotAssessed       int            `json:"not_assessed"`
	DevicesPassingPct *float64       `json:"devices_passing_pct,omitempty"`
	Open              SeverityCounts `json:"open"`
	Resolved          int            `json:"resolved"`
	Suppressed        int            `json:"suppressed"`
	// KEV is the number of actively exploited vulnerabilities and
	// KEVDevices the devices exposed to at least one.
	KEV        int `json:"kev_vulnerabilities"`
	KEVDevices int `json:"kev_devices"`
}

// normalise fills nil slices and maps so that the JSON has arrays and
// objects, never null, where the schema says so.
func normalise(r *Report) {
	if r.Title == "" {
		r.Title = "Ward fleet security report"
	}
	if r.Findings == nil {
		r.Findings = []audit.Finding{}
	}
	for i := range r.Findings {
		if r.Findings[i].Resources == nil {
			r.Findings[i].Resources = []string{}
		}
		if r.Findings[i].Standards == nil {
			r.Findings[i].Standards = []string{}
		}
	}
	if r.Trends == nil {
		r.Trends = []TrendPoint{}
	}
	if r.Fleet.ByStatus == nil {
		r.Fleet.ByStatus = map[string]int{}
	}
	if r.Fleet.Models == nil {
		r.Fleet.Models = []ModelSummary{}
	}
	if r.Scorecard.Provisions == nil {
		r.Scorecard.Provisions = []audit.ProvisionScore{}
	}
	e := &r.Exposure
	for _, l := range []*[]VulnExposure{&e.Vulnerabilities, &e.ActivelyExploited} {
		if *l == nil {
			*l = []VulnExposure{}
		}
		for i := range *l {
			if (*l)[i].DeviceIDs == nil {
				(*l)[i].DeviceIDs = []string{}
			}
		}
	}
	if e.Devices == nil {
		e.Devices = []DeviceExposure{}
	}
}

func buildDocument(r *Report) document {
	normalise(r)
	open, resolved, suppressed := countOpen(r.Findings)
	kevDevs := 0
	for _, d := range r.Exposure.Devices {
		if d.KEV > 0 {
			kevDevs++
		}
	}
	sc := r.Scorecard
	return document{
		Schema:        SchemaID,
		SchemaVersion: 1,
		Generated:     r.Generated.UTC().Format("2006-01-02T15:04:05Z07:00"),
		Title:         r.Title,
		Standard:      standardRef{ID: sc.Standard, Name: sc.Name},
		Summary: summary{Score: sc.Score, Assessed: sc.Assessed, Passed: sc.Passed, Failed: sc.Failed, NotAssessed: sc.NotAssessed,
			DevicesPassingPct: sc.DevicesPassingPct, Open: open, Resolved: resolved, Suppressed: suppressed,
			KEV: len(r.Exposure.ActivelyExploited), KEVDevices: kevDevs},
		Fleet:     r.Fleet,
		Scorecard: sc,
		TopRisks:  topRisks(r.Findings, 10),
		Findings:  r.Findings,
		Exposure:  r.Exposure,
		Trends:    r.Trends,
	}
}

func renderJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(buildDocument(r))
}
