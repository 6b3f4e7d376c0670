package audit

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/wardproject/ward/internal/vuln"
)

// kevGroup is the fleet's exposure to one KEV CVE.
type kevGroup struct {
	cve        string
	devices    []int32
	advisories []string
	packages   []string
	added, due string
	ransomware bool
}

// vulnRating maps an advisory severity to a finding severity and a
// label; unrated advisories count as medium.
func vulnRating(s vuln.Severity) (Severity, string) {
	r := s.Rating
	if r == "" && s.Score > 0 {
		switch {
		case s.Score >= 9:
			r = "CRITICAL"
		case s.Score >= 7:
			r = "HIGH"
		case s.Score >= 4:
			r = "MEDIUM"
		default:
			r = "LOW"
		}
	}
	switch r {
	case "CRITICAL":
		return Critical, "critical"
	case "HIGH":
		return High, "high"
	case "MEDIUM":
		return Medium, "medium"
	case "LOW":
		return Low, "low"
	case "NONE":
		return Info, "none"
	}
	return Medium, "unrated"
}

var ratingOrder = []string{"critical", "high", "medium", "low", "none", "unrated"}

// checkVulns summarises one device's known vulnerabilities and adds it
// to the KEV exposure groups.
func (a *auditor) checkVulns(d int32, dv *DeviceVulns) {
	if len(dv.Findings) == 0 {
		return
	}
	dev := &a.s.Devices[d]
	seen := make([]string, 0, len(dv.Findings))
	var counts [6]int
	var kevs []string
	fixable := 0
	sev := Info
	for i := range dv.Findings {
		f := &dv.Findings[i]
		if slices.Contains(seen, f.AdvisoryID) {
			continue
		}
		seen = append(seen, f.AdvisoryID)
		s, label := vulnRating(f.Severity)
		counts[slices.Index(ratingOrder, label)]++
		if s.Rank() > sev.Rank() {
			sev = s
		}
		if f.Fixed != "" {
			fixable++
		}
		if f.KEV {
			sev = Critical
			cve := cmp.Or(f.KEVCVE, f.AdvisoryID)
			if !slices.Contains(kevs, cve) {
				kevs = append(kevs, cve)
			}
			g := a.kev[cve]
			if g == nil {
				g = &kevGroup{cve: cve, added: f.KEVDateAdded, due: f.KEVDueDate}
				a.kev[cve] = g
			}
			if n := len(g.devices); n == 0 || g.devices[n-1] != d {
				g.devices = append(g.devices, d)
			}
			if !slices.Contains(g.advisories, f.AdvisoryID) {
				g.advisories = append(g.advisories, f.AdvisoryID)
			}
			if pkg := f.Package; pkg != "" && !slices.Contains(g.packages, pkg) {
				g.packages = append(g.packages, pkg)
			}
			g.ransomware = g.ransomware || f.KnownRansomware
		}
	}
	var parts []string
	for i, n := range counts {
		if n > 0 {
			parts = append(parts, itoa(n)+" "+ratingOrder[i])
		}
	}
	ev := fmt.Sprintf("firmware %s %s: %s (%s)", dev.Model, dev.Firmware,
		plural(len(seen), "known vulnerability", "known vulnerabilities"), strings.Join(parts, ", "))
	if len(kevs) > 0 {
		slices.Sort(kevs)
		ev += fmt.Sprintf("; %d in CISA KEV (%s)", len(kevs), strings.Join(kevs, ", "))
	}
	ev += fmt.Sprintf("; a fixed version is known for %d", fixable)
	a.add(CheckFirmwareVulnerable, sev, ev, deviceRes(dev.ID))
}

// checkModels reports per model (support period, ACL grants) and per
// model × firmware (outdated, SBOM) and the fleet's KEV exposure.
func (a *auditor) checkModels() {
	for _, ms := range a.models {
		n := len(ms.devices)
		if n == 0 {
			continue
		}
		head := []string{"model:" + ms.name}
		count := plural(n, "device", "devices")
		m := ms.m
		switch {
		case m == nil:
			a.add(CheckModelNoSupportPeriod, "", fmt.Sprintf("model %q (%s) has no metadata, so no declared support period", ms.name, count), a.devicesRes(head, ms.devices)...)
		case m.SupportEnds.IsZero():
			a.add(CheckModelNoSupportPeriod, "", fmt.Sprintf("model %q (%s) declares no end of security support", ms.name, count), a.devicesRes(head, ms.devices)...)
		case !m.SupportEnds.After(a.now):
			a.add(CheckModelSupportEnded, "", fmt.Sprintf("security support for model %q ended on %s (%s ago); %s still in use",
				ms.name, date(m.SupportEnds), days(a.now.Sub(m.SupportEnds)), count), a.devicesRes(head, ms.devices)...)
		case m.SupportEnds.Sub(a.now) <= a.o.SupportEndingWithin:
			a.add(CheckModelSupportEnding, "", fmt.Sprintf("security support for model %q ends on %s (in %s; threshold %s); %s in use",
				ms.name, date(m.SupportEnds), days(m.SupportEnds.Sub(a.now)), days(a.o.SupportEndingWithin), count), a.devicesRes(head, ms.devices)...)
		}
		if m != nil {
			if bad := permissive(m.Policy, ""); len(bad) > 0 {
				a.add(CheckACLOverlyPermissive, "", fmt.Sprintf("model %q policy (%s) grants %s", ms.name, count, strings.Join(bad, "; ")), a.devicesRes(head, ms.devices)...)
			}
		}
	}
	for k, g := range a.fw {
		res := func() []string { return a.devicesRes([]string{"firmware:" + k.model + "@" + k.firmware}, g.devices) }
		count := plural(len(g.devices), "device", "devices")
		if !g.sbom {
			a.add(CheckSBOMMissing, "", fmt.Sprintf("no SBOM imported for model %q firmware %q (%s)", k.model, k.firmware, count), res()...)
		} else if g.unmatched+g.undecided > 0 {
			a.add(CheckSBOMCoverage, "", fmt.Sprintf("SBOM for model %q firmware %q: %s could not be looked up and %s could not be decided (%s)",
				k.model, k.firmware, plural(g.unmatched, "component", "components"), plural(g.undecided, "advisory match", "advisory matches"), count), res()...)
		}
		ms := a.models[k.model]
		if ms == nil || ms.m == nil || ms.m.LatestFirmware == "" || k.firmware == ms.m.LatestFirmware || ms.m.LatestFirmwareReleased.IsZero() {
			continue
		}
		m := ms.m
		if rel, ok := m.Releases[k.firmware]; ok {
			if lag := m.LatestFirmwareReleased.Sub(rel); lag > a.o.FirmwareLag {
				a.add(CheckFirmwareOutdated, "", fmt.Sprintf("%s of model %q %s firmware %s (released %s), %s older than the latest %s (released %s; threshold %s)",
					count, k.model, runs(len(g.devices)), k.firmware, date(rel), days(lag), m.LatestFirmware, date(m.LatestFirmwareReleased), days(a.o.FirmwareLag)), res()...)
			}
		} else if avail := a.now.Sub(m.LatestFirmwareReleased); avail > a.o.FirmwareLag {
			a.add(CheckFirmwareOutdated, "", fmt.Sprintf("%s of model %q %s firmware %s, not the latest %s, which has been available since %s (%s; threshold %s)",
				count, k.model, runs(len(g.devices)), k.firmware, m.LatestFirmware, date(m.LatestFirmwareReleased), days(avail), days(a.o.FirmwareLag)), res()...)
		}
	}
	for _, g := range a.kev {
		slices.Sort(g.advisories)
		slices.Sort(g.packages)
		ev := fmt.Sprintf("%s (CISA KEV, added %s, due %s) affects %s through %s in %s",
			g.cve, cmp.Or(g.added, "unknown"), cmp.Or(g.due, "unknown"), plural(len(g.devices), "device", "devices"),
			strings.Join(g.advisories, ", "), strings.Join(g.packages, ", "))
		if g.ransomware {
			ev += "; known to be used in ransomware campaigns"
		}
		ev += "; CRA Article 14(2)(a): early warning due within 24 hours of becoming aware"
		a.add(CheckKEVExposure, "", ev, a.devicesRes([]string{"vulnerability:" + g.cve}, g.devices)...)
	}
}

// checkTokens reports enrollment tokens that expired unused.
func (a *auditor) checkTokens() {
	for i := range a.s.EnrollTokens {
		t := &a.s.EnrollTokens[i]
		if !t.UsedAt.IsZero() || t.ExpiresAt.IsZero() || t.ExpiresAt.After(a.now) {
			continue
		}
		id := fmt.Sprintf("%x", t.Hash)
		if len(id) > 12 {
			id = id[:12]
		}
		a.add(CheckEnrollTokenExpired, "", fmt.Sprintf("enrollment token for device %s created %s expired unused on %s",
			t.DeviceID, date(t.CreatedAt), date(t.ExpiresAt)), "enroll-token:"+t.DeviceID+"/"+id, deviceRes(t.DeviceID))
	}
}

// checkFeeds reports vulnerability feeds that are stale or missing.
func (a *auditor) checkFeeds() {
	var osv, kev bool
	for _, f := range a.s.Feeds {
		if f.Name == "kev" {
			kev = !f.ImportedAt.IsZero()
		} else if strings.HasPrefix(f.Name, "osv/") && !f.ImportedAt.IsZero() {
			osv = true
		}
		if f.ImportedAt.IsZero() {
			continue
		}
		if age := a.now.Sub(f.ImportedAt); age > a.o.FeedMaxAge {
			ev := fmt.Sprintf("feed %s was last imported on %s (%s ago; threshold %s)", f.Name, date(f.ImportedAt), days(age), days(a.o.FeedMaxAge))
			if f.Version != "" {
				ev += ", catalog version " + f.Version
			}
			a.add(CheckVulnFeedStale, "", ev, "feed:"+f.Name)
		}
	}
	if !osv {
		a.add(CheckVulnFeedMissing, "", "no OSV advisories have been imported: firmware vulnerabilities cannot be found", "feed:osv")
	}
	if !kev {
		a.add(CheckVulnFeedMissing, "", "the CISA KEV catalogue has never been imported: no vulnerability can be flagged as actively exploited (CRA Article 14)", "feed:kev")
	}
}

func runs(n int) string {
	if n == 1 {
		return "runs"
	}
	return "run"
}
