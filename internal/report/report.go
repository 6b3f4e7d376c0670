// Package report renders Ward's fleet security report: the compliance
// score per provision of a standard, the audit findings, the fleet's
// vulnerability exposure (prioritised KEV first, then severity × exposed
// devices), the CRA Article 14 early-warning list of actively exploited
// vulnerabilities, the top risks and the trend of open findings.
//
// [Render] writes one [Report] as "html" (one self-contained file: inline
// CSS, inline SVG charts, a few lines of inline JavaScript to sort tables;
// everything escaped by html/template), "json" (the schema is
// docs/report-schema.json), "sarif" (SARIF 2.1.0, one run, the checks as
// rules) or "csv" (one row per finding). It is a library: the server
// gathers the findings (with first/last seen, resolution and
// suppression), the scorecard ([audit.Score]) and the exposure
// ([BuildExposure]) and chooses where the output goes.
//
// The charts are hand-written SVG rather than gonum.org/v1/plot: three
// small bar and line charts are a few dozen lines, render crisply at any
// zoom and in print, and keep the file free of embedded fonts.
package report

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/wardproject/ward/internal/audit"
	"github.com/wardproject/ward/internal/vuln"
)

// ErrUnknownFormat is returned by Render for a format it does not know.
var ErrUnknownFormat = errors.New("unknown report format")

// Formats are the formats Render accepts.
var Formats = []string{"html", "json", "sarif", "csv"}

// Report is everything a report shows.
type Report struct {
	// Generated is when the report was produced.
	Generated time.Time `json:"generated"`
	// Title names the fleet or site ("Ward fleet security report" when
	// empty).
	Title string       `json:"title"`
	Fleet FleetSummary `json:"fleet"`
	// Scorecard is the chosen standard's provision scores.
	Scorecard audit.Scorecard `json:"scorecard"`
	// Findings are the audit findings, with their stored fields.
	Findings []audit.Finding `json:"findings"`
	Exposure Exposure        `json:"exposure"`
	// Trends are open findings by severity over time, oldest first.
	Trends []TrendPoint `json:"trends"`
}

// FleetSummary describes the fleet audited.
type FleetSummary struct {
	Devices  int            `json:"devices"`
	ByStatus map[string]int `json:"by_status"` // "active" -> 950…
	Models   []ModelSummary `json:"models"`
}

// ModelSummary is one device model in the fleet.
type ModelSummary struct {
	Name           string    `json:"name"`
	Devices        int       `json:"devices"`
	LatestFirmware string    `json:"latest_firmware,omitempty"`
	SupportEnds    time.Time `json:"support_ends,omitzero"`
	// LatestFirmwareReleased is when the latest firmware was published.
	LatestFirmwareReleased time.Time `json:"latest_firmware_released,omitzero"`
	// LatestFirmwareSource says where the latest firmware comes from:
	// "repository" (the newest version published in Ward's TUF
	// repository) or "manual" (ward model set --latest-firmware).
	LatestFirmwareSource string `json:"latest_firmware_source,omitempty"`
	// PatchLevel counts the model's devices against the latest firmware;
	// nil when no latest firmware is known.
	PatchLevel *PatchLevel `json:"patch_level,omitempty"`
}

// PatchLevel is how many of a model's devices run its latest firmware.
type PatchLevel struct {
	OnLatest int `json:"on_latest"` // the latest release
	Behind   int `json:"behind"`    // an older version
	Other    int `json:"other"`     // a newer version, or one that cannot be ordered
}

// TrendPoint is the number of open findings by severity at one time.
type TrendPoint struct {
	At       time.Time `json:"at"`
	Critical int       `json:"critical"`
	High     int       `json:"high"`
	Medium   int       `json:"medium"`
	Low      int       `json:"low"`
	Info     int       `json:"info"`
}

// Total is the sum over severities.
func (p TrendPoint) Total() int { return p.Critical + p.High + p.Medium + p.Low + p.Info }

// Exposure is the fleet's exposure to known vulnerabilities.
type Exposure struct {
	// Vulnerabilities are ranked by vuln.Prioritise: KEV first, then
	// severity weight × exposed devices.
	Vulnerabilities []VulnExposure `json:"vulnerabilities"`
	// Devices are the exposed devices, most KEV, then worst, first.
	Devices []DeviceExposure `json:"devices"`
	// ActivelyExploited are the KEV vulnerabilities (vuln.ActivelyExploited)
	// for the CRA Article 14 24-hour early warning, newest KEV entry first.
	ActivelyExploited []VulnExposure `json:"actively_exploited"`
}

// VulnExposure is one vulnerability and the devices exposed to it.
type VulnExposure struct {
	vuln.Priority
	// DeviceIDs are the exposed devices, sorted.
	DeviceIDs []string `json:"device_ids"`
}

// DeviceExposure is one device's vulnerabilities.
type DeviceExposure struct {
	DeviceID string `json:"device_id"`
	Model    string `json:"model,omitempty"`
	Firmware string `json:"firmware,omitempty"`
	Total    int    `json:"total"`
	Critical int    `json:"critical"`
	High     int    `json:"high"`
	Medium   int    `json:"medium"`
	Low      int    `json:"low"`
	Unrated  int    `json:"unrated"`
	KEV      int    `json:"kev"`
	// Worst is the highest CVSS-derived weight (vuln.Severity.Weight).
	Worst float64 `json:"worst"`
}

// DeviceInfo names a device's model and firmware for BuildExposure.
type DeviceInfo struct{ Model, Firmware string }

// BuildExposure ranks the fleet's exposure from each device's findings
// (device ID -> vulnerability findings); info gives model and firmware
// per device and may be nil.
func BuildExposure(perDevice map[string][]vuln.Finding, info map[string]DeviceInfo) Exposure {
	reps := map[string]vuln.Finding{}
	devs := map[string][]string{}
	var ex Exposure
	ids := make([]string, 0, len(perDevice))
	for id := range perDevice {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		fs := perDevice[id]
		if len(fs) == 0 {
			continue
		}
		de := DeviceExposure{DeviceID: id, Model: info[id].Model, Firmware: info[id].Firmware}
		var seen []string
		for _, f := range fs {
			if r, ok := reps[f.AdvisoryID]; !ok || (f.KEV && !r.KEV) {
				reps[f.AdvisoryID] = f
			}
			if slices.Contains(seen, f.AdvisoryID) {
				continue
			}
			seen = append(seen, f.AdvisoryID)
			devs[f.AdvisoryID] = append(devs[f.AdvisoryID], id)
			de.Total++
			switch rating(f.Severity) {
			case "critical":
				de.Critical++
			case "high":
				de.High++
			case "medium":
				de.Medium++
			case "low", "none":
				de.Low++
			default:
				de.Unrated++
			}
			if f.KEV {
				de.KEV++
			}
			de.Worst = max(de.Worst, f.Severity.Weight())
		}
		ex.Devices = append(ex.Devices, de)
	}
	slices.SortStableFunc(ex.Devices, func(a, b DeviceExposure) int {
		if c := cmp.Compare(b.KEV, a.KEV); c != 0 {
			return c
		}
		if c := cmp.Compare(b.Worst, a.Worst); c != 0 {
			return c
		}
		if c := cmp.Compare(b.Total, a.Total); c != 0 {
			return c
		}
		return cmp.Compare(a.DeviceID, b.DeviceID)
	})
	list := make([]vuln.Finding, 0, len(reps))
	counts := make(map[string]int, len(reps))
	for id, f := range reps {
		list = append(list, f)
		counts[id] = len(devs[id])
	}
	slices.SortFunc(list, func(a, b vuln.Finding) int { return cmp.Compare(a.AdvisoryID, b.AdvisoryID) })
	for _, p := range vuln.Prioritise(list, counts) {
		ex.Vulnerabilities = append(ex.Vulnerabilities, VulnExposure{Priority: p, DeviceIDs: devs[p.AdvisoryID]})
	}
	for _, f := range vuln.ActivelyExploited(list) {
		ex.ActivelyExploited = append(ex.ActivelyExploited, VulnExposure{
			Priority:  vuln.Priority{Finding: f, Devices: counts[f.AdvisoryID], Score: f.Severity.Weight() * float64(counts[f.AdvisoryID])},
			DeviceIDs: devs[f.AdvisoryID]})
	}
	return ex
}

// rating is the lower-case qualitative rating of an advisory severity,
// or "unrated".
func rating(s vuln.Severity) string {
	switch r := s.Rating; {
	case r == "CRITICAL" || (r == "" && s.Score >= 9):
		return "critical"
	case r == "HIGH" || (r == "" && s.Score >= 7):
		return "high"
	case r == "MEDIUM" || (r == "" && s.Score >= 4):
		return "medium"
	case r == "LOW" || (r == "" && s.Score > 0):
		return "low"
	case r == "NONE":
		return "none"
	}
	return "unrated"
}

// Render writes r in format "html", "json", "sarif" or "csv".
func Render(w io.Writer, format string, r Report) error {
	var err error
	switch format {
	case "html":
		err = renderHTML(w, &r)
	case "json":
		err = renderJSON(w, &r)
	case "sarif":
		err = renderSARIF(w, &r)
	case "csv":
		err = renderCSV(w, &r)
	default:
		return fmt.Errorf("render %q: %w (want html, json, sarif or csv)", format, ErrUnknownFormat)
	}
	if err != nil {
		return fmt.Errorf("render %s report: %w", format, err)
	}
	return nil
}

// findingState is "open", "resolved" or "suppressed".
func findingState(f *audit.Finding) string {
	switch {
	case !f.ResolvedAt.IsZero():
		return "resolved"
	case f.Suppressed:
		return "suppressed"
	}
	return "open"
}

// SeverityCounts counts open findings by severity.
type SeverityCounts struct {
	Critical int `json:"critical"`
	High     int `json:"high"`
	Medium   int `json:"medium"`
	Low      int `json:"low"`
	Info     int `json:"info"`
}

func countOpen(fs []audit.Finding) (c SeverityCounts, resolved, suppressed int) {
	for i := range fs {
		switch findingState(&fs[i]) {
		case "resolved":
			resolved++
			continue
		case "suppressed":
			suppressed++
			continue
		}
		switch fs[i].Severity {
		case audit.Critical:
			c.Critical++
		case audit.High:
			c.High++
		case audit.Medium:
			c.Medium++
		case audit.Low:
			c.Low++
		default:
			c.Info++
		}
	}
	return c, resolved, suppressed
}

// Risk is one of the top risks: an open finding and how many resources
// it affects.
type Risk struct {
	Check     string         `json:"check"`
	Title     string         `json:"title"`
	Severity  audit.Severity `json:"severity"`
	Findings  int            `json:"findings"`
	Resources int            `json:"resources"`
	Devices   int            `json:"devices"`
	Example   string         `json:"example"` // evidence of the first finding
}

// topRisks groups open findings by check and ranks the groups by
// severity, then affected devices, then resources.
func topRisks(fs []audit.Finding, n int) []Risk {
	by := map[string]*Risk{}
	var order []string
	for i := range fs {
		f := &fs[i]
		if findingState(f) != "open" || f.Severity == audit.Info {
			continue
		}
		r := by[f.Check]
		if r == nil {
			r = &Risk{Check: f.Check, Title: f.Title, Severity: f.Severity, Example: f.Evidence}
			by[f.Check] = r
			order = append(order, f.Check)
		}
		if f.Severity.Rank() > r.Severity.Rank() {
			r.Severity, r.Example = f.Severity, f.Evidence
		}
		r.Findings++
		r.Resources += len(f.Resources)
		for _, res := range f.Resources {
			if len(res) > 7 && res[:7] == "device:" {
				r.Devices++
			}
		}
	}
	out := make([]Risk, 0, len(order))
	for _, c := range order {
		out = append(out, *by[c])
	}
	slices.SortStableFunc(out, func(a, b Risk) int {
		if c := cmp.Compare(b.Severity.Rank(), a.Severity.Rank()); c != 0 {
			return c
		}
		if c := cmp.Compare(b.Devices, a.Devices); c != 0 {
			return c
		}
		if c := cmp.Compare(b.Resources, a.Resources); c != 0 {
			return c
		}
		return cmp.Compare(a.Check, b.Check)
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}
