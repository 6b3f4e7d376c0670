package fleet

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wardproject/ward/internal/pki"
	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/wardtest"
)

// TestFleetMetrics: ward_fleet_devices counts devices by status and
// ward_certificate_expiry_soonest_seconds gives each model's soonest valid
// certificate expiry, one series per model, computed at scrape time.
func TestFleetMetrics(t *testing.T) {
	ctx := context.Background()
	db := wardtest.SQLite(t)
	ca, err := pki.Open(ctx, pki.Options{Dir: t.TempDir(), Store: db})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	reg := prometheus.NewPedanticRegistry()
	if _, err := New(Options{Store: db, CA: ca, Metrics: reg, Now: func() time.Time { return now }}); err != nil {
		t.Fatal(err)
	}
	for i, d := range []struct {
		id, model string
		status    store.DeviceStatus
		expires   time.Duration
	}{{"a", "cam", store.StatusActive, time.Hour}, {"b", "cam", store.StatusActive, 2 * time.Hour}, {"c", "th1", store.StatusQuarantined, 3 * time.Hour}, {"d", "th1", store.StatusPending, 0}} {
		if err := db.CreateDevice(ctx, store.Device{ID: d.id, Model: d.model, Status: d.status, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
		if d.expires > 0 {
			if err := db.PutCertificate(ctx, store.Certificate{Serial: string(rune('a'+i)) + "1", DeviceID: d.id, Kind: "device", Subject: "CN=" + d.id,
				NotBefore: now.Add(-time.Hour), NotAfter: now.Add(d.expires), Fingerprint: "f", DER: []byte{1}, IssuedAt: now}); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := `
# HELP ward_certificate_expiry_soonest_seconds Seconds until the soonest expiry of a model's valid device certificates (not revoked, not superseded, not expired); no series for a model without one.
# TYPE ward_certificate_expiry_soonest_seconds gauge
ward_certificate_expiry_soonest_seconds{model="cam"} 3600
ward_certificate_expiry_soonest_seconds{model="th1"} 10800
# HELP ward_fleet_devices Registered devices, by lifecycle status.
# TYPE ward_fleet_devices gauge
ward_fleet_devices{status="active"} 2
ward_fleet_devices{status="pending"} 1
ward_fleet_devices{status="quarantined"} 1
ward_fleet_devices{status="retired"} 0
ward_fleet_devices{status="revoked"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "ward_certificate_expiry_soonest_seconds", "ward_fleet_devices"); err != nil {
		t.Error(err)
	}
}
