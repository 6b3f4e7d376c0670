package report

import (
	"encoding/csv"
	"io"
	"strings"
	"time"
)

// csvHeader is the CSV report's header row.
var csvHeader = []string{"check", "title", "severity", "state", "resources", "evidence", "remediation", "standards",
	"id", "first_seen", "last_seen", "resolved_at"}

// renderCSV writes one row per finding. Multi-valued cells (resources,
// standards) are joined with "; ". Cells that a spreadsheet would take
// for a formula (starting with =, +, -, @, tab or CR) are prefixed with
// a single quote (OWASP's CSV injection advice).
func renderCSV(w io.Writer, r *Report) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	for i := range r.Findings {
		f := &r.Findings[i]
		row := []string{f.Check, f.Title, string(f.Severity), findingState(f), strings.Join(f.Resources, "; "), f.Evidence,
			f.Remediation, strings.Join(f.Standards, "; "), f.ID, ts(f.FirstSeen), ts(f.LastSeen), ts(f.ResolvedAt)}
		for j, c := range row {
			row[j] = defuse(c)
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func defuse(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// ts formats a time as RFC 3339 in UTC, or "" for the zero time.
func ts(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
