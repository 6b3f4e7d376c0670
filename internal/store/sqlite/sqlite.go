// Package sqlite is Ward's embedded store: one SQLite file through the pure
// Go driver modernc.org/sqlite, in WAL mode with a busy timeout, one writer
// connection and a pool of readers, and schema migrations versioned in the
// binary.
package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/store/lifecycle"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// DB is a store.Store backed by one SQLite file.
type DB struct {
	w *sql.DB // single writer connection
	r *sql.DB // readers
}

// Open opens (creating if needed) the SQLite database at path, applies
// pending migrations and returns the store. The file is created 0600.
func Open(ctx context.Context, path string) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create store directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	f.Close()
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(1)")
	dsn := "file:" + path + "?" + q.Encode()
	w, err := sql.Open("sqlite", dsn+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	r, err := sql.Open("sqlite", dsn)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	r.SetMaxOpenConns(8)
	db := &DB{w: w, r: r}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate store %s: %w", path, err)
	}
	return db, nil
}

// Close closes the database.
func (db *DB) Close() error {
	return errors.Join(db.r.Close(), db.w.Close())
}

// migrations are applied in order; each runs once, in its own transaction.
var migrations = []string{
	// 1: the secure core.
	`CREATE TABLE devices (
		id TEXT PRIMARY KEY,
		model TEXT NOT NULL,
		firmware TEXT NOT NULL,
		tags TEXT NOT NULL DEFAULT '[]',
		status TEXT NOT NULL,
		policy TEXT NOT NULL DEFAULT '{}',
		created_at INTEGER NOT NULL,
		updated_at INTEGER NOT NULL,
		last_seen INTEGER NOT NULL DEFAULT 0
	);
	CREATE TABLE model_policies (model TEXT PRIMARY KEY, policy TEXT NOT NULL);
	CREATE TABLE enroll_tokens (
		device_id TEXT PRIMARY KEY REFERENCES devices(id),
		hash BLOB NOT NULL,
		created_at INTEGER NOT NULL,
		expires_at INTEGER NOT NULL,
		used_at INTEGER NOT NULL DEFAULT 0
	);
	CREATE TABLE certificates (
		serial TEXT PRIMARY KEY,
		device_id TEXT NOT NULL DEFAULT '',
		subject TEXT NOT NULL,
		kind TEXT NOT NULL,
		not_before INTEGER NOT NULL,
		not_after INTEGER NOT NULL,
		fingerprint TEXT NOT NULL,
		der BLOB NOT NULL,
		issued_at INTEGER NOT NULL,
		revoked_at INTEGER NOT NULL DEFAULT 0,
		revoke_reason TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX certificates_device ON certificates(device_id);
	CREATE INDEX certificates_revoked ON certificates(revoked_at) WHERE revoked_at > 0;
	CREATE TABLE api_tokens (
		id TEXT PRIMARY KEY,
		name TEXT NOT NULL,
		role TEXT NOT NULL,
		hash BLOB NOT NULL,
		created_at INTEGER NOT NULL,
		expires_at INTEGER NOT NULL DEFAULT 0,
		revoked_at INTEGER NOT NULL DEFAULT 0
	);
	CREATE TABLE events (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		device_id TEXT NOT NULL,
		time INTEGER NOT NULL,
		kind TEXT NOT NULL,
		detail TEXT NOT NULL DEFAULT '{}'
	);
	CREATE INDEX events_device ON events(device_id, id);
	CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);`,
	// 2: detection, alerts and the audit log.
	`CREATE TABLE blobs (name TEXT PRIMARY KEY, data BLOB NOT NULL, updated_at INTEGER NOT NULL);
	CREATE TABLE alerts (
		id TEXT PRIMARY KEY,
		device_id TEXT NOT NULL,
		rule TEXT NOT NULL,
		state TEXT NOT NULL,
		severity TEXT NOT NULL,
		raised_at INTEGER NOT NULL,
		updated_at INTEGER NOT NULL,
		json BLOB NOT NULL
	);
	CREATE INDEX alerts_device_rule ON alerts(device_id, rule, state);
	CREATE INDEX alerts_state ON alerts(state, raised_at);
	CREATE TABLE metric_windows (
		device_id TEXT NOT NULL,
		window_ns INTEGER NOT NULL,
		start INTEGER NOT NULL,
		json BLOB NOT NULL,
		PRIMARY KEY (device_id, window_ns, start)
	) WITHOUT ROWID;
	CREATE INDEX metric_windows_start ON metric_windows(window_ns, start);
	CREATE TABLE audit_log (
		seq INTEGER PRIMARY KEY,
		time INTEGER NOT NULL,
		actor TEXT NOT NULL,
		action TEXT NOT NULL,
		target TEXT NOT NULL,
		detail TEXT NOT NULL,
		prev_hash TEXT NOT NULL,
		hash TEXT NOT NULL
	);`,
	// 3: audit, SBOMs and advisories.
	`CREATE TABLE sboms (
		model TEXT NOT NULL,
		firmware TEXT NOT NULL,
		format TEXT NOT NULL,
		source TEXT NOT NULL,
		components INTEGER NOT NULL,
		imported_at INTEGER NOT NULL,
		data BLOB NOT NULL,
		PRIMARY KEY (model, firmware)
	);
	CREATE TABLE advisories (id TEXT PRIMARY KEY, source TEXT NOT NULL, imported_at INTEGER NOT NULL, data BLOB NOT NULL);
	CREATE TABLE model_info (name TEXT PRIMARY KEY, data BLOB NOT NULL);
	CREATE TABLE findings (
		key TEXT PRIMARY KEY,
		check_id TEXT NOT NULL,
		severity TEXT NOT NULL,
		first_seen INTEGER NOT NULL,
		last_seen INTEGER NOT NULL,
		resolved_at INTEGER NOT NULL DEFAULT 0,
		json BLOB NOT NULL
	);
	CREATE INDEX findings_active ON findings(resolved_at);
	CREATE TABLE suppressions (
		id TEXT PRIMARY KEY, check_id TEXT NOT NULL, resource TEXT NOT NULL, reason TEXT NOT NULL,
		created_by TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL
	);
	CREATE TABLE finding_trend (time INTEGER PRIMARY KEY, counts TEXT NOT NULL);`,
	// 4: restricted quarantine.
	`ALTER TABLE devices ADD COLUMN quarantine TEXT NOT NULL DEFAULT ''`,
	// 5: the atomic lifecycle: revocation epoch, re-enrollment limits,
	// superseded certificates, event retention. A device revoked before
	// this migration gets its revocation time, which voids older tokens.
	`ALTER TABLE devices ADD COLUMN revoked_at INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE devices ADD COLUMN reenrolled_at INTEGER NOT NULL DEFAULT 0;
	UPDATE devices SET revoked_at = updated_at WHERE status = 'revoked';
	ALTER TABLE certificates ADD COLUMN superseded_at INTEGER NOT NULL DEFAULT 0;
	CREATE INDEX certificates_superseded ON certificates(superseded_at) WHERE superseded_at > 0 AND revoked_at = 0;
	CREATE INDEX events_time ON events(time);`,
}

func (db *DB) migrate(ctx context.Context) error {
	if _, err := db.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return err
	}
	var cur int
	if err := db.w.QueryRowContext(ctx, `SELECT COALESCE(MAX(version),0) FROM schema_migrations`).Scan(&cur); err != nil {
		return err
	}
	if cur > len(migrations) {
		return fmt.Errorf("database schema version %d is newer than this binary knows (%d): upgrade ward", cur, len(migrations))
	}
	for v := cur + 1; v <= len(migrations); v++ {
		tx, err := db.w.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, migrations[v-1]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", v, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations(version, applied_at) VALUES(?, ?)`, v, time.Now().UnixNano()); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", v, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %d: %w", v, err)
		}
	}
	return nil
}

func ts(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func tm(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func isUnique(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// CreateDevice inserts a new device; ErrConflict if the ID exists.
func (db *DB) CreateDevice(ctx context.Context, d store.Device) error {
	tags, _ := json.Marshal(nonNil(d.Tags))
	pol, _ := json.Marshal(d.Policy)
	_, err := db.w.ExecContext(ctx, `INSERT INTO devices(id, model, firmware, tags, status, quarantine, policy, created_at, updated_at, last_seen) VALUES(?,?,?,?,?,?,?,?,?,?)`,
		d.ID, d.Model, d.Firmware, string(tags), string(d.Status), string(d.Quarantine), string(pol), ts(d.CreatedAt), ts(d.UpdatedAt), ts(d.LastSeen))
	if isUnique(err) {
		return fmt.Errorf("device %s: %w", d.ID, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("insert device %s: %w", d.ID, err)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

type scanner interface{ Scan(...any) error }

const deviceCols = `id, model, firmware, tags, status, quarantine, policy, created_at, updated_at, last_seen, revoked_at, reenrolled_at`

func scanDevice(s scanner) (store.Device, error) {
	var d store.Device
	var tags, pol, status, quarantine string
	var c, u, l, r, re int64
	if err := s.Scan(&d.ID, &d.Model, &d.Firmware, &tags, &status, &quarantine, &pol, &c, &u, &l, &r, &re); err != nil {
		return d, err
	}
	d.RevokedAt, d.ReenrolledAt = tm(r), tm(re)
	d.Status = store.DeviceStatus(status)
	d.Quarantine = store.QuarantineMode(quarantine)
	if err := json.Unmarshal([]byte(tags), &d.Tags); err != nil {
		return d, fmt.Errorf("device %s tags: %w", d.ID, err)
	}
	if len(d.Tags) == 0 {
		d.Tags = nil
	}
	if err := json.Unmarshal([]byte(pol), &d.Policy); err != nil {
		return d, fmt.Errorf("device %s policy: %w", d.ID, err)
	}
	d.CreatedAt, d.UpdatedAt, d.LastSeen = tm(c), tm(u), tm(l)
	return d, nil
}

// GetDevice returns one device or ErrNotFound.
func (db *DB) GetDevice(ctx context.Context, id string) (store.Device, error) {
	d, err := scanDevice(db.r.QueryRowContext(ctx, `SELECT `+deviceCols+` FROM devices WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return d, fmt.Errorf("device %s: %w", id, store.ErrNotFound)
	}
	return d, err
}

// ListDevices returns all devices ordered by ID.
func (db *DB) ListDevices(ctx context.Context) ([]store.Device, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+deviceCols+` FROM devices ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	defer rows.Close()
	var out []store.Device
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// UpdateDevice reads, modifies with fn and writes a device in one transaction.
func (db *DB) UpdateDevice(ctx context.Context, id string, fn func(*store.Device) error) (store.Device, error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return store.Device{}, fmt.Errorf("update device %s: %w", id, err)
	}
	defer tx.Rollback()
	d, err := scanDevice(tx.QueryRowContext(ctx, `SELECT `+deviceCols+` FROM devices WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return d, fmt.Errorf("device %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return d, err
	}
	if err := fn(&d); err != nil {
		return d, err
	}
	d.ID = id
	tags, _ := json.Marshal(nonNil(d.Tags))
	pol, _ := json.Marshal(d.Policy)
	if _, err := tx.ExecContext(ctx, `UPDATE devices SET model=?, firmware=?, tags=?, policy=?, updated_at=? WHERE id=?`,
		d.Model, d.Firmware, string(tags), string(pol), ts(d.UpdatedAt), id); err != nil {
		return d, fmt.Errorf("update device %s: %w", id, err)
	}
	if d, err = scanDevice(tx.QueryRowContext(ctx, `SELECT `+deviceCols+` FROM devices WHERE id = ?`, id)); err != nil {
		return d, fmt.Errorf("update device %s: %w", id, err)
	}
	return d, tx.Commit()
}

// TouchDevice records when the device was last seen.
func (db *DB) TouchDevice(ctx context.Context, id string, seen time.Time) error {
	_, err := db.w.ExecContext(ctx, `UPDATE devices SET last_seen=? WHERE id=? AND last_seen < ?`, ts(seen), id, ts(seen))
	return err
}

// PutModelPolicy inserts or replaces a model's policy.
func (db *DB) PutModelPolicy(ctx context.Context, p store.ModelPolicy) error {
	pol, _ := json.Marshal(p.Policy)
	_, err := db.w.ExecContext(ctx, `INSERT INTO model_policies(model, policy) VALUES(?,?) ON CONFLICT(model) DO UPDATE SET policy=excluded.policy`, p.Model, string(pol))
	return err
}

// ListModelPolicies returns all model policies.
func (db *DB) ListModelPolicies(ctx context.Context) ([]store.ModelPolicy, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT model, policy FROM model_policies ORDER BY model`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.ModelPolicy
	for rows.Next() {
		var p store.ModelPolicy
		var pol string
		if err := rows.Scan(&p.Model, &pol); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(pol), &p.Policy); err != nil {
			return nil, fmt.Errorf("model %s policy: %w", p.Model, err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// PutEnrollToken sets (replacing) the device's enrollment token when its
// status allows one.
func (db *DB) PutEnrollToken(ctx context.Context, t store.EnrollToken) error {
	return db.inTx(ctx, func(tx *liteTx) error { return lifecycle.PutToken(ctx, tx, t) })
}

// GetEnrollToken returns the device's enrollment token record.
func (db *DB) GetEnrollToken(ctx context.Context, deviceID string) (store.EnrollToken, error) {
	t := store.EnrollToken{DeviceID: deviceID}
	var c, e, u int64
	err := db.r.QueryRowContext(ctx, `SELECT hash, created_at, expires_at, used_at FROM enroll_tokens WHERE device_id=?`, deviceID).Scan(&t.Hash, &c, &e, &u)
	if errors.Is(err, sql.ErrNoRows) {
		return t, fmt.Errorf("enrollment token for %s: %w", deviceID, store.ErrNotFound)
	}
	t.CreatedAt, t.ExpiresAt, t.UsedAt = tm(c), tm(e), tm(u)
	return t, err
}

const certCols = `serial, device_id, subject, kind, not_before, not_after, fingerprint, der, issued_at, revoked_at, revoke_reason, superseded_at`

func scanCert(s scanner) (store.Certificate, error) {
	var c store.Certificate
	var nb, na, ia, ra, sa int64
	err := s.Scan(&c.Serial, &c.DeviceID, &c.Subject, &c.Kind, &nb, &na, &c.Fingerprint, &c.DER, &ia, &ra, &c.RevokeReason, &sa)
	c.NotBefore, c.NotAfter, c.IssuedAt, c.RevokedAt, c.SupersededAt = tm(nb), tm(na), tm(ia), tm(ra), tm(sa)
	return c, err
}

// PutCertificate records an issued certificate; ErrConflict on a duplicate serial.
func (db *DB) PutCertificate(ctx context.Context, c store.Certificate) error {
	return db.inTx(ctx, func(tx *liteTx) error { return lifecycle.InsertCertificate(ctx, tx, c) })
}

// EnrollDevice records an enrollment or re-enrollment in one transaction.
func (db *DB) EnrollDevice(ctx context.Context, e store.Enrollment) (store.Outcome, error) {
	return inTxValue(ctx, db, func(tx *liteTx) (store.Outcome, error) { return lifecycle.Enroll(ctx, tx, e) })
}

// TransitionDevice applies one lifecycle transition in one transaction.
func (db *DB) TransitionDevice(ctx context.Context, t store.Transition) (store.Outcome, error) {
	return inTxValue(ctx, db, func(tx *liteTx) (store.Outcome, error) { return lifecycle.Transition(ctx, tx, t) })
}

// RevokeSuperseded revokes the certificates superseded at or before before.
func (db *DB) RevokeSuperseded(ctx context.Context, before, now time.Time) ([]string, error) {
	return inTxValue(ctx, db, func(tx *liteTx) ([]string, error) { return lifecycle.RevokeSuperseded(ctx, tx, before, now) })
}

// PruneEvents deletes old events and caps the events kept per device.
func (db *DB) PruneEvents(ctx context.Context, before time.Time, perDevice int) (int64, error) {
	return inTxValue(ctx, db, func(tx *liteTx) (int64, error) { return lifecycle.PruneEvents(ctx, tx, before, perDevice) })
}

// inTx runs fn in one write transaction (BEGIN IMMEDIATE on the single
// writer connection: write transactions never interleave) and commits
// when fn returns nil.
func (db *DB) inTx(ctx context.Context, fn func(*liteTx) error) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	defer tx.Rollback()
	if err := fn(&liteTx{tx: tx}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// inTxValue is inTx for a function that returns a value.
func inTxValue[T any](ctx context.Context, db *DB, fn func(*liteTx) (T, error)) (out T, err error) {
	err = db.inTx(ctx, func(tx *liteTx) error {
		out, err = fn(tx)
		return err
	})
	return out, err
}

// liteTx is a lifecycle.Tx over a SQLite transaction.
type liteTx struct{ tx *sql.Tx }

func (t *liteTx) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := t.tx.ExecContext(ctx, q, args...)
	if isUnique(err) {
		return 0, fmt.Errorf("%w: %v", store.ErrConflict, err)
	}
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (t *liteTx) QueryRow(ctx context.Context, q string, args ...any) interface{ Scan(...any) error } {
	return notFoundRow{t.tx.QueryRowContext(ctx, q, args...)}
}

func (t *liteTx) Strings(ctx context.Context, q string, args ...any) ([]string, error) {
	rows, err := t.tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func (t *liteTx) Device(ctx context.Context, id string) (store.Device, error) {
	d, err := scanDevice(t.tx.QueryRowContext(ctx, `SELECT `+deviceCols+` FROM devices WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return d, fmt.Errorf("device %s: %w", id, store.ErrNotFound)
	}
	return d, err
}

func (t *liteTx) ForUpdate() string { return "" }
func (t *liteTx) JSON() string      { return "?" }

// notFoundRow maps sql.ErrNoRows to store.ErrNotFound.
type notFoundRow struct{ r *sql.Row }

func (n notFoundRow) Scan(dest ...any) error {
	err := n.r.Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	return err
}

// GetCertificate returns one certificate by serial.
func (db *DB) GetCertificate(ctx context.Context, serial string) (store.Certificate, error) {
	c, err := scanCert(db.r.QueryRowContext(ctx, `SELECT `+certCols+` FROM certificates WHERE serial=?`, serial))
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("certificate %s: %w", serial, store.ErrNotFound)
	}
	return c, err
}

// ListCertificates returns a device's certificates, or every certificate
// when deviceID is empty, newest first.
func (db *DB) ListCertificates(ctx context.Context, deviceID string) ([]store.Certificate, error) {
	q := `SELECT ` + certCols + ` FROM certificates`
	args := []any{}
	if deviceID != "" {
		q += ` WHERE device_id=?`
		args = append(args, deviceID)
	}
	q += ` ORDER BY issued_at DESC, serial`
	return db.listCerts(ctx, q, args...)
}

func (db *DB) listCerts(ctx context.Context, q string, args ...any) ([]store.Certificate, error) {
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list certificates: %w", err)
	}
	defer rows.Close()
	var out []store.Certificate
	for rows.Next() {
		c, err := scanCert(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// RevokeCertificate marks a certificate revoked (idempotent: the first
// revocation time and reason are kept).
func (db *DB) RevokeCertificate(ctx context.Context, serial, reason string, at time.Time) error {
	res, err := db.w.ExecContext(ctx, `UPDATE certificates SET revoked_at=?, revoke_reason=? WHERE serial=? AND revoked_at=0`, ts(at), reason, serial)
	if err != nil {
		return fmt.Errorf("revoke certificate %s: %w", serial, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := db.GetCertificate(ctx, serial); err != nil {
			return err
		}
	}
	return nil
}

// ListRevoked returns every revoked certificate.
func (db *DB) ListRevoked(ctx context.Context) ([]store.Certificate, error) {
	return db.listCerts(ctx, `SELECT `+certCols+` FROM certificates WHERE revoked_at > 0 ORDER BY revoked_at`)
}

// PutAPIToken stores a new operator token.
func (db *DB) PutAPIToken(ctx context.Context, t store.APIToken) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO api_tokens(id, name, role, hash, created_at, expires_at, revoked_at) VALUES(?,?,?,?,?,?,?)`,
		t.ID, t.Name, string(t.Role), t.Hash, ts(t.CreatedAt), ts(t.ExpiresAt), ts(t.RevokedAt))
	if isUnique(err) {
		return fmt.Errorf("api token %s: %w", t.ID, store.ErrConflict)
	}
	return err
}

const tokenCols = `id, name, role, hash, created_at, expires_at, revoked_at`

func scanToken(s scanner) (store.APIToken, error) {
	var t store.APIToken
	var role string
	var c, e, r int64
	err := s.Scan(&t.ID, &t.Name, &role, &t.Hash, &c, &e, &r)
	t.Role = store.Role(role)
	t.CreatedAt, t.ExpiresAt, t.RevokedAt = tm(c), tm(e), tm(r)
	return t, err
}

// GetAPIToken returns a token by ID.
func (db *DB) GetAPIToken(ctx context.Context, id string) (store.APIToken, error) {
	t, err := scanToken(db.r.QueryRowContext(ctx, `SELECT `+tokenCols+` FROM api_tokens WHERE id=?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return t, fmt.Errorf("api token %s: %w", id, store.ErrNotFound)
	}
	return t, err
}

// ListAPITokens returns every token (hashes included; callers must not expose them).
func (db *DB) ListAPITokens(ctx context.Context) ([]store.APIToken, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+tokenCols+` FROM api_tokens ORDER BY created_at, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.APIToken
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeAPIToken revokes a token.
func (db *DB) RevokeAPIToken(ctx context.Context, id string, at time.Time) error {
	res, err := db.w.ExecContext(ctx, `UPDATE api_tokens SET revoked_at=? WHERE id=? AND revoked_at=0`, ts(at), id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		_, err := db.GetAPIToken(ctx, id)
		return err
	}
	return nil
}

// AddEvents appends device events in one transaction.
func (db *DB) AddEvents(ctx context.Context, evs []store.Event) error {
	if len(evs) == 0 {
		return nil
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("add events: %w", err)
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, `INSERT INTO events(device_id, time, kind, detail) VALUES(?,?,?,?)`)
	if err != nil {
		return fmt.Errorf("add events: %w", err)
	}
	defer st.Close()
	for _, e := range evs {
		det, _ := json.Marshal(e.Detail)
		if e.Detail == nil {
			det = []byte("{}")
		}
		if _, err := st.ExecContext(ctx, e.DeviceID, ts(e.Time), e.Kind, string(det)); err != nil {
			return fmt.Errorf("add events: %w", err)
		}
	}
	return tx.Commit()
}

// ListEvents returns a device's most recent events (all devices when
// deviceID is empty), newest first.
func (db *DB) ListEvents(ctx context.Context, deviceID string, limit int) ([]store.Event, error) {
	if limit <= 0 {
		limit = 50
	}
	q := `SELECT id, device_id, time, kind, detail FROM events`
	args := []any{}
	if deviceID != "" {
		q += ` WHERE device_id=?`
		args = append(args, deviceID)
	}
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, limit)
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	defer rows.Close()
	var out []store.Event
	for rows.Next() {
		var e store.Event
		var t int64
		var det string
		if err := rows.Scan(&e.ID, &e.DeviceID, &t, &e.Kind, &det); err != nil {
			return nil, err
		}
		e.Time = tm(t)
		if det != "{}" {
			if err := json.Unmarshal([]byte(det), &e.Detail); err != nil {
				return nil, fmt.Errorf("event %d detail: %w", e.ID, err)
			}
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// NextCounter increments and returns a named counter.
func (db *DB) NextCounter(ctx context.Context, name string) (int64, error) {
	var v int64
	err := db.w.QueryRowContext(ctx, `INSERT INTO counters(name, value) VALUES(?, 1) ON CONFLICT(name) DO UPDATE SET value = value + 1 RETURNING value`, name).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("counter %s: %w", name, err)
	}
	return v, nil
}

// GetBlob returns a named document.
func (db *DB) GetBlob(ctx context.Context, name string) ([]byte, error) {
	var b []byte
	err := db.r.QueryRowContext(ctx, `SELECT data FROM blobs WHERE name=?`, name).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%s: %w", name, store.ErrNotFound)
	}
	return b, err
}

// PutBlob stores a named document, replacing it.
func (db *DB) PutBlob(ctx context.Context, name string, data []byte) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO blobs(name, data, updated_at) VALUES(?,?,?) ON CONFLICT(name) DO UPDATE SET data=excluded.data, updated_at=excluded.updated_at`,
		name, data, time.Now().UnixNano())
	if err != nil {
		return fmt.Errorf("store %s: %w", name, err)
	}
	return nil
}

// PutAlert inserts or replaces an alert.
func (db *DB) PutAlert(ctx context.Context, a store.AlertRecord) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO alerts(id, device_id, rule, state, severity, raised_at, updated_at, json) VALUES(?,?,?,?,?,?,?,?)
		ON CONFLICT(id) DO UPDATE SET state=excluded.state, severity=excluded.severity, updated_at=excluded.updated_at, json=excluded.json`,
		a.ID, a.DeviceID, a.Rule, a.State, a.Severity, ts(a.RaisedAt), ts(a.UpdatedAt), a.JSON)
	if err != nil {
		return fmt.Errorf("store alert %s: %w", a.ID, err)
	}
	return nil
}

const alertCols = `id, device_id, rule, state, severity, raised_at, updated_at, json`

func scanAlert(s scanner) (store.AlertRecord, error) {
	var a store.AlertRecord
	var r, u int64
	err := s.Scan(&a.ID, &a.DeviceID, &a.Rule, &a.State, &a.Severity, &r, &u, &a.JSON)
	a.RaisedAt, a.UpdatedAt = tm(r), tm(u)
	return a, err
}

// GetAlert returns one alert.
func (db *DB) GetAlert(ctx context.Context, id string) (store.AlertRecord, error) {
	a, err := scanAlert(db.r.QueryRowContext(ctx, `SELECT `+alertCols+` FROM alerts WHERE id=?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return a, fmt.Errorf("alert %s: %w", id, store.ErrNotFound)
	}
	return a, err
}

// ListAlerts returns alerts matching f, newest first.
func (db *DB) ListAlerts(ctx context.Context, f store.AlertFilter) ([]store.AlertRecord, error) {
	q := `SELECT ` + alertCols + ` FROM alerts WHERE 1=1`
	var args []any
	if f.DeviceID != "" {
		q += ` AND device_id=?`
		args = append(args, f.DeviceID)
	}
	if f.Rule != "" {
		q += ` AND rule=?`
		args = append(args, f.Rule)
	}
	if len(f.States) > 0 {
		q += ` AND state IN (?` + strings.Repeat(",?", len(f.States)-1) + `)`
		for _, s := range f.States {
			args = append(args, s)
		}
	}
	if f.Limit <= 0 {
		f.Limit = 1000
	}
	q += ` ORDER BY raised_at DESC, id LIMIT ?`
	args = append(args, f.Limit)
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list alerts: %w", err)
	}
	defer rows.Close()
	var out []store.AlertRecord
	for rows.Next() {
		a, err := scanAlert(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// AddMetricWindows stores closed windows (replacing a window stored twice).
func (db *DB) AddMetricWindows(ctx context.Context, ws []store.MetricWindow) error {
	if len(ws) == 0 {
		return nil
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store metric windows: %w", err)
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, `INSERT OR REPLACE INTO metric_windows(device_id, window_ns, start, json) VALUES(?,?,?,?)`)
	if err != nil {
		return fmt.Errorf("store metric windows: %w", err)
	}
	defer st.Close()
	for _, w := range ws {
		if _, err := st.ExecContext(ctx, w.DeviceID, int64(w.Window), ts(w.Start), w.JSON); err != nil {
			return fmt.Errorf("store metric windows: %w", err)
		}
	}
	return tx.Commit()
}

// ListMetricWindows returns a device's windows of one size since a time, oldest first.
func (db *DB) ListMetricWindows(ctx context.Context, deviceID string, window time.Duration, since time.Time) ([]store.MetricWindow, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT device_id, window_ns, start, json FROM metric_windows WHERE device_id=? AND window_ns=? AND start>=? ORDER BY start`,
		deviceID, int64(window), ts(since))
	if err != nil {
		return nil, fmt.Errorf("list metric windows: %w", err)
	}
	defer rows.Close()
	var out []store.MetricWindow
	for rows.Next() {
		var w store.MetricWindow
		var win, start int64
		if err := rows.Scan(&w.DeviceID, &win, &start, &w.JSON); err != nil {
			return nil, err
		}
		w.Window, w.Start = time.Duration(win), tm(start)
		out = append(out, w)
	}
	return out, rows.Err()
}

// DeleteMetricWindowsBefore enforces retention for one window size.
func (db *DB) DeleteMetricWindowsBefore(ctx context.Context, window time.Duration, before time.Time) (int64, error) {
	res, err := db.w.ExecContext(ctx, `DELETE FROM metric_windows WHERE window_ns=? AND start<?`, int64(window), ts(before))
	if err != nil {
		return 0, fmt.Errorf("expire metric windows: %w", err)
	}
	return res.RowsAffected()
}

// AppendAudit appends an entry to the hash-chained audit log.
func (db *DB) AppendAudit(ctx context.Context, e store.AuditEntry) (store.AuditEntry, error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return e, fmt.Errorf("append audit log: %w", err)
	}
	defer tx.Rollback()
	var seq int64
	var prev string
	err = tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&seq, &prev)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return e, fmt.Errorf("append audit log: %w", err)
	}
	e.Seq, e.PrevHash = seq+1, prev
	e.Hash = store.AuditHash(e)
	det, _ := json.Marshal(e.Detail)
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit_log(seq, time, actor, action, target, detail, prev_hash, hash) VALUES(?,?,?,?,?,?,?,?)`,
		e.Seq, ts(e.Time), e.Actor, e.Action, e.Target, string(det), e.PrevHash, e.Hash); err != nil {
		return e, fmt.Errorf("append audit log: %w", err)
	}
	return e, tx.Commit()
}

// ListAudit returns the newest audit entries, newest first.
func (db *DB) ListAudit(ctx context.Context, limit int) ([]store.AuditEntry, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := db.r.QueryContext(ctx, `SELECT seq, time, actor, action, target, detail, prev_hash, hash FROM audit_log ORDER BY seq DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("list audit log: %w", err)
	}
	return scanAudit(rows)
}

// ListAuditFrom returns the entries from seq on, oldest first.
func (db *DB) ListAuditFrom(ctx context.Context, from int64, limit int) ([]store.AuditEntry, error) {
	if limit <= 0 {
		limit = 1000
	}
	rows, err := db.r.QueryContext(ctx, `SELECT seq, time, actor, action, target, detail, prev_hash, hash FROM audit_log WHERE seq >= ? ORDER BY seq LIMIT ?`, from, limit)
	if err != nil {
		return nil, fmt.Errorf("list audit log from %d: %w", from, err)
	}
	return scanAudit(rows)
}

func scanAudit(rows *sql.Rows) ([]store.AuditEntry, error) {
	defer rows.Close()
	var out []store.AuditEntry
	for rows.Next() {
		var e store.AuditEntry
		var t int64
		var det string
		if err := rows.Scan(&e.Seq, &t, &e.Actor, &e.Action, &e.Target, &det, &e.PrevHash, &e.Hash); err != nil {
			return nil, err
		}
		e.Time = tm(t)
		if det != "null" && det != "{}" {
			if err := json.Unmarshal([]byte(det), &e.Detail); err != nil {
				return nil, fmt.Errorf("audit entry %d: %w", e.Seq, err)
			}
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// PutSBOM stores (replacing) a model firmware's SBOM.
func (db *DB) PutSBOM(ctx context.Context, r store.SBOMRecord) error {
	_, err := db.w.ExecContext(ctx, `INSERT OR REPLACE INTO sboms(model, firmware, format, source, components, imported_at, data) VALUES(?,?,?,?,?,?,?)`,
		r.Model, r.Firmware, r.Format, r.Source, r.Components, ts(r.ImportedAt), r.Data)
	if err != nil {
		return fmt.Errorf("store SBOM %s %s: %w", r.Model, r.Firmware, err)
	}
	return nil
}

// GetSBOM returns one SBOM with its data.
func (db *DB) GetSBOM(ctx context.Context, model, firmware string) (store.SBOMRecord, error) {
	r := store.SBOMRecord{Model: model, Firmware: firmware}
	var at int64
	err := db.r.QueryRowContext(ctx, `SELECT format, source, components, imported_at, data FROM sboms WHERE model=? AND firmware=?`, model, firmware).
		Scan(&r.Format, &r.Source, &r.Components, &at, &r.Data)
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("SBOM of %s %s: %w", model, firmware, store.ErrNotFound)
	}
	r.ImportedAt = tm(at)
	return r, err
}

// ListSBOMs lists the SBOMs without their data.
func (db *DB) ListSBOMs(ctx context.Context) ([]store.SBOMRecord, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT model, firmware, format, source, components, imported_at FROM sboms ORDER BY model, firmware`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.SBOMRecord
	for rows.Next() {
		var r store.SBOMRecord
		var at int64
		if err := rows.Scan(&r.Model, &r.Firmware, &r.Format, &r.Source, &r.Components, &at); err != nil {
			return nil, err
		}
		r.ImportedAt = tm(at)
		out = append(out, r)
	}
	return out, rows.Err()
}

// PutAdvisories stores OSV records (replacing by ID) in one transaction.
func (db *DB) PutAdvisories(ctx context.Context, as []store.AdvisoryRecord) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, `INSERT OR REPLACE INTO advisories(id, source, imported_at, data) VALUES(?,?,?,?)`)
	if err != nil {
		return err
	}
	defer st.Close()
	for _, a := range as {
		if _, err := st.ExecContext(ctx, a.ID, a.Source, ts(a.ImportedAt), a.Data); err != nil {
			return fmt.Errorf("store advisory %s: %w", a.ID, err)
		}
	}
	return tx.Commit()
}

// EachAdvisory streams every stored advisory.
func (db *DB) EachAdvisory(ctx context.Context, fn func(store.AdvisoryRecord) error) error {
	rows, err := db.r.QueryContext(ctx, `SELECT id, source, imported_at, data FROM advisories ORDER BY id`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var a store.AdvisoryRecord
		var at int64
		if err := rows.Scan(&a.ID, &a.Source, &at, &a.Data); err != nil {
			return err
		}
		a.ImportedAt = tm(at)
		if err := fn(a); err != nil {
			return err
		}
	}
	return rows.Err()
}

// PutModelInfo stores a model's metadata document.
func (db *DB) PutModelInfo(ctx context.Context, name string, data []byte) error {
	_, err := db.w.ExecContext(ctx, `INSERT OR REPLACE INTO model_info(name, data) VALUES(?,?)`, name, data)
	return err
}

// ListModelInfo returns every model's metadata document.
func (db *DB) ListModelInfo(ctx context.Context) (map[string][]byte, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT name, data FROM model_info`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var n string
		var d []byte
		if err := rows.Scan(&n, &d); err != nil {
			return nil, err
		}
		out[n] = d
	}
	return out, rows.Err()
}

// PutFindings records one audit run's findings.
func (db *DB) PutFindings(ctx context.Context, fs []store.FindingRecord, now time.Time) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TEMP TABLE IF NOT EXISTS run_keys(key TEXT PRIMARY KEY)`); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM run_keys`); err != nil {
		return err
	}
	up, err := tx.PrepareContext(ctx, `INSERT INTO findings(key, check_id, severity, first_seen, last_seen, resolved_at, json) VALUES(?,?,?,?,?,0,?)
		ON CONFLICT(key) DO UPDATE SET severity=excluded.severity, last_seen=excluded.last_seen, json=excluded.json,
		first_seen=CASE WHEN findings.resolved_at > 0 THEN excluded.first_seen ELSE findings.first_seen END, resolved_at=0`)
	if err != nil {
		return err
	}
	defer up.Close()
	mark, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO run_keys(key) VALUES(?)`)
	if err != nil {
		return err
	}
	defer mark.Close()
	for _, f := range fs {
		if _, err := up.ExecContext(ctx, f.Key, f.Check, f.Severity, ts(now), ts(now), f.JSON); err != nil {
			return fmt.Errorf("store finding %s: %w", f.Key, err)
		}
		if _, err := mark.ExecContext(ctx, f.Key); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE findings SET resolved_at=? WHERE resolved_at=0 AND key NOT IN (SELECT key FROM run_keys)`, ts(now)); err != nil {
		return err
	}
	return tx.Commit()
}

// ListFindings returns the active findings (and resolved ones when asked).
func (db *DB) ListFindings(ctx context.Context, includeResolved bool) ([]store.FindingRecord, error) {
	q := `SELECT key, check_id, severity, first_seen, last_seen, resolved_at, json FROM findings`
	if !includeResolved {
		q += ` WHERE resolved_at=0`
	}
	q += ` ORDER BY check_id, key`
	rows, err := db.r.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.FindingRecord
	for rows.Next() {
		var f store.FindingRecord
		var a, b, c int64
		if err := rows.Scan(&f.Key, &f.Check, &f.Severity, &a, &b, &c, &f.JSON); err != nil {
			return nil, err
		}
		f.FirstSeen, f.LastSeen, f.ResolvedAt = tm(a), tm(b), tm(c)
		out = append(out, f)
	}
	return out, rows.Err()
}

// PutSuppression stores a suppression.
func (db *DB) PutSuppression(ctx context.Context, s store.Suppression) error {
	_, err := db.w.ExecContext(ctx, `INSERT OR REPLACE INTO suppressions(id, check_id, resource, reason, created_by, created_at, expires_at) VALUES(?,?,?,?,?,?,?)`,
		s.ID, s.Check, s.Resource, s.Reason, s.CreatedBy, ts(s.CreatedAt), ts(s.ExpiresAt))
	return err
}

// ListSuppressions returns every suppression.
func (db *DB) ListSuppressions(ctx context.Context) ([]store.Suppression, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT id, check_id, resource, reason, created_by, created_at, expires_at FROM suppressions ORDER BY created_at`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Suppression
	for rows.Next() {
		var s store.Suppression
		var c, e int64
		if err := rows.Scan(&s.ID, &s.Check, &s.Resource, &s.Reason, &s.CreatedBy, &c, &e); err != nil {
			return nil, err
		}
		s.CreatedAt, s.ExpiresAt = tm(c), tm(e)
		out = append(out, s)
	}
	return out, rows.Err()
}

// AddTrendPoint records open-finding counts at a time.
func (db *DB) AddTrendPoint(ctx context.Context, at time.Time, counts map[string]int) error {
	b, _ := json.Marshal(counts)
	_, err := db.w.ExecContext(ctx, `INSERT OR REPLACE INTO finding_trend(time, counts) VALUES(?,?)`, ts(at), string(b))
	return err
}

// ListTrend returns trend points since a time, oldest first.
func (db *DB) ListTrend(ctx context.Context, since time.Time) ([]store.TrendPoint, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT time, counts FROM finding_trend WHERE time>=? ORDER BY time`, ts(since))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.TrendPoint
	for rows.Next() {
		var p store.TrendPoint
		var t int64
		var c string
		if err := rows.Scan(&t, &c); err != nil {
			return nil, err
		}
		p.Time = tm(t)
		if err := json.Unmarshal([]byte(c), &p.Counts); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// ListEnrollTokens returns every device's enrollment token record.
func (db *DB) ListEnrollTokens(ctx context.Context) ([]store.EnrollToken, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT device_id, created_at, expires_at, used_at FROM enroll_tokens ORDER BY device_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.EnrollToken
	for rows.Next() {
		var t store.EnrollToken
		var c, e, u int64
		if err := rows.Scan(&t.DeviceID, &c, &e, &u); err != nil {
			return nil, err
		}
		t.CreatedAt, t.ExpiresAt, t.UsedAt = tm(c), tm(e), tm(u)
		out = append(out, t)
	}
	return out, rows.Err()
}

var _ store.Store = (*DB)(nil)

// EachValidDeviceCertificate streams the serial, device and expiry of every
// device certificate that is neither revoked nor expired at now.
func (db *DB) EachValidDeviceCertificate(ctx context.Context, now time.Time, fn func(store.Certificate) error) error {
	rows, err := db.r.QueryContext(ctx, `SELECT serial, device_id, not_after FROM certificates
		WHERE kind='device' AND revoked_at=0 AND not_after > ?`, ts(now))
	if err != nil {
		return fmt.Errorf("read valid device certificates: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c store.Certificate
		var na int64
		if err := rows.Scan(&c.Serial, &c.DeviceID, &na); err != nil {
			return fmt.Errorf("read valid device certificates: %w", err)
		}
		c.NotAfter = tm(na)
		if err := fn(c); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read valid device certificates: %w", err)
	}
	return nil
}
