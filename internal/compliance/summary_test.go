package compliance

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wardproject/ward/internal/audit"
	"github.com/wardproject/ward/internal/pki"
	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/wardtest"
)

// TestSummary: before any audit run the summary has no scores (not a
// misleading 100 %); the exposure counts each vulnerable device once and
// each advisory once, KEV ones apart, and devices without an SBOM; after a
// run every standard has a score and the run's time.
func TestSummary(t *testing.T) {
	ctx := context.Background()
	db := wardtest.SQLite(t)
	ca, err := pki.Open(ctx, pki.Options{Dir: t.TempDir(), Store: db})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	s, err := New(ctx, Options{Store: db, CA: ca, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	const sbom = `{"bomFormat":"CycloneDX","specVersion":"1.5","components":[
		{"type":"library","name":"a","version":"v1.0.0","purl":"pkg:golang/m/a@v1.0.0"},
		{"type":"library","name":"b","version":"v1.0.0","purl":"pkg:golang/m/b@v1.0.0"}]}`
	if _, err := s.ImportSBOM(ctx, "acme-th1", "1.0", "fw.cdx.json", []byte(sbom)); err != nil {
		t.Fatal(err)
	}
	rng := `,"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.1.0"}]}]`
	for _, rec := range []string{osvRecord("GO-A", "m/a", rng, `,"aliases":["CVE-2023-4911"]`),
		osvRecord("GO-B", "m/b", rng, `,"database_specific":{"severity":"HIGH"}`)} {
		if rep, err := s.ImportOSV(ctx, "osv.json", []byte(rec)); err != nil || rep.Imported != 1 {
			t.Fatalf("import OSV: %+v, %v", rep, err)
		}
	}
	const kev = `{"catalogVersion":"2025.08.25","dateReleased":"2025-08-25T17:04:19.9796Z","count":1,"vulnerabilities":[
		{"cveID":"CVE-2023-4911","vendorProject":"GNU","product":"GNU C Library","vulnerabilityName":"Looney Tunables",
		 "dateAdded":"2023-11-21","shortDescription":"x","requiredAction":"patch","dueDate":"2023-12-12","knownRansomwareCampaignUse":"Unknown","notes":""}]}`
	if _, err := s.ImportKEV(ctx, "kev.json", []byte(kev)); err != nil {
		t.Fatal(err)
	}
	for id, fw := range map[string]string{"th-1": "1.0", "th-2": "1.0", "th-3": "2.0"} {
		if err := db.CreateDevice(ctx, store.Device{ID: id, Model: "acme-th1", Firmware: fw, Status: store.StatusActive, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}

	sum, err := s.Summary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !sum.LastAudit.IsZero() || len(sum.Standards) != 0 {
		t.Errorf("before any audit: last_audit %v, %d standards; want none", sum.LastAudit, len(sum.Standards))
	}
	wantEx := Exposure{Devices: 3, WithoutSBOM: 1, VulnerableDevices: 2, KEVDevices: 2, KEV: 1,
		Advisories: map[string]int{"high": 1, "unknown": 1}}
	if d := cmp.Diff(wantEx, sum.Vulnerabilities); d != "" {
		t.Errorf("exposure (-want +got):\n%s", d)
	}

	if _, err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if sum, err = s.Summary(ctx); err != nil {
		t.Fatal(err)
	}
	if !sum.LastAudit.Equal(now) {
		t.Errorf("last_audit = %v, want the run's time %v", sum.LastAudit, now)
	}
	var stds []string
	for _, sc := range sum.Standards {
		stds = append(stds, sc.Standard)
		if sc.Assessed == 0 || sc.Passed+sc.Failed != sc.Assessed || sc.Score < 0 || sc.Score > 100 {
			t.Errorf("%s: %+v, want assessed = passed + failed > 0 and a score in 0..100", sc.Standard, sc)
		}
	}
	if d := cmp.Diff([]string{audit.StandardETSI, audit.StandardNIST, audit.StandardCRA}, stds); d != "" {
		t.Errorf("standards (-want +got):\n%s", d)
	}
}

func osvRecord(id, name, ranges, extra string) string {
	return `{"id":"` + id + `","modified":"2024-01-01T00:00:00Z"` + extra + `,"affected":[{"package":{"ecosystem":"Go","name":"` + name + `"}` + ranges + `}]}`
}
