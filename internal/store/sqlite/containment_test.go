package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wardproject/ward/internal/alert"
	"github.com/wardproject/ward/internal/fleet"
	"github.com/wardproject/ward/internal/pki"
	"github.com/wardproject/ward/internal/respond"
	"github.com/wardproject/ward/internal/store"
)

// TestAutomaticQuarantineRecordsGoFirst is automated containment end to
// end on SQLite: an alert whose profile opted in to automatic quarantine
// is acted on by respond through fleet while routine writes (here device
// updates, each holding the writer until the test lets it go) queue for
// SQLite's single writer. The quarantine, then its audit entry, then the
// alert's record of the mitigation are each served before the routine
// writes that queued ahead of them.
func TestAutomaticQuarantineRecordsGoFirst(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "ward.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ca, err := pki.Open(ctx, pki.Options{Dir: t.TempDir(), Store: db})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := fleet.New(fleet.Options{Store: db, CA: ca})
	if err != nil {
		t.Fatal(err)
	}
	am, err := alert.NewManager(ctx, alert.Options{Store: db})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := respond.New(respond.Options{Registry: reg, Alerts: am, Audit: db})
	if err != nil {
		t.Fatal(err)
	}
	am.Subscribe(resp)
	now := time.Now().UTC()
	for _, id := range []string{"d-1", "busy"} {
		if err := db.CreateDevice(ctx, store.Device{ID: id, Model: "m", Status: store.StatusActive, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	// Queued for the responder, which is not running yet.
	a, err := am.Raise(ctx, alert.Alert{Device: "d-1", Rule: "exfiltration", Severity: alert.High,
		Mitigation: respond.ActionQuarantine, AutoMitigate: true})
	if err != nil {
		t.Fatal(err)
	}
	hook, wait := waitQueued(t)
	db.w.gate.queued = hook

	// A write in progress holds the writer; routine writes queue behind it.
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	const flood = 3
	entered := make(chan int, flood) // routine write i holds the writer
	release := make(chan struct{})   // lets the one holding it finish
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := range flood {
		wg.Go(func() {
			_, err := db.UpdateDevice(ctx, "busy", func(d *store.Device) error {
				entered <- i
				<-release
				d.Firmware = fmt.Sprintf("v%d", i)
				return nil
			})
			if err != nil {
				t.Errorf("routine write %d: %v", i, err)
			}
		})
		wait(i + 1)
	}
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- resp.Run(runCtx) }()
	defer func() { stop(); <-ran }()
	var once sync.Once
	defer once.Do(func() { close(release) }) // on failure: let everything finish

	wait(flood + 1) // the quarantine
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if i := <-entered; i != 0 {
		t.Fatalf("routine write %d took the writer first", i)
	}
	if d, err := db.GetDevice(ctx, "d-1"); err != nil || d.Status != store.StatusQuarantined {
		t.Fatalf("the first routine write holds the writer and d-1 is %s (%v): the quarantine was not served before it", d.Status, err)
	}

	wait(flood + 2) // the audit entry, behind routine writes 1 and 2
	release <- struct{}{}
	if i := <-entered; i != 1 {
		t.Fatalf("routine write %d took the writer second", i)
	}
	es, err := db.ListAudit(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(es, func(e store.AuditEntry) bool {
		return e.Action == "mitigate.quarantine" && e.Actor == "auto:exfiltration" && e.Target == "d-1" && e.Detail["result"] == "ok"
	}) {
		t.Fatalf("routine write 1 holds the writer and the quarantine's audit entry is not written (%d entries): it waited behind routine writes", len(es))
	}

	wait(flood + 3) // the alert's record of the mitigation, behind routine write 2
	release <- struct{}{}
	if i := <-entered; i != 2 {
		t.Fatalf("routine write %d took the writer third", i)
	}
	got, err := am.Get(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"quarantine (automatic)"}; !slices.Equal(got.Mitigations, want) {
		t.Fatalf("routine write 2 holds the writer and the alert's mitigations are %q, want %q", got.Mitigations, want)
	}
	once.Do(func() { close(release) })
}
