// Package postgres is Ward's scale-out store: the store.Store contract on
// PostgreSQL (tested with 15) through github.com/jackc/pgx/v5 and a bounded
// pgxpool connection pool. It passes the same conformance suite as the
// embedded store/sqlite backend (store/storetest) and keeps its semantics:
// the same sentinels (a unique violation, SQLSTATE 23505, is
// store.ErrConflict; no row is store.ErrNotFound; both wrapped with the
// record's key), the same orderings and the same conditional updates.
// It leaves choosing a backend to cmd/ward and config.
//
// # Migrations
//
// The schema is versioned in the binary (schema_migrations). Open applies
// each pending migration in its own transaction that first takes a
// transaction-scoped advisory lock (pg_advisory_xact_lock, keyed by the
// schema name) and re-reads the version, so several Ward processes may
// start at once: one migrates, the others wait and find nothing to do.
// Open refuses a database migrated by a newer binary. Version N has the
// same tables as version N of the SQLite backend.
//
// # Schema choices
//
//   - Times are bigint unix nanoseconds, 0 for the zero time, as in
//     SQLite. timestamptz keeps microseconds only: a time would not
//     round-trip exactly, and the audit hash covers the nanosecond time.
//   - Payloads owned by other packages (alert, detect window, finding,
//     SBOM, OSV record, model info, blobs) are bytea: stored byte for byte,
//     whether or not they are JSON. The store's own structured values are
//     JSON: device tags and policies, model policies and trend counts as
//     jsonb (queryable and indexable, for example a GIN index on tags);
//     event and audit details as json, which keeps the exact text and
//     accepts the escape \u0000 that jsonb refuses (a device can put a NUL
//     in a string Ward records).
//   - Every text column is COLLATE "C", so lists are ordered by byte
//     value as in SQLite whatever the database's default collation.
//     PostgreSQL text cannot hold a NUL byte or invalid UTF-8; such an ID,
//     kind or name is an error here, where SQLite stores it. Callers
//     validate identifiers before they reach the store.
//   - Concurrency: SQLite has one writer, PostgreSQL many, so the
//     read-modify-write paths lock. UpdateDevice locks its row (SELECT ...
//     FOR UPDATE); AppendAudit locks audit_log IN EXCLUSIVE MODE (appends
//     wait for each other, readers do not); PutFindings locks findings IN
//     SHARE ROW EXCLUSIVE MODE. EnrollDevice uses the token with one
//     conditional UPDATE inside its transaction; RevokeCertificate and
//     NextCounter are single conditional statements.
//   - Batches are one statement over arrays (INSERT ... SELECT FROM
//     unnest(...)): AddEvents (IDs in the order given), AddMetricWindows,
//     PutAdvisories (1000 rows a statement, one transaction) and
//     PutFindings, which resolves the absent keys with an anti-join
//     against the array of the run's keys.
//
// # Containment ahead of routine work
//
// pgxpool hands a freed connection to its waiters in no particular order,
// so a flood of routine writes (an attacker's enrollments, events, metric
// windows) that holds every connection would delay an operator's
// revocation behind all of them. DB therefore keeps two pools over the
// same DSN: the routine one (Options.MaxConns, default DefaultMaxConns)
// and a small one (Options.UrgentConns, default DefaultUrgentConns = 2)
// that serves every call whose context is marked store.Urgent: revoke,
// retire and quarantine, by an operator or an automated response, with
// their audit entries and the CRL re-signed after a revocation. The
// choice is made in one place (pools, by context), not per query. One
// connection serves one containment at a time (a revocation's calls are
// sequential), so two let two proceed at once; more queue in the urgent
// pool, never behind routine work. The urgent connections open when first
// needed and close after 30 minutes idle, like the routine ones. Urgent
// transactions still wait for the row and table locks held by routine
// transactions already running (AppendAudit's table lock, a device row),
// which the routine pool bounds to MaxConns short transactions.
// TestUrgentRevokeThroughSaturatedPool holds every routine connection in a
// write and revokes through the urgent pool.
//
// # Scale: partitioning by time
//
// The two tables that grow with the fleet are events and metric_windows.
// At 10 million devices with 5-minute windows metric_windows takes about
// 2.9 billion rows a day, so retention must drop partitions, not DELETE
// rows. Neither table is partitioned yet; both are shaped for it:
//
//   - metric_windows: PARTITION BY RANGE (start), one partition per day
//     (start is in unix nanoseconds). The primary key (device_id,
//     window_ns, start) already contains the partition key, and
//     ListMetricWindows always bounds start, so it is pruned to the days
//     it reads. DeleteMetricWindowsBefore becomes DROP (or DETACH) of the
//     partitions wholly before the cut-off plus a DELETE in the one
//     partition that straddles it; a maintenance job creates partitions
//     ahead of time.
//   - events: PARTITION BY RANGE (time), one partition per day, with
//     PRIMARY KEY (id, time) (a partitioned table's unique keys must hold
//     the partition key; id stays unique because it comes from one
//     identity sequence) and the local index (device_id, id) that
//     ListEvents uses. Retention drops whole days. The existing table
//     converts without a copy: create the partitioned parent, add a CHECK
//     on time to the old table and ATTACH it as the partition of
//     everything before the cut-over.
//
// # Running Ward on PostgreSQL
//
// The DSN is a PostgreSQL URL or keyword/value string as pgx (and libpq)
// read it, for example
//
//	postgres://ward@db.example.net:5432/ward?sslmode=verify-full&sslrootcert=/etc/ward/pg-ca.pem
//	host=db.example.net port=5432 user=ward dbname=ward sslmode=verify-full
//
// Keep the password out of the DSN and the command line: pgx reads
// PGPASSWORD, or ~/.pgpass or the file named by passfile= / PGPASSFILE
// (mode 0600). pool_max_conns in the DSN sets the routine pool's size
// unless Options.MaxConns does (default DefaultMaxConns per Ward
// process); the urgent pool adds Options.UrgentConns (config
// store.postgres_urgent_conns, default 2), and each node also opens one
// connection per leader job it competes for, from the same DSN with the
// pool parameters left out. Size them so that processes × (pool + urgent
// pool + leader jobs) stays under the server's max_connections, or a
// containment may find no connection to open.
// The role needs to own Options.Schema, or the CREATE privilege on the
// database so that Open can create it:
//
//	CREATE ROLE ward LOGIN;
//	CREATE DATABASE ward OWNER ward;
//
// Open sets search_path to Options.Schema in each connection's startup
// parameters. Connect directly or through a session-mode pooler; a
// transaction-mode pooler (PgBouncer pool_mode=transaction) is untested,
// and would need default_query_exec_mode=exec in the DSN and the
// search_path set on the role (ALTER ROLE ward SET search_path = ward).
//
// # Testing
//
// postgres_test.go runs storetest.Run against the PostgreSQL given by
// wardtest.Postgres (127.0.0.1:5432, database test), each subtest in a
// fresh schema dropped at cleanup. The tests skip when the server is down,
// and fail instead under WARD_TEST_REQUIRE_SERVERS=1.
package postgres
