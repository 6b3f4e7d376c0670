package alert

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/wardproject/ward/internal/store/sqlite"
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
