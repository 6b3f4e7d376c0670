package respond

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/wardproject/ward/internal/alert"
	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/store/sqlite"
	"github.com/wardproject/ward/internal/wardtest"
)

// registry records what the responder asks of the fleet.
type registry struct {
	mu   sync.Mutex
	done chan string
	fail error
}

func (r *registry) Quarantine(_ context.Context, id, reason string, mode store.QuarantineMode) (store.Device, error) {
	if mode == store.QuarantineRestrict {
		r.done <- "quarantine-restrict " + id
	} else {
		r.done <- "quarantine " + id
	}
	return store.Device{ID: id}, r.fail
}

func (r *registry) Revoke(_ context.Context, id, reason string) (store.Device, []string, error) {
	r.done <- "revoke " + id
	return store.Device{ID: id}, nil, r.fail
}

type leveler struct{ on map[string]bool }

func (l *leveler) SetVerbose(id string, on bool) { l.on[id] = on }

func setup(t *testing.T) (*Responder, *alert.Manager, *registry, *sqlite.DB, *leveler) {
	t.Helper()
	ctx := context.Background()
	db := wardtest.SQLite(t)
	am, _ := alert.NewManager(ctx, alert.Options{Store: db})
	reg := &registry{done: make(chan string, 10)}
	lv := &leveler{on: map[string]bool{}}
	r, err := New(Options{Registry: reg, LogLevel: lv, Alerts: am, Audit: db})
	if err != nil {
		t.Fatal(err)
	}
	am.Subscribe(r)
	return r, am, reg, db, lv
}

func TestAutomaticOnlyWhenOptedIn(t *testing.T) {
	r, am, reg, db, _ := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	defer func() { cancel(); <-done }()

	am.Raise(ctx, alert.Alert{Device: "d1", Rule: "r", Severity: alert.High, Mitigation: ActionQuarantine, AutoMitigate: false})
	a, _ := am.Raise(ctx, alert.Alert{Device: "d2", Rule: "r", Severity: alert.High, Mitigation: ActionQuarantine, AutoMitigate: true})
	am.Raise(ctx, alert.Alert{Device: "d2", Rule: "r", Severity: alert.High, Mitigation: ActionQuarantine, AutoMitigate: true}) // update: not twice
	select {
	case got := <-reg.done:
		if got != "quarantine d2" {
			t.Fatalf("mitigated %q, want quarantine d2 (d1's profile did not opt in)", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no automatic mitigation")
	}
	// The mitigation is recorded on the alert; wait for it (it follows the action).
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, _ := am.Get(ctx, a.ID)
		if len(got.Mitigations) == 1 && got.Mitigations[0] == "quarantine (automatic)" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("mitigations %v", got.Mitigations)
		}
		time.Sleep(5 * time.Millisecond) // the worker records asynchronously; nothing else to wait on
	}
	select {
	case extra := <-reg.done:
		t.Errorf("second mitigation %q for one alert", extra)
	default:
	}
	es, _ := db.ListAudit(ctx, 10)
	if len(es) != 1 || es[0].Actor != "auto:r" || es[0].Action != "mitigate.quarantine" || es[0].Target != "d2" {
		t.Errorf("audit trail %+v", es)
	}
}

func TestManual(t *testing.T) {
	r, am, reg, db, lv := setup(t)
	ctx := context.Background()
	a, _ := am.Raise(ctx, alert.Alert{Device: "d1", Rule: "r", Severity: alert.Low})
	if _, err := r.Mitigate(ctx, a.ID, "log-level", "token:abc"); err != nil || !lv.on["d1"] {
		t.Fatalf("log-level: %v %v", err, lv.on)
	}
	if _, err := r.Mitigate(ctx, a.ID, "nuke", "token:abc"); !errors.Is(err, ErrUnknownAction) {
		t.Errorf("unknown action: %v", err)
	}
	if _, err := r.Mitigate(ctx, a.ID, "quarantine-restrict", "token:abc"); err != nil {
		t.Fatalf("quarantine-restrict: %v", err)
	}
	if got := <-reg.done; got != "quarantine-restrict d1" {
		t.Errorf("quarantine-restrict asked the registry for %q", got)
	}
	reg.fail = errors.New("boom")
	if _, err := r.Mitigate(ctx, a.ID, "revoke", "token:abc"); err == nil {
		t.Error("failed revoke reported success")
	}
	<-reg.done
	es, _ := db.ListAudit(ctx, 10)
	if len(es) != 3 || es[0].Detail["result"] != "error" || es[1].Detail["result"] != "ok" || es[1].Action != "mitigate.quarantine-restrict" {
		t.Errorf("audit of manual mitigations: %+v", es)
	}
	if _, err := r.Mitigate(ctx, "al-none", "notify", "x"); !errors.Is(err, alert.ErrNotFound) {
		t.Errorf("unknown alert: %v", err)
	}
}
