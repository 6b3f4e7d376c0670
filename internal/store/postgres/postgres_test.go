package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/store/storetest"
	"github.com/wardproject/ward/internal/wardtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var t0 = time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)

// newSchema returns the name of a schema that does not exist yet and is
// dropped, with everything in it, when the test ends.
func newSchema(t *testing.T, dsn string) string {
	t.Helper()
	b := make([]byte, 8)
	rand.Read(b)
	schema := "ward_test_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

// openTestDB opens a store in a fresh schema, closed and dropped at cleanup.
func openTestDB(t *testing.T, dsn string) *DB {
	t.Helper()
	schema := newSchema(t, dsn)
	db, err := Open(context.Background(), dsn, Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// versions returns the rows of schema_migrations, as "version@applied_at".
func versions(t *testing.T, db *DB) []string {
	t.Helper()
	rows, err := db.pool.Query(context.Background(), `SELECT version, applied_at FROM schema_migrations ORDER BY version`)
	vs, err := collect(rows, err, func(s scanner) (string, error) {
		var v int
		var at int64
		err := s.Scan(&v, &at)
		return fmt.Sprintf("%d@%d", v, at), err
	})
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

func TestConformance(t *testing.T) {
	dsn := wardtest.Postgres(t)
	storetest.Run(t, func(t *testing.T) store.Store { return openTestDB(t, dsn) })
}

// TestAuditAttacks: truncation, deletion and alteration of the audit log
// behind the store's back are caught by VerifyAuditChain.
func TestAuditAttacks(t *testing.T) {
	dsn := wardtest.Postgres(t)
	storetest.RunAuditAttacks(t, func(t *testing.T) (store.Store, storetest.Exec) {
		db := openTestDB(t, dsn)
		return db, func(ctx context.Context, stmt string) error { _, err := db.pool.Exec(ctx, stmt); return err }
	})
}

func TestConcurrentOpenMigratesOnce(t *testing.T) {
	dsn := wardtest.Postgres(t)
	schema := newSchema(t, dsn)
	const n = 4
	dbs := make([]*DB, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { dbs[i], errs[i] = Open(context.Background(), dsn, Options{Schema: schema, MaxConns: 2}) })
	}
	wg.Wait()
	for i, db := range dbs {
		if db != nil {
			t.Cleanup(func() { db.Close() })
		}
		if errs[i] != nil {
			t.Errorf("Open %d: %v", i, errs[i])
		}
	}
	if t.Failed() {
		return
	}
	vs := versions(t, dbs[0])
	if len(vs) != len(migrations) {
		t.Errorf("schema_migrations = %v, want %d versions", vs, len(migrations))
	}
	for i, v := range vs {
		if !strings.HasPrefix(v, fmt.Sprint(i+1, "@")) {
			t.Errorf("schema_migrations row %d = %s, want version %d", i, v, i+1)
		}
	}
}

func TestReopenDoesNotMigrate(t *testing.T) {
	dsn := wardtest.Postgres(t)
	schema := newSchema(t, dsn)
	ctx := context.Background()
	db, err := Open(ctx, dsn, Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateDevice(ctx, store.Device{ID: "d", Model: "m", Status: store.StatusPending}); err != nil {
		t.Fatal(err)
	}
	before := versions(t, db)
	db.Close()
	db, err = Open(ctx, dsn, Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if diff := cmp.Diff(before, versions(t, db)); diff != "" {
		t.Errorf("schema_migrations changed on reopen (-before +after):\n%s", diff)
	}
	if _, err := db.GetDevice(ctx, "d"); err != nil {
		t.Errorf("device lost across reopen: %v", err)
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	dsn := wardtest.Postgres(t)
	schema := newSchema(t, dsn)
	ctx := context.Background()
	db, err := Open(ctx, dsn, Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.pool.Exec(ctx, `INSERT INTO schema_migrations(version, applied_at) VALUES(999, 0)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = Open(ctx, dsn, Options{Schema: schema})
	if err == nil {
		db.Close()
		t.Fatal("opening a store with a newer schema succeeded")
	}
	if !errors.Is(err, errNewerSchema) {
		t.Errorf("Open = %v, want errNewerSchema", err)
	}
}

func TestOpenOptions(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{"upper-case-schema", Options{Schema: "Ward"}},
		{"schema-with-quote", Options{Schema: `ward"; DROP TABLE x; --`}},
		{"schema-too-long", Options{Schema: strings.Repeat("w", 64)}},
		{"negative-pool", Options{MaxConns: -1}},
		{"negative-urgent-pool", Options{UrgentConns: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Refused before any connection is made: no server needed.
			if db, err := Open(context.Background(), "postgres://127.0.0.1:1/none", tt.opts); err == nil {
				db.Close()
				t.Errorf("Open(%+v) succeeded", tt.opts)
			}
		})
	}
}

func TestPoolSize(t *testing.T) {
	dsn := wardtest.Postgres(t)
	tests := []struct {
		name       string
		dsn        string
		max        int
		urgent     int
		want       int32
		wantUrgent int32
	}{
		{"default", dsn, 0, 0, DefaultMaxConns, DefaultUrgentConns},
		{"option", dsn, 3, 1, 3, 1},
		{"dsn", dsn + "&pool_max_conns=5", 0, 0, 5, DefaultUrgentConns},
		{"option-over-dsn", dsn + "&pool_max_conns=5", 2, 0, 2, DefaultUrgentConns},
		// pool_min_conns is for routine work: the urgent pool opens its
		// connections only when first needed.
		{"dsn-min-conns", dsn + "&pool_min_conns=4", 0, 0, DefaultMaxConns, DefaultUrgentConns},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := Open(context.Background(), tt.dsn, Options{Schema: newSchema(t, dsn), MaxConns: tt.max, UrgentConns: tt.urgent})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if got := db.pool.routine.Config().MaxConns; got != tt.want {
				t.Errorf("MaxConns = %d, want %d", got, tt.want)
			}
			if got := db.pool.urgent.Config().MaxConns; got != tt.wantUrgent {
				t.Errorf("urgent MaxConns = %d, want %d", got, tt.wantUrgent)
			}
			if got := db.pool.urgent.Config().MinConns; got != 0 {
				t.Errorf("urgent MinConns = %d, want 0", got)
			}
		})
	}
}

// TestConcurrentWrites checks the read-modify-write paths that SQLite's
// single writer serialises for free.
func TestConcurrentWrites(t *testing.T) {
	dsn := wardtest.Postgres(t)
	ctx := context.Background()
	const n = 16

	t.Run("audit-chain", func(t *testing.T) {
		db := openTestDB(t, dsn)
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				for j := range 4 {
					_, err := db.AppendAudit(ctx, store.AuditEntry{Time: t0.Add(time.Duration(i*4+j) * time.Nanosecond), Actor: "tok",
						Action: "device.revoke", Target: fmt.Sprint("d-", i), Detail: map[string]string{"j": fmt.Sprint(j)}})
					errs[i] = errors.Join(errs[i], err)
				}
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		es, err := db.ListAudit(ctx, 1000)
		if err != nil || len(es) != n*4 {
			t.Fatalf("ListAudit = %d entries, %v; want %d", len(es), err, n*4)
		}
		for i, j := 0, len(es)-1; i < j; i, j = i+1, j-1 {
			es[i], es[j] = es[j], es[i]
		}
		if es[0].Seq != 1 || es[0].PrevHash != "" {
			t.Errorf("first entry seq %d prev %q", es[0].Seq, es[0].PrevHash)
		}
		if err := store.VerifyAudit(es); err != nil {
			t.Error(err)
		}
	})

	t.Run("update-device", func(t *testing.T) {
		db := openTestDB(t, dsn)
		if err := db.CreateDevice(ctx, store.Device{ID: "d", Model: "m", Status: store.StatusPending, CreatedAt: t0, UpdatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				_, errs[i] = db.UpdateDevice(ctx, "d", func(d *store.Device) error {
					d.Tags = append(d.Tags, fmt.Sprint(i))
					return nil
				})
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		d, err := db.GetDevice(ctx, "d")
		if err != nil || len(d.Tags) != n {
			t.Errorf("after %d concurrent updates: tags %v, %v (lost updates)", n, d.Tags, err)
		}
	})

	t.Run("counter", func(t *testing.T) {
		db := openTestDB(t, dsn)
		var wg sync.WaitGroup
		got := make([]int64, n)
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() { got[i], errs[i] = db.NextCounter(ctx, "crl") })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		seen := map[int64]bool{}
		for _, v := range got {
			seen[v] = true
		}
		for v := int64(1); v <= n; v++ {
			if !seen[v] {
				t.Errorf("counter values %v: %d missing", got, v)
			}
		}
	})

	t.Run("findings", func(t *testing.T) {
		db := openTestDB(t, dsn)
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				fs := []store.FindingRecord{{Key: fmt.Sprint("own-", i), Check: "c", JSON: []byte(`{}`)}}
				errs[i] = db.PutFindings(ctx, fs, t0.Add(time.Duration(i)*time.Second))
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		// Runs apply one after the other: the last one resolves every
		// other key and leaves its own active.
		if active, err := db.ListFindings(ctx, false); err != nil || len(active) != 1 {
			t.Errorf("active findings after concurrent runs = %+v, %v; want 1", active, err)
		}
	})
}

// TestExactValues checks values that a careless PostgreSQL mapping would
// change: nanosecond times, NUL in details, duplicate keys in a batch.
func TestExactValues(t *testing.T) {
	dsn := wardtest.Postgres(t)
	ctx := context.Background()
	db := openTestDB(t, dsn)
	at := time.Date(2026, 11, 25, 8, 0, 0, 123456789, time.UTC)

	e, err := db.AppendAudit(ctx, store.AuditEntry{Time: at, Actor: "a", Action: "x", Target: "t", Detail: map[string]string{"topic": "a\x00b"}})
	if err != nil {
		t.Fatal(err)
	}
	es, err := db.ListAudit(ctx, 1)
	if err != nil || len(es) != 1 {
		t.Fatalf("ListAudit = %v, %v", es, err)
	}
	if diff := cmp.Diff(e, es[0]); diff != "" {
		t.Errorf("audit entry round trip (-appended +listed):\n%s", diff)
	}
	if err := store.VerifyAudit(es); err != nil {
		t.Errorf("nanosecond entry does not verify: %v", err)
	}

	if err := db.AddEvents(ctx, []store.Event{{DeviceID: "d", Time: at, Kind: "acl_denied", Detail: map[string]string{"topic": "x\x00y"}}}); err != nil {
		t.Fatal(err)
	}
	evs, err := db.ListEvents(ctx, "d", 1)
	if err != nil || len(evs) != 1 || evs[0].Detail["topic"] != "x\x00y" || !evs[0].Time.Equal(at) || evs[0].Time.Nanosecond() != 123456789 {
		t.Errorf("ListEvents = %+v, %v", evs, err)
	}

	ws := []store.MetricWindow{
		{DeviceID: "d", Window: time.Minute, Start: at, JSON: []byte("1")},
		{DeviceID: "d", Window: time.Minute, Start: at, JSON: []byte("2")},
	}
	if err := db.AddMetricWindows(ctx, ws); err != nil {
		t.Fatal(err)
	}
	if got, err := db.ListMetricWindows(ctx, "d", time.Minute, at); err != nil || len(got) != 1 || string(got[0].JSON) != "2" || !got[0].Start.Equal(at) {
		t.Errorf("duplicate window: %+v, %v; want the last one", got, err)
	}

	if err := db.PutFindings(ctx, []store.FindingRecord{{Key: "k", Check: "c", Severity: "low", JSON: []byte("1")}, {Key: "k", Check: "c", Severity: "high", JSON: []byte("2")}}, at); err != nil {
		t.Fatal(err)
	}
	if fs, err := db.ListFindings(ctx, false); err != nil || len(fs) != 1 || fs[0].Severity != "high" || !fs[0].FirstSeen.Equal(at) {
		t.Errorf("duplicate finding: %+v, %v; want the last one", fs, err)
	}
	if err := db.PutFindings(ctx, nil, at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if fs, err := db.ListFindings(ctx, true); err != nil || len(fs) != 1 || !fs[0].ResolvedAt.Equal(at.Add(time.Hour)) {
		t.Errorf("empty run did not resolve: %+v, %v", fs, err)
	}

	var as []store.AdvisoryRecord
	for i := range advisoryBatch + 10 {
		as = append(as, store.AdvisoryRecord{ID: fmt.Sprintf("GO-%05d", i), Data: []byte("x")})
	}
	as = append(as, store.AdvisoryRecord{ID: "GO-00000", Data: []byte("last")})
	if err := db.PutAdvisories(ctx, as); err != nil {
		t.Fatal(err)
	}
	var n int
	var first string
	db.EachAdvisory(ctx, func(a store.AdvisoryRecord) error {
		if n == 0 {
			first = string(a.Data)
		}
		n++
		return nil
	})
	if n != advisoryBatch+10 || first != "last" {
		t.Errorf("advisories: %d stored, first %q; want %d, %q", n, first, advisoryBatch+10, "last")
	}

	// Byte order, whatever the database's collation.
	for _, id := range []string{"b", "B", "a", "_"} {
		if err := db.CreateDevice(ctx, store.Device{ID: id, Model: "m", Status: store.StatusPending}); err != nil {
			t.Fatal(err)
		}
	}
	ds, _ := db.ListDevices(ctx)
	var ids []string
	for _, d := range ds {
		ids = append(ids, d.ID)
	}
	if diff := cmp.Diff([]string{"B", "_", "a", "b"}, ids); diff != "" {
		t.Errorf("ListDevices order (-want +got):\n%s", diff)
	}
}
