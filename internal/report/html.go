package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"

	"github.com/wardproject/ward/internal/audit"
)

//go:embed report.html.tmpl
var htmlSource string

// Table row caps for the HTML report: it stays readable and small at a
// million devices; the JSON and CSV reports have every row.
const (
	maxHTMLFindings = 2000
	maxHTMLRows     = 200
)

var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"rank": func(s audit.Severity) int { return s.Rank() },
	"date": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02")
	},
	"pct": func(p *float64) string {
		if p == nil {
			return "n/a"
		}
		return fmt.Sprintf("%.1f%%", *p)
	},
	"pctSort": func(p *float64) string {
		if p == nil {
			return "-1"
		}
		return fmt.Sprintf("%.1f", *p)
	},
	"num":  func(f float64) string { return fmt.Sprintf("%.1f", f) },
	"inc":  func(i int) int { return i + 1 },
	"join": strings.Join,
	"firstN": func(l []string, n int) []string {
		if len(l) > n {
			return l[:n]
		}
		return l
	},
	"more":   func(l []string, n int) int { return max(len(l)-n, 0) },
	"rating": rating,
	"state":  func(f audit.Finding) string { return findingState(&f) },
}).Parse(htmlSource))

// htmlView is what the template renders.
type htmlView struct {
	Doc            document
	Generated      string
	SevChart       template.HTML
	ProvChart      template.HTML
	TrendChart     template.HTML
	Provisions     []audit.ProvisionScore
	Findings       []audit.Finding
	FindingsCapped int // findings left out of the table
	Vulns          []VulnExposure
	VulnsCapped    int
	Devices        []DeviceExposure
	DevicesCapped  int
}

func renderHTML(w io.Writer, r *Report) error {
	doc := buildDocument(r)
	v := htmlView{
		Doc:        doc,
		Generated:  r.Generated.UTC().Format("2006-01-02 15:04 MST"),
		SevChart:   severityChart(doc.Summary.Open),
		ProvChart:  provisionChart(r.Scorecard),
		TrendChart: trendChart(r.Trends),
		Provisions: r.Scorecard.Provisions,
	}
	v.Findings, v.FindingsCapped = capped(r.Findings, maxHTMLFindings)
	v.Vulns, v.VulnsCapped = capped(r.Exposure.Vulnerabilities, maxHTMLRows)
	v.Devices, v.DevicesCapped = capped(r.Exposure.Devices, maxHTMLRows)
	return htmlTemplate.Execute(w, v)
}

func capped[T any](l []T, n int) ([]T, int) {
	if len(l) > n {
		return l[:n], len(l) - n
	}
	return l, 0
}
