package alert

import (
	"context"
	"errors"
	"fmt"
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

// TestRaiseAllIsRaiseInOrder: RaiseAll gives what successive Raise calls
// give: one alert per device and rule (a repeat within the batch updates
// the alert the batch raised), an alert another Manager raised is
// updated, an acknowledged one stays acknowledged, a cleared one is
// raised anew, an invalid alert is skipped and named in the error, and
// subscribers see each change in order.
func TestRaiseAllIsRaiseInOrder(t *testing.T) {
	ctx := context.Background()
	db := wardtest.SQLite(t)
	now := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	other, errO := NewManager(ctx, Options{Store: db, Now: clock})
	m, errM := NewManager(ctx, Options{Store: db, Now: clock})
	if errO != nil || errM != nil {
		t.Fatal(errO, errM)
	}
	fromOther, _ := other.Raise(ctx, Alert{Device: "d2", Rule: "r", Severity: Low})
	acked, _ := other.Raise(ctx, Alert{Device: "d3", Rule: "s", Severity: Low})
	cleared, _ := other.Raise(ctx, Alert{Device: "d4", Rule: "r", Severity: Low})
	if _, err := other.Acknowledge(ctx, acked.ID, "ops"); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Clear(ctx, cleared.ID, "ops"); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	m.Subscribe(rec)
	now = now.Add(time.Minute)
	err := m.RaiseAll(ctx, []Alert{
		{Device: "d1", Rule: "r", Severity: Medium, Evidence: Evidence{Value: 1}},
		{Device: "d2", Rule: "r", Severity: High},
		{Device: "", Rule: "r", Severity: High},
		{Device: "d3", Rule: "s", Severity: Medium},
		{Device: "d4", Rule: "r", Severity: Low},
		{Device: "d1", Rule: "r", Severity: Low, Evidence: Evidence{Value: 2}},
	})
	if err == nil {
		t.Error("RaiseAll with an alert without a device: no error")
	}
	byDev := map[string]Alert{}
	all, _ := m.List(ctx, Filter{States: []State{Open, Acknowledged}})
	for _, a := range all {
		if _, dup := byDev[a.Device]; dup {
			t.Errorf("two active alerts of device %s", a.Device)
		}
		byDev[a.Device] = a
	}
	if a := byDev["d1"]; a.Count != 2 || a.Severity != Medium || a.Evidence.Value != 2 || a.State != Open {
		t.Errorf("d1 raised twice in one batch: %+v, want count 2, medium, the second evidence", a)
	}
	if a := byDev["d2"]; a.ID != fromOther.ID || a.Count != 2 || a.Severity != High {
		t.Errorf("d2 raised by the other manager: %+v, want an update of %s", a, fromOther.ID)
	}
	if a := byDev["d3"]; a.ID != acked.ID || a.State != Acknowledged || a.Count != 2 {
		t.Errorf("d3 acknowledged: %+v, want it updated and still acknowledged", a)
	}
	if a := byDev["d4"]; a.ID == cleared.ID || a.Count != 1 || a.State != Open {
		t.Errorf("d4 cleared before: %+v, want a new alert", a)
	}
	var changes []string
	for _, n := range rec.ns {
		changes = append(changes, string(n.Change)+" "+n.Alert.Device)
	}
	want := []string{"raised d1", "updated d2", "updated d3", "raised d4", "updated d1"}
	if fmt.Sprint(changes) != fmt.Sprint(want) {
		t.Errorf("notifications %v, want %v", changes, want)
	}
	// The Manager now knows them: Raise updates without a store lookup
	// that could find another alert.
	if a, err := m.Raise(ctx, Alert{Device: "d4", Rule: "r", Severity: Low}); err != nil || a.ID != byDev["d4"].ID || a.Count != 2 {
		t.Errorf("Raise after RaiseAll = %+v, %v", a, err)
	}
	if err := m.RaiseAll(ctx, nil); err != nil {
		t.Errorf("RaiseAll(nil) = %v", err)
	}
}

// TestRaiseAllCountsAWindowOnce: the same window's raise applied twice
// (a detect leader replaying what its predecessor may have applied)
// counts once; the next window's raise counts.
func TestRaiseAllCountsAWindowOnce(t *testing.T) {
	ctx := context.Background()
	db := wardtest.SQLite(t)
	m, err := NewManager(ctx, Options{Store: db})
	if err != nil {
		t.Fatal(err)
	}
	end := time.Date(2026, 11, 25, 8, 1, 0, 0, time.UTC)
	raise := func(end time.Time) Alert {
		return Alert{Device: "d", Rule: "r", Severity: High, Evidence: Evidence{Window: "1m0s", WindowEnd: end}}
	}
	for range 2 {
		if err := m.RaiseAll(ctx, []Alert{raise(end)}); err != nil {
			t.Fatal(err)
		}
	}
	as, _ := m.List(ctx, Filter{Device: "d"})
	if len(as) != 1 || as[0].Count != 1 {
		t.Fatalf("one window raised twice: %+v, want one alert, count 1", as)
	}
	if err := m.RaiseAll(ctx, []Alert{raise(end.Add(time.Minute))}); err != nil {
		t.Fatal(err)
	}
	if as, _ = m.List(ctx, Filter{Device: "d"}); len(as) != 1 || as[0].Count != 2 {
		t.Fatalf("the next window: %+v, want count 2", as)
	}
}
