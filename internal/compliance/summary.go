package compliance

import (
	"context"
	"fmt"
	"time"

	"github.com/wardproject/ward/internal/audit"
	"github.com/wardproject/ward/internal/vuln"
)

// Summary is the fleet's compliance and vulnerability exposure in numbers,
// for the console's overview and `ward status`.
type Summary struct {
	// LastAudit is when the latest audit run recorded its findings (zero:
	// no audit has run, and Standards is empty).
	LastAudit time.Time `json:"last_audit,omitzero"`
	// Standards is the score of each standard from the latest run's
	// findings (suppressed and resolved ones excluded, as in the report).
	Standards []StandardScore `json:"standards"`
	// Vulnerabilities is the fleet's exposure to the imported advisories.
	Vulnerabilities Exposure `json:"vulnerabilities"`
}

// StandardScore is one standard's result, the headline of its scorecard.
type StandardScore struct {
	Standard string  `json:"standard"`
	Name     string  `json:"name"`
	Score    float64 `json:"score"` // share of assessed provisions passing, 0-100
	Assessed int     `json:"assessed"`
	Passed   int     `json:"passed"`
	Failed   int     `json:"failed"`
	// DevicesPassingPct is the share of the fleet no failing finding
	// affects (absent for an empty fleet).
	DevicesPassingPct *float64 `json:"devices_passing_pct,omitempty"`
}

// Exposure counts the fleet's devices that run vulnerable firmware.
type Exposure struct {
	Devices           int `json:"devices"`            // devices in the fleet
	WithoutSBOM       int `json:"without_sbom"`       // devices whose firmware has no SBOM
	VulnerableDevices int `json:"vulnerable_devices"` // devices with at least one matching advisory
	KEVDevices        int `json:"kev_devices"`        // devices with at least one known-exploited one
	// Advisories counts the distinct advisories that affect a device, by
	// severity (critical, high, medium, low, none, unknown); KEV those in
	// CISA's Known Exploited Vulnerabilities catalogue.
	Advisories map[string]int `json:"advisories"`
	KEV        int            `json:"kev"`
}

// Summary computes the fleet's compliance scores from the stored findings
// and its vulnerability exposure. It reads every device once (SBOM
// matches are computed once per model and firmware), so its cost grows
// with the fleet; callers that poll it should not do so more than every
// few seconds.
func (s *Service) Summary(ctx context.Context) (Summary, error) {
	out := Summary{Standards: []StandardScore{}}
	devs, err := s.opts.Store.ListDevices(ctx)
	if err != nil {
		return out, fmt.Errorf("list devices: %w", err)
	}
	ex := Exposure{Devices: len(devs), Advisories: map[string]int{}}
	seen := map[string]bool{}
	m := &matcher{s: s, cache: map[string]*vuln.Result{}}
	for _, d := range devs {
		r, ok, err := m.match(ctx, d.Model, d.Firmware)
		if err != nil {
			return out, err
		}
		if !ok {
			ex.WithoutSBOM++
		}
		if r == nil || len(r.Findings) == 0 {
			continue
		}
		ex.VulnerableDevices++
		kev := false
		for _, f := range r.Findings {
			kev = kev || f.KEV
			if seen[f.AdvisoryID] {
				continue
			}
			seen[f.AdvisoryID] = true
			ex.Advisories[severityWord(f.Severity)]++
			if f.KEV {
				ex.KEV++
			}
		}
		if kev {
			ex.KEVDevices++
		}
	}
	out.Vulnerabilities = ex

	last, err := s.lastAudit(ctx)
	if err != nil || last.IsZero() {
		return out, err
	}
	out.LastAudit = last
	fs, err := s.Findings(ctx, false)
	if err != nil {
		return out, err
	}
	for _, std := range []string{audit.StandardETSI, audit.StandardNIST, audit.StandardCRA} {
		card, err := audit.Score(fs, std, len(devs))
		if err != nil {
			return out, err
		}
		out.Standards = append(out.Standards, StandardScore{Standard: card.Standard, Name: card.Name, Score: card.Score,
			Assessed: card.Assessed, Passed: card.Passed, Failed: card.Failed, DevicesPassingPct: card.DevicesPassingPct})
	}
	return out, nil
}

// lastAudit returns when the latest audit run recorded its findings: each
// run adds a point to the trend (zero: none in the last year).
func (s *Service) lastAudit(ctx context.Context) (time.Time, error) {
	ps, err := s.opts.Store.ListTrend(ctx, s.opts.Now().AddDate(-1, 0, 0))
	if err != nil {
		return time.Time{}, fmt.Errorf("list audit trend: %w", err)
	}
	if len(ps) == 0 {
		return time.Time{}, nil
	}
	return ps[len(ps)-1].Time, nil
}
