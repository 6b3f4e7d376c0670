package audit

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strings"
)

// ErrUnknownStandard is returned by Score for a standard id it does not
// know.
var ErrUnknownStandard = errors.New("unknown standard")

// ProvisionStatus is the outcome for one provision.
type ProvisionStatus string

// Provision outcomes.
const (
	Pass        ProvisionStatus = "pass"
	Fail        ProvisionStatus = "fail"
	NotAssessed ProvisionStatus = "not-assessed" // no Ward check assesses it
)

// ProvisionScore is one provision's result.
type ProvisionScore struct {
	Provision string          `json:"provision"` // full id, "ETSI EN 303 645 5.3-13"
	Ref       string          `json:"ref"`       // "5.3-13"
	Group     string          `json:"group"`     // "5.3"
	Text      string          `json:"text"`
	Status    ProvisionStatus `json:"status"`
	// Checks are the checks that assess the provision.
	Checks []string `json:"checks,omitempty"`
	// Findings are the indexes, in the slice given to Score, of the open
	// findings that fail the provision.
	Findings []int `json:"findings,omitempty"`
	// ByCheck summarises Findings per check, worst first.
	ByCheck []CheckCount `json:"by_check,omitempty"`
	// Worst is the highest severity among Findings.
	Worst Severity `json:"worst,omitempty"`
	// Resources is the number of distinct resources the findings name.
	Resources int `json:"resources"`
	// Suppressed counts suppressed findings that would otherwise fail it.
	Suppressed int `json:"suppressed,omitempty"`
	// DevicesFailing is the number of fleet devices the findings affect
	// (every device for a server or CA finding); DevicesPassingPct the
	// share of the fleet not affected, or nil when the provision is
	// about processes rather than devices or the fleet size is unknown.
	DevicesFailing    int      `json:"devices_failing"`
	DevicesPassingPct *float64 `json:"devices_passing_pct,omitempty"`
}

// CheckCount is how many open findings of one check fail a provision.
type CheckCount struct {
	Check     string   `json:"check"`
	Title     string   `json:"title"`
	Severity  Severity `json:"severity"` // worst of its findings
	Findings  int      `json:"findings"`
	Resources int      `json:"resources"`
}

// Scorecard is a standard's compliance summary.
type Scorecard struct {
	Standard    string           `json:"standard"` // "cra"
	Name        string           `json:"name"`
	Provisions  []ProvisionScore `json:"provisions"`
	Assessed    int              `json:"assessed"`
	Passed      int              `json:"passed"`
	Failed      int              `json:"failed"`
	NotAssessed int              `json:"not_assessed"`
	// Score is the share of assessed provisions that pass, 0–100, one
	// decimal.
	Score float64 `json:"score"`
	// FleetDevices is the fleet size given to Score; DevicesPassing the
	// devices no failing finding of this standard affects, and
	// DevicesPassingPct its share (nil when the fleet size is 0).
	FleetDevices      int      `json:"fleet_devices"`
	DevicesPassing    int      `json:"devices_passing"`
	DevicesPassingPct *float64 `json:"devices_passing_pct,omitempty"`
}

// Score computes the compliance of a fleet of fleetDevices devices with
// a standard ("etsi-en-303-645", "nist-ir-8259a", "cra") from findings.
//
// A provision that no check in [Checks] assesses is not-assessed. An
// assessed provision fails when at least one open finding maps to it
// (open: not resolved, not suppressed, severity above info), and passes
// otherwise. The overall Score is the share of assessed provisions that
// pass. Devices are counted from the findings' "device:" resources;
// findings of fleet-scoped checks (server, CA) count every device.
func Score(findings []Finding, standard string, fleetDevices int) (Scorecard, error) {
	std, ok := LookupStandard(standard)
	if !ok {
		return Scorecard{}, fmt.Errorf("score %q: %w (want %s, %s or %s)", standard, ErrUnknownStandard, StandardETSI, StandardNIST, StandardCRA)
	}
	sc := Scorecard{Standard: std.ID, Name: std.Name, FleetDevices: fleetDevices}
	pos := make(map[string]int, len(std.Items))
	sc.Provisions = make([]ProvisionScore, len(std.Items))
	deviceMeaning := make([]bool, len(std.Items))
	for i, p := range std.Items {
		pos[p.ID] = i
		sc.Provisions[i] = ProvisionScore{Provision: p.ID, Ref: p.Ref, Group: p.Group, Text: p.Text, Status: NotAssessed}
	}
	for _, c := range catalog {
		for _, id := range c.Standards {
			if i, ok := pos[id]; ok {
				sc.Provisions[i].Checks = append(sc.Provisions[i].Checks, c.ID)
				sc.Provisions[i].Status = Pass
				deviceMeaning[i] = deviceMeaning[i] || c.Scope != ScopeProcess
			}
		}
	}
	for i := range sc.Provisions {
		slices.Sort(sc.Provisions[i].Checks)
	}

	// Resources and devices get dense indexes; each provision keeps
	// bitsets of them, so a million-device fleet costs bits, not maps.
	resIdx := map[string]int{}
	devIdx := map[string]int{}
	type acc struct {
		res, dev bitset
		allDevs  bool
		perCheck map[string]*CheckCount
		checkRes map[string]bitset
	}
	accs := make([]*acc, len(std.Items))
	var fleetAll bool
	var failDev bitset
	for fi := range findings {
		f := &findings[fi]
		open := f.ResolvedAt.IsZero() && f.Severity != Info
		if !open {
			continue
		}
		var targets []int
		for _, id := range f.Standards {
			if i, ok := pos[id]; ok && !slices.Contains(targets, i) {
				targets = append(targets, i)
			}
		}
		if len(targets) == 0 {
			continue
		}
		if f.Suppressed {
			for _, i := range targets {
				sc.Provisions[i].Suppressed++
			}
			continue
		}
		fleetWide := false
		if c, ok := checkByID[f.Check]; ok && c.Scope == ScopeFleet {
			fleetWide = true
		}
		var ridx, didx []int
		for _, r := range f.Resources {
			ri, ok := resIdx[r]
			if !ok {
				ri = len(resIdx)
				resIdx[r] = ri
			}
			ridx = append(ridx, ri)
			if d, ok := strings.CutPrefix(r, "device:"); ok {
				di, ok := devIdx[d]
				if !ok {
					di = len(devIdx)
					devIdx[d] = di
				}
				didx = append(didx, di)
			}
		}
		if fleetWide {
			fleetAll = true
		}
		for _, di := range didx {
			failDev.set(di)
		}
		for _, i := range targets {
			p := &sc.Provisions[i]
			p.Status = Fail
			p.Findings = append(p.Findings, fi)
			if f.Severity.Rank() > p.Worst.Rank() {
				p.Worst = f.Severity
			}
			a := accs[i]
			if a == nil {
				a = &acc{perCheck: map[string]*CheckCount{}, checkRes: map[string]bitset{}}
				accs[i] = a
			}
			a.allDevs = a.allDevs || fleetWide
			for _, ri := range ridx {
				a.res.set(ri)
			}
			for _, di := range didx {
				a.dev.set(di)
			}
			cc := a.perCheck[f.Check]
			if cc == nil {
				cc = &CheckCount{Check: f.Check, Title: f.Title}
				a.perCheck[f.Check] = cc
			}
			cc.Findings++
			if f.Severity.Rank() > cc.Severity.Rank() {
				cc.Severity = f.Severity
			}
			b := a.checkRes[f.Check]
			for _, ri := range ridx {
				b.set(ri)
			}
			a.checkRes[f.Check] = b
		}
	}
	pct := func(pass, total int) *float64 {
		if total <= 0 {
			return nil
		}
		v := math.Round(float64(pass)/float64(total)*1000) / 10
		return &v
	}
	for i := range sc.Provisions {
		p := &sc.Provisions[i]
		switch p.Status {
		case NotAssessed:
			sc.NotAssessed++
			continue
		case Pass:
			sc.Passed++
		case Fail:
			sc.Failed++
		}
		sc.Assessed++
		if a := accs[i]; a != nil {
			p.Resources = a.res.count()
			p.DevicesFailing = a.dev.count()
			if a.allDevs {
				p.DevicesFailing = max(fleetDevices, p.DevicesFailing)
			}
			for name, cc := range a.perCheck {
				cc.Resources = a.checkRes[name].count()
				p.ByCheck = append(p.ByCheck, *cc)
			}
			slices.SortFunc(p.ByCheck, func(x, y CheckCount) int {
				if d := y.Severity.Rank() - x.Severity.Rank(); d != 0 {
					return d
				}
				return strings.Compare(x.Check, y.Check)
			})
		}
		if deviceMeaning[i] {
			p.DevicesPassingPct = pct(max(fleetDevices-p.DevicesFailing, 0), fleetDevices)
		}
	}
	if sc.Assessed > 0 {
		sc.Score = math.Round(float64(sc.Passed)/float64(sc.Assessed)*1000) / 10
	}
	failing := failDev.count()
	if fleetAll {
		failing = fleetDevices
	}
	sc.DevicesPassing = max(fleetDevices-failing, 0)
	sc.DevicesPassingPct = pct(sc.DevicesPassing, fleetDevices)
	return sc, nil
}

// bitset is a growable set of small non-negative integers.
type bitset []uint64

func (b *bitset) set(i int) {
	w := i / 64
	for len(*b) <= w {
		*b = append(*b, 0)
	}
	(*b)[w] |= 1 << (uint(i) % 64)
}

func (b bitset) count() int {
	n := 0
	for _, w := range b {
		n += bits.OnesCount64(w)
	}
	return n
}
