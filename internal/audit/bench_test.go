package audit

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/vuln"
)

// syntheticFleet builds an in-memory snapshot of n devices, each with
// its own certificate (a real P-256 certificate whose public key bytes
// are rewritten per device: the audit reads keys, it does not verify
// signatures or points), connections, and exposure; a few per cent of
// devices fail some check.
func syntheticFleet(tb testing.TB, n int) *Snapshot {
	tb.Helper()
	certs := loadCerts(tb)
	tmpl := certs["good-1"]
	spki := mustParse(tb, tmpl).RawSubjectPublicKeyInfo
	off := bytes.Index(tmpl, spki) + len(spki) - 8
	now := fixtureNow
	s := &Snapshot{
		Now: now, Root: mustParse(tb, certs["root"]), Issuer: mustParse(tb, certs["issuer"]), Window: 24 * time.Hour,
		Server: ServerFacts{MinTLSVersion: tls.VersionTLS12, AuditLogEnabled: true, AuditLogIntact: true, EventLogEnabled: true,
			CAKeyEncrypted: true, MaxMessageBytes: 65536, ConnectsPerMin: 10, TokenTTL: 24 * time.Hour, DeviceCertMaxAge: 365 * day},
		Devices:         make([]store.Device, n),
		Certificates:    make([]store.Certificate, n),
		Connections:     make(map[string]DeviceConnections, n),
		DeviceReports:   make(map[string]DeviceReport, n/10),
		Vulnerabilities: make(map[string]DeviceVulns, n),
		Feeds:           []vuln.Feed{{Name: "osv/Alpine", ImportedAt: now.Add(-day)}, {Name: "kev", ImportedAt: now.Add(-day)}},
	}
	models := []string{"acme-th1", "cam-x", "plug-9"}
	for _, m := range models {
		s.Models = append(s.Models, Model{Name: m, SupportEnds: dt(2031, 1, 1), LatestFirmware: "2.9", LatestFirmwareReleased: dt(2026, 1, 1),
			Releases: map[string]time.Time{"2.9": dt(2026, 1, 1), "2.0": dt(2025, 1, 1)},
			Policy:   store.Policy{Subscribe: []string{"fleet/" + m + "/config"}}})
	}
	kev := vuln.Finding{AdvisoryID: "ALPINE-CVE-2023-4911", Package: "musl", Installed: "1.2.4-r0", Fixed: "1.2.4-r1",
		Severity: vuln.Severity{Score: 7.8, Rating: "HIGH"}, KEV: true, KEVCVE: "CVE-2023-4911", KEVDateAdded: "2023-11-21"}
	med := vuln.Finding{AdvisoryID: "OSV-2024-1", Package: "busybox", Installed: "1.36.0", Severity: vuln.Severity{Rating: "MEDIUM"}}
	arena := make([]byte, len(tmpl)*n)
	for i := range n {
		id := fmt.Sprintf("d-%07d", i)
		fw := "2.9"
		if i%50 == 0 {
			fw = "2.0"
		}
		seen := now.Add(-time.Hour)
		if i%97 == 0 {
			seen = now.Add(-40 * day)
		}
		s.Devices[i] = store.Device{ID: id, Model: models[i%3], Firmware: fw, Status: store.StatusActive,
			CreatedAt: dt(2025, 6, 1), LastSeen: seen}
		der := arena[i*len(tmpl) : (i+1)*len(tmpl) : (i+1)*len(tmpl)]
		copy(der, tmpl)
		binary.BigEndian.PutUint64(der[off:], uint64(i))
		serial := fmt.Sprintf("%016x", 0x10000000+i)
		na := dt(2026, 12, 1)
		if i%200 == 0 {
			na = now.Add(10 * day)
		}
		s.Certificates[i] = store.Certificate{Serial: serial, DeviceID: id, Subject: "CN=" + id, Kind: "device",
			NotBefore: dt(2026, 1, 1), NotAfter: na, IssuedAt: dt(2026, 1, 1), DER: der}
		s.Connections[id] = DeviceConnections{SourceIPs: []string{"10.1.2.3"}, ClientIDs: []string{id}, Serials: []string{serial}, Connects: 4, LastConnection: seen}
		if i%10 == 0 {
			r := DeviceReport{ListeningTCP: []int{22, 443}, At: seen}
			if i%1000 == 0 {
				r.ListeningTCP = append(r.ListeningTCP, 23)
			}
			s.DeviceReports[id] = r
		}
		dv := DeviceVulns{SBOM: true}
		if i%100 == 0 {
			dv.Findings = []vuln.Finding{kev, med}
		}
		s.Vulnerabilities[id] = dv
	}
	return s
}

// BenchmarkAudit1M audits a synthetic fleet of 1,000,000 devices and
// certificates held in memory (the store-backed end-to-end benchmark is
// the server's). Reported: ns/device and the bytes allocated per run.
func BenchmarkAudit1M(b *testing.B) {
	const n = 1_000_000
	s := syntheticFleet(b, n)
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	var findings int
	for b.Loop() {
		findings = len(Run(s, Options{}))
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/device")
	b.ReportMetric(float64(findings), "findings")
}
