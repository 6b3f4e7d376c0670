package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/store/lifecycle"
)

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

// ListDeviceCertificates returns the certificates of the given devices,
// newest issued first.
func (db *DB) ListDeviceCertificates(ctx context.Context, deviceIDs []string) ([]store.Certificate, error) {
	if len(deviceIDs) > store.MaxDeviceQueryIDs {
		return nil, fmt.Errorf("certificates of %d devices, more than %d: %w", len(deviceIDs), store.MaxDeviceQueryIDs, store.ErrInvalid)
	}
	if len(deviceIDs) == 0 {
		return nil, nil
	}
	ph, args := lifecycle.Placeholders(deviceIDs)
	return db.listCerts(ctx, `SELECT `+certCols+` FROM certificates WHERE device_id IN (`+ph+`) ORDER BY issued_at DESC, serial`, args...)
}

// SoonestExpiryByModel returns each model's soonest valid device
// certificate expiry.
func (db *DB) SoonestExpiryByModel(ctx context.Context, now time.Time) ([]store.ModelExpiry, error) {
	rows, err := db.r.QueryContext(ctx, lifecycle.SoonestExpiryQuery, ts(now))
	if err != nil {
		return nil, fmt.Errorf("soonest certificate expiry by model: %w", err)
	}
	defer rows.Close()
	var out []store.ModelExpiry
	for rows.Next() {
		var e store.ModelExpiry
		var n int64
		if err := rows.Scan(&e.Model, &n); err != nil {
			return nil, fmt.Errorf("soonest certificate expiry by model: %w", err)
		}
		e.NotAfter = tm(n)
		out = append(out, e)
	}
	return out, rows.Err()
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
	return db.listCerts(ctx, `SELECT `+certCols+` FROM certificates WHERE revoked_at > 0 ORDER BY revoked_at, serial`)
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

// PutAPIToken stores a new operator token.
func (db *DB) PutAPIToken(ctx context.Context, t store.APIToken) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO api_tokens(id, name, role, hash, created_at, expires_at, revoked_at) VALUES(?,?,?,?,?,?,?)`,
		t.ID, t.Name, string(t.Role), t.Hash, ts(t.CreatedAt), ts(t.ExpiresAt), ts(t.RevokedAt))
	if isUnique(err) {
		return fmt.Errorf("api token %s: %w", t.ID, store.ErrConflict)
	}
	return err
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
