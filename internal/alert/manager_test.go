package alert

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/wardproject/ward/internal/store/sqlite"
	"github.com/wardproject/ward/internal/wardtest"
)

type recorder struct {
	mu sync.Mutex
	ns []Notification
}

func (r *recorder) AlertChanged(n Notification) { r.mu.Lock(); r.ns = append(r.ns, n); r.mu.Unlock() }

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "w.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	m, err := NewManager(ctx, Options{Store: db, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	m.Subscribe(rec)
	a, err := m.Raise(ctx, Alert{Device: "d", Rule: "r", Severity: Medium, Evidence: Evidence{Value: 1}})
	if err != nil || a.State != Open || a.Count != 1 || a.ID == "" {
		t.Fatalf("raise: %+v %v", a, err)
	}
	now = now.Add(time.Minute)
	b, _ := m.Raise(ctx, Alert{Device: "d", Rule: "r", Severity: High, Evidence: Evidence{Value: 2}})
	if b.ID != a.ID || b.Count != 2 || b.Severity != High || b.Evidence.Value != 2 {
		t.Errorf("dedupe: %+v", b)
	}
	other, _ := m.Raise(ctx, Alert{Device: "d", Rule: "other", Severity: Low})
	if other.ID == a.ID {
		t.Error("different rule deduplicated")
	}
	if _, err := m.Acknowledge(ctx, a.ID, "ops"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Acknowledge(ctx, a.ID, "ops"); !errors.Is(err, ErrTransition) {
		t.Errorf("second ack: %v", err)
	}
	// Still active while acknowledged: a new datapoint updates it.
	c, _ := m.Raise(ctx, Alert{Device: "d", Rule: "r", Severity: High})
	if c.ID != a.ID || c.State != Acknowledged {
		t.Errorf("raise while acknowledged: %+v", c)
	}
	if _, err := m.Clear(ctx, a.ID, "ops"); err != nil {
		t.Fatal(err)
	}
	d, _ := m.Raise(ctx, Alert{Device: "d", Rule: "r", Severity: Low})
	if d.ID == a.ID {
		t.Error("raise after clear reused the cleared alert")
	}
	// A restarted manager still deduplicates against active alerts.
	m2, _ := NewManager(ctx, Options{Store: db})
	e, _ := m2.Raise(ctx, Alert{Device: "d", Rule: "r", Severity: Low})
	if e.ID != d.ID {
		t.Errorf("dedupe across restart: %s vs %s", e.ID, d.ID)
	}
	if _, err := m.Clear(ctx, "al-nope", "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("clear unknown: %v", err)
	}
	var changes []Change
	for _, n := range rec.ns {
		changes = append(changes, n.Change)
	}
	want := []Change{Raised, Updated, Raised, Acknowledge, Updated, Clear, Raised}
	if len(changes) != len(want) {
		t.Fatalf("changes %v, want %v", changes, want)
	}
	for i := range want {
		if changes[i] != want[i] {
			t.Errorf("change %d = %s, want %s", i, changes[i], want[i])
		}
	}
	open, _ := m.List(ctx, Filter{States: []State{Open}})
	if len(open) != 2 {
		t.Errorf("open alerts: %d", len(open))
	}
}

// TestTwoManagersShareAlerts: two Managers on one store (two nodes of a
// cluster) keep one alert per device and rule: B updates the alert A
// raised, A's Resolve clears it, and a clear on B is seen by A.
func TestTwoManagersShareAlerts(t *testing.T) {
	ctx := context.Background()
	db := wardtest.SQLite(t)
	now := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	a, errA := NewManager(ctx, Options{Store: db, Now: clock})
	b, errB := NewManager(ctx, Options{Store: db, Now: clock})
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	first, err := a.Raise(ctx, Alert{Device: "d", Rule: "r", Severity: Medium})
	if err != nil {
		t.Fatal(err)
	}
	again, err := b.Raise(ctx, Alert{Device: "d", Rule: "r", Severity: High})
	if err != nil || again.ID != first.ID || again.Count != 2 || again.Severity != High {
		t.Fatalf("raise on the other node: %+v %v, want an update of %s", again, err, first.ID)
	}
	if _, err := b.Clear(ctx, first.ID, "operator"); err != nil {
		t.Fatal(err)
	}
	third, err := a.Raise(ctx, Alert{Device: "d", Rule: "r", Severity: Low})
	if err != nil || third.ID == first.ID || third.State != Open || third.Count != 1 {
		t.Fatalf("raise after a clear on the other node: %+v %v, want a new alert", third, err)
	}
	if err := b.Resolve(ctx, "d", "r"); err != nil {
		t.Fatal(err)
	}
	got, err := a.Get(ctx, third.ID)
	if err != nil || got.State != Cleared || got.ClearedBy != "auto" {
		t.Fatalf("resolve on the other node: %+v %v", got, err)
	}
	if err := a.Resolve(ctx, "d", "r"); err != nil {
		t.Errorf("resolve of an alert the other node cleared: %v", err)
	}
}
