package main

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite"

	"github.com/wardproject/ward/internal/server"
	"github.com/wardproject/ward/internal/wardtest"
)

// TestAuditLogVerifyCLI is the attack on the audit trail, end to end with
// the SQLite store: operator actions through the CLI, then an attacker
// with write access to the database alters an entry, deletes one in the
// middle and deletes the tail; `ward audit log --verify` fails on each,
// naming what was found, and passes again once the log is restored.
func TestAuditLogVerifyCLI(t *testing.T) { runAuditLogVerifyCLI(t) }

// TestAuditLogVerifyCLIOnPostgres runs the same with the PostgreSQL store.
func TestAuditLogVerifyCLIOnPostgres(t *testing.T) {
	wardtest.PostgresStore(t)
	runAuditLogVerifyCLI(t)
}

func runAuditLogVerifyCLI(t *testing.T) {
	w := startForCLI(t)
	dir := filepath.Dir(w.env[5])
	exec := attacker(t, dir)
	for _, id := range []string{"a-1", "a-2", "a-3", "a-4", "a-5", "a-6"} {
		w.must("device", "add", "--id", id, "--model", "m")
	}
	out := w.must("audit", "log", "--verify")
	if !strings.Contains(out, "audit trail verified: 6 entries, 1 to 6") || !strings.Contains(out, "latest signed checkpoint: entry 6") {
		t.Fatalf("verify of an untouched trail:\n%s", out)
	}
	fails := func(attack, want string) {
		t.Helper()
		out, err := w.run("audit", "log", "--verify")
		if !errors.Is(err, errAuditBroken) || !strings.Contains(err.Error(), want) {
			t.Errorf("verify after %s: %v\n%s\nwant a failure naming %q", attack, err, out, want)
		}
	}
	exec("UPDATE audit_log SET target = 'a-9' WHERE seq = 2")
	fails("an altered entry", "altered: audit entry 2 was altered")
	exec("UPDATE audit_log SET target = 'a-2' WHERE seq = 2")
	w.must("audit", "log", "--verify")

	exec("CREATE TABLE saved AS SELECT * FROM audit_log WHERE seq = 3")
	exec("DELETE FROM audit_log WHERE seq = 3")
	fails("a deleted entry in the middle", "gap: entries 3 to 3 of the audit log were deleted")
	exec("INSERT INTO audit_log SELECT * FROM saved")
	w.must("audit", "log", "--verify")

	if out := w.must("audit", "run", "-o", "json"); strings.Contains(out, "audit-log-broken") {
		t.Errorf("the fleet audit finds an intact trail broken:\n%s", out)
	}
	// (ward audit run is entry 7.)
	exec("DELETE FROM audit_log WHERE seq > 4")
	fails("a deleted tail", "truncated: the audit log ends at entry 4 but a signed checkpoint records entry 7: entries 5 to 7 were deleted")
	// The fleet audit finds the truncation too (critical finding).
	if out := w.must("audit", "run", "-o", "json"); !strings.Contains(out, `"audit-log-broken"`) {
		t.Errorf("the fleet audit does not find the truncated trail:\n%s", out)
	}
	// The server refuses to sign over the truncated log: more actions
	// do not hide the truncation.
	for _, id := range []string{"b-1", "b-2", "b-3"} {
		w.must("device", "add", "--id", id, "--model", "m")
	}
	fails("a deleted tail and new entries past it", "anchor-mismatch: audit entry 7 is not the one the signed checkpoint recorded")
	if _, err := os.Stat(filepath.Join(dir, "audit-anchor.key")); err != nil {
		t.Error(err)
	}
}

// attacker returns a function that runs SQL on the server's database
// directly: the SQLite file in dir, or the test's PostgreSQL schema.
func attacker(t *testing.T, dir string) func(stmt string) {
	ctx := context.Background()
	if dsn := os.Getenv("WARD_STORE_POSTGRES_DSN"); dsn != "" {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close(ctx) })
		if _, err := conn.Exec(ctx, "SET search_path TO "+os.Getenv("WARD_STORE_POSTGRES_SCHEMA")); err != nil {
			t.Fatal(err)
		}
		return func(stmt string) {
			t.Helper()
			if _, err := conn.Exec(ctx, stmt); err != nil {
				t.Fatalf("%s: %v", stmt, err)
			}
		}
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, server.StoreFile)+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return func(stmt string) {
		t.Helper()
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
}
