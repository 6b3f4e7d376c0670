package report

import (
	"testing"
	"time"

	"github.com/wardproject/ward/internal/audit"
	"github.com/wardproject/ward/internal/vuln"
)

var now = time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)

func d(y int, m time.Month, day int) time.Time { return time.Date(y, m, day, 0, 0, 0, 0, time.UTC) }

// finding builds a finding of a catalogued check.
func finding(check string, sev audit.Severity, evidence string, first time.Time, resources ...string) audit.Finding {
	c, ok := audit.LookupCheck(check)
	if !ok {
		panic(check)
	}
	if sev == "" {
		sev = c.Severity
	}
	return audit.Finding{Check: check, Title: c.Title, Severity: sev, Resources: resources, Evidence: evidence,
		Remediation: c.Remediation, Standards: c.Standards, ID: "f-" + check, FirstSeen: first, LastSeen: now}
}

// fixtureReport is a small fleet's report: 12 devices, three models, a
// KEV exposure, resolved and suppressed findings, and a month of trend.
func fixtureReport(t testing.TB, standard string) Report {
	t.Helper()
	findings := []audit.Finding{
		finding(audit.CheckKEVExposure, "", "CVE-2023-4911 (CISA KEV, added 2023-11-21, due 2023-12-12) affects 2 devices through ALPINE-CVE-2023-4911 in musl", d(2026, 2, 3),
			"vulnerability:CVE-2023-4911", "device:cam-01", "device:cam-02"),
		finding(audit.CheckFirmwareVulnerable, audit.Critical, "firmware cam-x 1.0.0: 3 known vulnerabilities (1 critical, 1 high, 1 low); 1 in CISA KEV (CVE-2023-4911)", d(2026, 2, 3), "device:cam-01"),
		finding(audit.CheckFirmwareVulnerable, audit.Critical, "firmware cam-x 1.0.0: 3 known vulnerabilities (1 critical, 1 high, 1 low); 1 in CISA KEV (CVE-2023-4911)", d(2026, 2, 3), "device:cam-02"),
		finding(audit.CheckInsecureService, audit.Critical, "listening: tcp/23 Telnet (device report, network sensor)", d(2026, 2, 20), "device:plug-07"),
		finding(audit.CheckDefaultCredential, "", "open tcp/23 Telnet: the usual route for default or universal credentials", d(2026, 2, 20), "device:plug-07"),
		finding(audit.CheckPasswordAuth, "", "the MQTT gateway accepts username/password authentication", d(2026, 1, 10), "server"),
		finding(audit.CheckModelSupportEnded, "", `security support for model "cam-x" ended on 2025-12-31 (60 days ago); 2 devices still in use`, d(2026, 1, 1), "model:cam-x", "device:cam-01", "device:cam-02"),
		finding(audit.CheckDeviceCertExpiring, "", "certificate a004 expires on 2026-03-15 (in 14 days; threshold 30 days) and no newer certificate was issued", d(2026, 2, 14), "device:th-03", "certificate:a004"),
		finding(audit.CheckModelNoSupportPeriod, "", `model "plug-9" (2 devices) declares no end of security support`, d(2026, 1, 1), "model:plug-9", "device:plug-07", "device:plug-08"),
		finding(audit.CheckSBOMMissing, "", `no SBOM imported for model "plug-9" firmware "3.0" (<script>alert(1)</script>)`, d(2026, 1, 1), "firmware:plug-9@3.0", "device:plug-07"),
		finding(audit.CheckDeviceNotSeen, "", "last seen 2026-01-05 (55 days ago; threshold 30 days)", d(2026, 2, 4), "device:th-09"),
		finding(audit.CheckVulnFeedStale, "", "feed kev was last imported on 2026-01-15 (45 days ago; threshold 7 days)", d(2026, 1, 22), "feed:kev"),
		finding(audit.CheckModelNoSignedUpdates, "", `Ward's update repository holds no signed firmware for model "cam-x" (2 devices in use): Ward cannot deliver a verified update to them`, d(2026, 2, 1),
			"model:cam-x", "device:cam-01", "device:cam-02"),
		finding(audit.CheckEnrollTokenExpired, "", "enrollment token for device th-12 created 2026-01-10 expired unused on 2026-02-09", d(2026, 2, 9), "enroll-token:th-12/deadbeef", "device:th-12"),
	}
	resolved := finding(audit.CheckTLSVersion, "", "the minimum TLS version is TLS 1.1", d(2026, 1, 10), "server")
	resolved.ResolvedAt = d(2026, 2, 1)
	suppressed := finding(audit.CheckDeviceCertManySources, "", "the device's certificate was presented from 8 source addresses in the last 24 hours (threshold 5): =cmd|' /C calc'!A0", d(2026, 2, 10), "device:th-05")
	suppressed.Suppressed = true
	findings = append(findings, resolved, suppressed)
	sc, err := audit.Score(findings, standard, 12)
	if err != nil {
		t.Fatal(err)
	}
	kev := vuln.Finding{AdvisoryID: "ALPINE-CVE-2023-4911", Aliases: []string{"CVE-2023-4911"}, Summary: "glibc ld.so GLIBC_TUNABLES buffer overflow (Looney Tunables)",
		Package: "glibc", Ecosystem: "Alpine:v3.18", Installed: "2.37-r0", Fixed: "2.37-r1", Severity: vuln.Severity{Score: 7.8, Rating: "HIGH", Vector: "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", Source: "CVSS_V3"},
		KEV: true, KEVCVE: "CVE-2023-4911", KEVDateAdded: "2023-11-21", KEVDueDate: "2023-12-12"}
	crit := vuln.Finding{AdvisoryID: "GHSA-7rjr-3q55-vv33", Aliases: []string{"CVE-2024-1234"}, Package: "openssl", Installed: "3.1.0-r0", Fixed: "3.1.4-r0", Severity: vuln.Severity{Rating: "CRITICAL"}}
	low := vuln.Finding{AdvisoryID: "OSV-2024-1", Package: "busybox", Installed: "1.36.0", Severity: vuln.Severity{Score: 3.1, Rating: "LOW"}}
	unrated := vuln.Finding{AdvisoryID: "OSV-2025-77", Package: "zlib", Installed: "1.2.13"}
	exp := BuildExposure(map[string][]vuln.Finding{
		"cam-01": {kev, crit, low}, "cam-02": {kev, crit, low, kev}, "th-01": {low}, "th-02": {low, unrated}, "th-03": {low}, "th-04": {},
	}, map[string]DeviceInfo{"cam-01": {"cam-x", "1.0.0"}, "cam-02": {"cam-x", "1.0.0"}, "th-01": {"acme-th1", "2.0.1"}, "th-02": {"acme-th1", "2.0.1"}, "th-03": {"acme-th1", "2.0.1"}})
	var trends []TrendPoint
	for i := range 8 {
		trends = append(trends, TrendPoint{At: d(2026, 1, 5).AddDate(0, 0, 7*i), Critical: []int{0, 0, 1, 1, 3, 4, 4, 4}[i], High: []int{5, 5, 4, 3, 3, 2, 2, 1}[i],
			Medium: []int{6, 7, 7, 6, 5, 5, 4, 4}[i], Low: []int{2, 2, 3, 3, 3, 2, 2, 1}[i], Info: 1})
	}
	return Report{
		Generated: now,
		Title:     "Acme Site 3 fleet security report",
		Fleet: FleetSummary{Devices: 12, ByStatus: map[string]int{"active": 11, "pending": 1},
			Models: []ModelSummary{{Name: "acme-th1", Devices: 8, LatestFirmware: "2.0.1", SupportEnds: d(2030, 12, 31),
				LatestFirmwareReleased: d(2026, 3, 1), LatestFirmwareSource: "repository", PatchLevel: &PatchLevel{OnLatest: 5, Behind: 2, Other: 1}}, {Name: "cam-x", Devices: 2, LatestFirmware: "1.4.0", SupportEnds: d(2025, 12, 31)}, {Name: "plug-9", Devices: 2, LatestFirmware: "3.1"}}},
		Scorecard: sc,
		Findings:  findings,
		Exposure:  exp,
		Trends:    trends,
	}
}
