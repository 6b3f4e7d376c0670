package postgres

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/wardtest"
)

// TestUrgentRevokeThroughSaturatedPool is the attack on containment
// through the store on PostgreSQL: a flood of routine writes holds every
// connection of the pool (here metric windows, each in a transaction the
// test keeps waiting on a table lock, as slow writes under load would),
// and more wait for a connection. An operator's revocation, with what goes
// with it (the CRL's revoked list and number, the audit entry), must
// complete while they are all still held, from the pool kept for urgent
// work; then the flood completes, nothing lost.
func TestUrgentRevokeThroughSaturatedPool(t *testing.T) {
	dsn := wardtest.Postgres(t)
	schema := newSchema(t, dsn)
	bg := context.Background()
	const conns = 3
	db, err := Open(bg, dsn, Options{Schema: schema, MaxConns: conns})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })

	if err := db.CreateDevice(bg, store.Device{ID: "d-1", Model: "m", Status: store.StatusActive, CreatedAt: t0, UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if err := db.PutCertificate(bg, store.Certificate{Serial: "c1", DeviceID: "d-1", Subject: "CN=d-1", Kind: "device",
		NotBefore: t0, NotAfter: t0.Add(24 * time.Hour), DER: []byte{1}, IssuedAt: t0}); err != nil {
		t.Fatal(err)
	}

	// The test's own connection, outside the store's pools, holds a lock
	// that every metric-window write waits for.
	lock, err := pgx.Connect(bg, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close(bg)
	held, err := lock.Begin(bg)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Rollback(bg)
	if _, err := held.Exec(bg, `LOCK TABLE `+pgx.Identifier{schema, "metric_windows"}.Sanitize()+` IN EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}

	// The flood: more routine writes than the pool has connections.
	const flood = conns + 5
	var finished atomic.Int32
	errs := make(chan error, flood)
	var wg sync.WaitGroup
	for i := range flood {
		wg.Go(func() {
			w := store.MetricWindow{DeviceID: fmt.Sprintf("f-%d", i), Window: time.Minute, Start: t0, JSON: []byte(`{}`)}
			errs <- db.AddMetricWindows(bg, []store.MetricWindow{w})
			finished.Add(1)
		})
	}
	// Wait until every connection of the pool is inside a write waiting
	// for the lock (no event to wait on: poll the server's lock table).
	waiting := func() int {
		var n int
		err := lock.QueryRow(bg, `SELECT count(*) FROM pg_locks WHERE relation = $1::regclass AND NOT granted`,
			pgx.Identifier{schema, "metric_windows"}.Sanitize()).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	for deadline := time.Now().Add(30 * time.Second); waiting() < conns; {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d pool connections waiting on the lock after 30 s", waiting(), conns)
		}
		time.Sleep(5 * time.Millisecond) // polling the server's state; nothing to wait on
	}
	if s := db.pool.routine.Stat(); s.AcquiredConns() != conns {
		t.Fatalf("routine pool: %d of %d connections acquired, want all", s.AcquiredConns(), conns)
	}

	// The operator's revocation. Without the urgent pool it waits for a
	// connection the flood never gives back: the deadline bounds the
	// failure, it does not synchronise anything.
	ctx, cancel := context.WithTimeout(store.Urgent(bg), 20*time.Second)
	defer cancel()
	out, err := db.TransitionDevice(ctx, store.Transition{DeviceID: "d-1", Op: "revoke", From: store.RevokeFrom,
		To: store.StatusRevoked, RevokeReason: "keyCompromise", Now: t0.Add(time.Hour),
		Event: store.Event{DeviceID: "d-1", Time: t0.Add(time.Hour), Kind: "revoked"}})
	if err != nil {
		t.Fatalf("revoke while the routine pool is held: %v", err)
	}
	if out.Device.Status != store.StatusRevoked || !slices.Equal(out.Revoked, []string{"c1"}) {
		t.Errorf("revoke: status %s, revoked %v; want revoked, [c1]", out.Device.Status, out.Revoked)
	}
	revoked, err := db.ListRevoked(ctx)
	if err != nil || len(revoked) != 1 || revoked[0].Serial != "c1" {
		t.Errorf("CRL's revoked list: %v, %v", revoked, err)
	}
	if _, err := db.NextCounter(ctx, "crl_number"); err != nil {
		t.Errorf("CRL number: %v", err)
	}
	if _, err := db.AppendAudit(ctx, store.AuditEntry{Time: t0.Add(time.Hour), Actor: "user:op", Action: "device.revoke", Target: "d-1"}); err != nil {
		t.Errorf("audit entry: %v", err)
	}
	if n := finished.Load(); n != 0 {
		t.Fatalf("%d routine writes finished while the lock was held; the pool was not saturated", n)
	}
	if n := waiting(); n != conns {
		t.Errorf("%d routine writes waiting on the lock after the revocation, want %d (the whole pool)", n, conns)
	}

	// The flood completes once the lock goes.
	if err := held.Rollback(bg); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("routine write: %v", err)
		}
	}
	var n int
	if err := db.pool.QueryRow(bg, `SELECT count(*) FROM metric_windows`).Scan(&n); err != nil || n != flood {
		t.Errorf("metric windows stored: %d, %v; want %d", n, err, flood)
	}
}
