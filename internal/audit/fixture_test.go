package audit

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/vuln"
)

// fixtureNow is the audit time of the fixture fleet.
var fixtureNow = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

func dt(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// loadCerts reads testdata/certs.pem: DER by the block's Name header.
func loadCerts(t testing.TB) map[string][]byte {
	t.Helper()
	data, err := os.ReadFile("testdata/certs.pem")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		out[b.Headers["Name"]] = b.Bytes
	}
	return out
}

func mustParse(t testing.TB, der []byte) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// cleanFleet is a small fleet that passes every check.
func cleanFleet(t testing.TB) *Snapshot {
	t.Helper()
	certs := loadCerts(t)
	s := &Snapshot{
		Now:    fixtureNow,
		Root:   mustParse(t, certs["root"]),
		Window: 24 * time.Hour,
		Server: ServerFacts{MinTLSVersion: tls.VersionTLS12, AuditLogEnabled: true, AuditLogIntact: true, EventLogEnabled: true,
			CAKeyEncrypted: true, MaxMessageBytes: 65536, ConnectsPerMin: 10, TokenTTL: 24 * time.Hour, DeviceCertMaxAge: 365 * day},
		Models: []Model{{Name: "acme-th1", SupportEnds: dt(2030, 12, 31), LatestFirmware: "2.0.1", LatestFirmwareReleased: dt(2025, 12, 1),
			Policy: store.Policy{Publish: []string{"devices/{id}/#"}, Subscribe: []string{"fleet/acme-th1/config", "devices/{id}/cmd/#"}}}},
		Feeds:           []vuln.Feed{{Name: "osv/Alpine", ImportedAt: dt(2026, 2, 28), Records: 94}, {Name: "kev", ImportedAt: dt(2026, 2, 27), Records: 1484, Version: "2026.02.27"}},
		Connections:     map[string]DeviceConnections{},
		DeviceReports:   map[string]DeviceReport{},
		NetworkServices: map[string][]string{},
		Vulnerabilities: map[string]DeviceVulns{},
	}
	for i := 1; i <= 3; i++ {
		id := fmt.Sprintf("d-good-%d", i)
		s.addDevice(t, certs, id, "acme-th1", "2.0.1", fmt.Sprintf("good-%d", i), dt(2026, 1, 1), dt(2026, 12, 31))
		s.Connections[id] = DeviceConnections{SourceIPs: []string{"10.0.0." + fmt.Sprint(i)}, ClientIDs: []string{id}, Serials: []string{s.Certificates[len(s.Certificates)-1].Serial}, Connects: 3, LastConnection: fixtureNow.Add(-time.Hour)}
		s.DeviceReports[id] = DeviceReport{ListeningTCP: []int{22}, At: fixtureNow.Add(-time.Hour)}
		s.Vulnerabilities[id] = DeviceVulns{SBOM: true}
	}
	s.Updates = &UpdateFacts{Repository: true,
		Expires:  map[string]time.Time{"root": dt(2027, 1, 1), "targets": dt(2026, 5, 1), "snapshot": fixtureNow.Add(5 * day), "timestamp": fixtureNow.Add(20 * time.Hour)},
		Releases: map[string][]Release{"acme-th1": {{Version: "2.0.0", Published: dt(2025, 9, 1), Notes: true}, {Version: "2.0.1", Published: dt(2025, 12, 1), Notes: true}}},
		Reports:  map[string]UpdateReport{"d-good-1": {Rollout: "r1", Version: "2.0.1", State: "installed", At: dt(2025, 12, 2)}},
	}
	s.Certificates = append(s.Certificates, store.Certificate{Serial: "5e01", Subject: "CN=mqtt.example.net", Kind: "server", NotBefore: dt(2026, 1, 1), NotAfter: dt(2026, 9, 1), IssuedAt: dt(2026, 1, 1), DER: certs["server"], Fingerprint: fp(certs["server"])})
	return s
}

func fp(der []byte) string { h := sha256.Sum256(der); return hex.EncodeToString(h[:]) }

// addDevice adds an active device with one certificate.
func (s *Snapshot) addDevice(t testing.TB, certs map[string][]byte, id, model, fw, cert string, nb, na time.Time) {
	t.Helper()
	der, ok := certs[cert]
	if !ok {
		t.Fatalf("no fixture certificate %q", cert)
	}
	s.Devices = append(s.Devices, store.Device{ID: id, Model: model, Firmware: fw, Status: store.StatusActive,
		CreatedAt: nb.Add(-time.Hour), UpdatedAt: nb, LastSeen: fixtureNow.Add(-2 * time.Hour)})
	serial := fmt.Sprintf("%x", 0xa000+len(s.Certificates))
	s.Certificates = append(s.Certificates, store.Certificate{Serial: serial, DeviceID: id, Subject: "CN=" + id, Kind: "device",
		NotBefore: nb, NotAfter: na, IssuedAt: nb, DER: der, Fingerprint: fp(der)})
}

func (s *Snapshot) device(id string) *store.Device {
	for i := range s.Devices {
		if s.Devices[i].ID == id {
			return &s.Devices[i]
		}
	}
	panic("no device " + id)
}

func (s *Snapshot) certOf(id string) *store.Certificate {
	for i := range s.Certificates {
		if s.Certificates[i].DeviceID == id {
			return &s.Certificates[i]
		}
	}
	panic("no certificate for " + id)
}

// fixtureFleet is the clean fleet plus one or more devices failing each
// check.
func fixtureFleet(t testing.TB) *Snapshot {
	t.Helper()
	certs := loadCerts(t)
	s := cleanFleet(t)
	s.Issuer = mustParse(t, certs["issuer-sha1"])
	s.IssuerRevoked = true
	s.Server = ServerFacts{PasswordAuth: true, PlaintextMQTT: true, MinTLSVersion: tls.VersionTLS11, AuditLogEnabled: true, AuditLogIntact: false,
		EventLogEnabled: false, CAKeyEncrypted: false, MaxMessageBytes: 0, ConnectsPerMin: 0, TokenTTL: 30 * day, DeviceCertMaxAge: 365 * day}
	s.Models[0].SupportEnds = dt(2026, 6, 30) // ending within 180 days
	s.Models = append(s.Models,
		Model{Name: "cam-x", SupportEnds: dt(2025, 12, 31), LatestFirmware: "1.4.0", LatestFirmwareReleased: dt(2025, 6, 1),
			Releases: map[string]time.Time{"1.0.0": dt(2024, 5, 1), "1.4.0": dt(2025, 6, 1)},
			Policy:   store.Policy{Publish: []string{"#"}, Subscribe: []string{"$SYS/#", "devices/{id}/cmd"}}},
		Model{Name: "plug-9", LatestFirmware: "3.1", LatestFirmwareReleased: dt(2025, 1, 10)},
	)
	add := func(id, model, fw, cert string, nb, na time.Time) *store.Device {
		s.addDevice(t, certs, id, model, fw, cert, nb, na)
		s.Vulnerabilities[id] = DeviceVulns{SBOM: true}
		return s.device(id)
	}
	add("d-expiring", "acme-th1", "2.0.1", "good-4", dt(2025, 3, 15), dt(2026, 3, 15))
	add("d-expired", "acme-th1", "2.0.1", "good-5", dt(2025, 2, 1), dt(2026, 2, 1))
	add("d-old", "acme-th1", "2.0.1", "good-6", dt(2024, 12, 1), dt(2027, 12, 1))
	add("d-rsa1024", "acme-th1", "2.0.1", "rsa1024", dt(2026, 1, 1), dt(2026, 12, 31))
	add("d-p224", "acme-th1", "2.0.1", "p224", dt(2026, 1, 1), dt(2026, 12, 31))
	add("d-sha1", "acme-th1", "2.0.1", "sha1", dt(2026, 1, 1), dt(2026, 12, 31))
	add("d-clone-a", "acme-th1", "2.0.1", "shared-a", dt(2026, 1, 1), dt(2026, 12, 31))
	add("d-clone-b", "acme-th1", "2.0.1", "shared-b", dt(2026, 1, 2), dt(2026, 12, 31))
	rv := add("d-revoked", "acme-th1", "2.0.1", "good-7", dt(2026, 1, 1), dt(2026, 12, 31))
	rv.Status = store.StatusRevoked
	rc := s.certOf("d-revoked")
	rc.RevokedAt, rc.RevokeReason = dt(2026, 2, 10), "keyCompromise"
	s.Connections["d-revoked"] = DeviceConnections{SourceIPs: []string{"203.0.113.9"}, Serials: []string{rc.Serial}, Refused: map[string]int{"revoked": 12}}
	add("d-roamer", "acme-th1", "2.0.1", "good-8", dt(2026, 1, 1), dt(2026, 12, 31))
	s.Connections["d-roamer"] = DeviceConnections{SourceIPs: []string{"198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4", "198.51.100.5", "198.51.100.6", "198.51.100.7", "198.51.100.8"},
		ClientIDs: []string{"sensor"}, Connects: 40}
	add("d-clientid", "acme-th1", "2.0.1", "good-9", dt(2026, 1, 1), dt(2026, 12, 31))
	s.Connections["d-clientid"] = DeviceConnections{SourceIPs: []string{"10.0.1.1"}, ClientIDs: []string{"sensor", "c1", "c2", "c3"}, Refused: map[string]int{"client-id": 2}}
	// d-clone-b presents d-clone-a's certificate too.
	s.Connections["d-clone-b"] = DeviceConnections{SourceIPs: []string{"10.0.2.2"}, Serials: []string{s.certOf("d-clone-a").Serial}}
	st := add("d-stale", "acme-th1", "2.0.1", "good-10", dt(2026, 1, 1), dt(2026, 12, 31))
	st.LastSeen = dt(2026, 1, 5)
	s.Devices = append(s.Devices, store.Device{ID: "d-pending", Model: "acme-th1", Firmware: "2.0.1", Status: store.StatusPending, CreatedAt: dt(2026, 1, 10)})
	s.EnrollTokens = []store.EnrollToken{
		{DeviceID: "d-pending", Hash: []byte{0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3}, CreatedAt: dt(2026, 1, 10), ExpiresAt: dt(2026, 2, 9)},
		{DeviceID: "d-good-1", Hash: []byte{1, 2, 3}, CreatedAt: dt(2025, 12, 31), ExpiresAt: dt(2026, 1, 30), UsedAt: dt(2025, 12, 31)},
	}
	add("d-telnet", "plug-9", "3.0", "good-11", dt(2026, 1, 1), dt(2026, 12, 31))
	s.DeviceReports["d-telnet"] = DeviceReport{ListeningTCP: []int{80, 23}, ListeningUDP: []int{1900}, At: fixtureNow.Add(-time.Hour)}
	s.NetworkServices["d-telnet"] = []string{"tcp/23"}
	s.Vulnerabilities["d-telnet"] = DeviceVulns{}
	add("d-adb", "plug-9", "3.1", "good-12", dt(2026, 1, 1), dt(2026, 12, 31))
	s.NetworkServices["d-adb"] = []string{"tcp/5555", "7547/tcp", "bogus", "tcp/443"}
	kev := vuln.Finding{AdvisoryID: "ALPINE-CVE-2023-4911", Aliases: []string{"CVE-2023-4911"}, Package: "musl", Ecosystem: "Alpine:v3.18",
		Installed: "1.2.4-r0", Fixed: "1.2.4-r1", Severity: vuln.Severity{Score: 7.8, Rating: "HIGH"}, KEV: true, KEVCVE: "CVE-2023-4911",
		KEVDateAdded: "2023-11-21", KEVDueDate: "2023-12-12"}
	high := vuln.Finding{AdvisoryID: "GHSA-xxxx-yyyy-zzzz", Package: "openssl", Ecosystem: "Alpine:v3.18", Installed: "3.1.0-r0",
		Severity: vuln.Severity{Rating: "CRITICAL"}}
	low := vuln.Finding{AdvisoryID: "OSV-2024-1", Package: "busybox", Installed: "1.36.0", Fixed: "1.36.1", Severity: vuln.Severity{Score: 3.1}}
	for _, id := range []string{"d-cam-1", "d-cam-2"} {
		cert := map[string]string{"d-cam-1": "good-13", "d-cam-2": "good-14"}[id]
		add(id, "cam-x", "1.0.0", cert, dt(2026, 1, 1), dt(2026, 12, 31))
		s.Vulnerabilities[id] = DeviceVulns{SBOM: true, Findings: []vuln.Finding{kev, high, low, kev}, Unmatched: 3, Undecided: 1}
	}
	s.device("d-cam-1").Policy = store.Policy{Subscribe: []string{"devices/+/status"}}
	s.Devices = append(s.Devices, store.Device{ID: "d-legacy", Model: "legacy-gw", Firmware: "0.9", Status: store.StatusActive, CreatedAt: dt(2025, 1, 1), LastSeen: fixtureNow.Add(-time.Hour)})
	s.Certificates = append(s.Certificates, store.Certificate{Serial: "5e02", Subject: "CN=est.example.net", Kind: "server", NotBefore: dt(2025, 3, 20), NotAfter: dt(2026, 3, 20), IssuedAt: dt(2025, 3, 20), DER: certs["server"], Fingerprint: fp(certs["server"])})
	s.Certificates = append(s.Certificates, store.Certificate{Serial: "5e03", Subject: "CN=api.example.net", Kind: "server", NotBefore: dt(2026, 1, 1), NotAfter: dt(2026, 12, 31), IssuedAt: dt(2026, 1, 1), DER: certs["rsa1024"], Fingerprint: fp(certs["rsa1024"])})
	s.Feeds = []vuln.Feed{{Name: "osv/Alpine", ImportedAt: dt(2026, 2, 28), Records: 94}, {Name: "kev", ImportedAt: dt(2026, 1, 15), Records: 1400, Version: "2026.01.15"}}
	// Updates: the timestamp expired (re-signing stopped), root needs its
	// ceremony within 30 days; cam-x has no signed release; plug-9's
	// latest has no notes and none of its devices ever reported; two
	// acme-th1 devices failed to install 2.0.1 (a third installed it,
	// then failed a later attempt that was retried: its latest report
	// counts, and it succeeded).
	s.Updates.Expires["timestamp"] = fixtureNow.Add(-3 * time.Hour)
	s.Updates.Expires["root"] = fixtureNow.Add(10 * day)
	s.Updates.Releases["plug-9"] = []Release{{Version: "3.0", Notes: true}, {Version: "3.1", MinVersion: "3.0"}}
	s.Updates.Reports["d-old"] = UpdateReport{Rollout: "r1", Version: "2.0.1", State: "failed", Reason: "install command exited with status 3", At: dt(2025, 12, 2)}
	s.Updates.Reports["d-stale"] = UpdateReport{Rollout: "r1", Version: "2.0.1", State: "failed", Reason: "sha256 mismatch: the download was tampered with", At: dt(2025, 12, 2)}
	s.Updates.Reports["d-revoked"] = UpdateReport{Rollout: "r1", Version: "2.0.1", State: "failed", Reason: "not counted: the device is revoked", At: dt(2025, 12, 2)}
	return s
}
