// Package sqlite is Ward's embedded store: one SQLite file through the pure
// Go driver modernc.org/sqlite, in WAL mode with a busy timeout, one writer
// connection and a pool of readers, and schema migrations versioned in the
// binary.
//
// # Files
//
// The files mirror store/postgres one for one, so that the two backends can
// be read (and diffed) side by side: sqlite.go opens and closes the
// database, migrate.go holds the schema, tx.go the lifecycle transactions,
// and devices.go, credentials.go, detect.go, findings.go and audit.go the
// SQL of each capability of the store.Store contract.
//
// # Migrations
//
// The schema is versioned in the binary (schema_migrations). Open applies
// each pending migration in its own transaction on the single writer
// connection, and refuses a database migrated by a newer binary. Version N
// has the same tables as version N of the PostgreSQL backend.
//
// # Testing
//
// sqlite_test.go runs storetest.Run against a fresh file in a temporary
// directory for each subtest.
package sqlite
