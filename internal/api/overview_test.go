package api

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wardproject/ward/internal/alert"
	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/store/sqlite"
)

// TestOverview: the overview counts devices by status (every status
// present, zeros included) and connected ones, alerts by state and by
// severity (open, and open plus acknowledged), from the real store; a
// server without compliance or rollouts leaves those parts out; a request
// without a token is refused.
func TestOverview(t *testing.T) {
	ctx := context.Background()
	var alerts *alert.Manager
	e, _ := newEnvWith(t, func(db *sqlite.DB, o *Options) {
		var err error
		if alerts, err = alert.NewManager(ctx, alert.Options{Store: db}); err != nil {
			t.Fatal(err)
		}
		o.Alerts = alerts
		o.Addresses = fakeAddresses{"d-1": {"192.0.2.1"}}
	})
	op := e.tokens[store.RoleOperator]
	for _, id := range []string{"d-1", "d-2", "d-3"} {
		if code, b := e.do(t, "POST", "/api/v1/devices", op, `{"id":"`+id+`","model":"m"}`); code != http.StatusCreated {
			t.Fatalf("add %s: %d %s", id, code, b)
		}
	}
	if code, b := e.do(t, "POST", "/api/v1/devices/d-3/revoke", op, ""); code != http.StatusOK {
		t.Fatalf("revoke d-3: %d %s", code, b)
	}
	var ids []string
	for _, a := range []alert.Alert{{Device: "d-1", Rule: "r1", Severity: alert.Critical}, {Device: "d-1", Rule: "r2", Severity: alert.High},
		{Device: "d-2", Rule: "r1", Severity: alert.High}, {Device: "d-2", Rule: "r3", Severity: alert.Low}} {
		got, err := alerts.Raise(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, got.ID)
	}
	if _, err := alerts.Acknowledge(ctx, ids[1], "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := alerts.Clear(ctx, ids[3], "test"); err != nil {
		t.Fatal(err)
	}

	if code, _ := e.do(t, "GET", "/api/v1/overview", "", ""); code != http.StatusUnauthorized {
		t.Errorf("overview without a token: %d, want 401", code)
	}
	code, b := e.do(t, "GET", "/api/v1/overview", e.tokens[store.RoleViewer], "")
	if code != http.StatusOK {
		t.Fatalf("overview as viewer: %d %s", code, b)
	}
	var got Overview
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := OverviewDevices{Total: 3, Connected: 1, ByStatus: map[store.DeviceStatus]int{
		store.StatusPending: 2, store.StatusActive: 0, store.StatusQuarantined: 0, store.StatusRevoked: 1, store.StatusRetired: 0}}
	if d := cmp.Diff(want, got.Devices); d != "" {
		t.Errorf("devices (-want +got):\n%s", d)
	}
	wantA := OverviewAlerts{ByState: map[string]int{"open": 2, "acknowledged": 1, "cleared": 1},
		OpenBySeverity:   map[string]int{"critical": 1, "high": 1, "medium": 0, "low": 0},
		ActiveBySeverity: map[string]int{"critical": 1, "high": 2, "medium": 0, "low": 0}}
	if d := cmp.Diff(wantA, got.Alerts); d != "" {
		t.Errorf("alerts (-want +got):\n%s", d)
	}
	if got.Compliance != nil || got.Rollouts != nil {
		t.Errorf("compliance %v, rollouts %v on a server without them; want both absent", got.Compliance, got.Rollouts)
	}
}
