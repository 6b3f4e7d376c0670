package postgres

import (
	"context"

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
	return db.inTx(ctx, func(tx *pgTx) error { return lifecycle.InsertCertificate(ctx, tx, c) })
}

// EnrollDevice records an enrollment or re-enrollment in one transaction
// that locks the device's row first.
func (db *DB) EnrollDevice(ctx context.Context, e store.Enrollment) (store.Outcome, error) {
	return inTxValue(ctx, db, func(tx *pgTx) (store.Outcome, error) { return lifecycle.Enroll(ctx, tx, e) })
}

// TransitionDevice applies one lifecycle transition in one transaction
// that locks the device's row first.
func (db *DB) TransitionDevice(ctx context.Context, t store.Transition) (store.Outcome, error) {
	return inTxValue(ctx, db, func(tx *pgTx) (store.Outcome, error) { return lifecycle.Transition(ctx, tx, t) })
}

// RevokeSuperseded revokes the certificates superseded at or before before.
func (db *DB) RevokeSuperseded(ctx context.Context, before, now time.Time) ([]string, error) {
	return inTxValue(ctx, db, func(tx *pgTx) ([]string, error) { return lifecycle.RevokeSuperseded(ctx, tx, before, now) })
}

// PruneEvents deletes old events and caps the events kept per device.
func (db *DB) PruneEvents(ctx context.Context, before time.Time, perDevice int) (int64, error) {
	return inTxValue(ctx, db, func(tx *pgTx) (int64, error) { return lifecycle.PruneEvents(ctx, tx, before, perDevice) })
}

// GetCertificate returns one certificate by serial.
func (db *DB) GetCertificate(ctx context.Context, serial string) (store.Certificate, error) {
	c, err := scanCert(db.pool.QueryRow(ctx, `SELECT `+certCols+` FROM certificates WHERE serial=$1`, serial))
	if isNoRows(err) {
		return c, fmt.Errorf("certificate %s: %w", serial, store.ErrNotFound)
	}
	if err != nil {
		return c, fmt.Errorf("get certificate %s: %w", serial, err)
	}
	return c, nil
}

// ListCertificates returns a device's certificates, or every certificate
// when deviceID is empty, newest first.
func (db *DB) ListCertificates(ctx context.Context, deviceID string) ([]store.Certificate, error) {
	q := `SELECT ` + certCols + ` FROM certificates`
	var args []any
	if deviceID != "" {
		q += ` WHERE device_id=$1`
		args = append(args, deviceID)
	}
	q += ` ORDER BY issued_at DESC, serial`
	rows, err := db.pool.Query(ctx, q, args...)
	out, err := collect(rows, err, scanCert)
	if err != nil {
		return nil, fmt.Errorf("list certificates: %w", err)
	}
	return out, nil
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
	rows, err := db.pool.Query(ctx, `SELECT `+certCols+` FROM certificates WHERE device_id = ANY($1) ORDER BY issued_at DESC, serial`, deviceIDs)
	out, err := collect(rows, err, scanCert)
	if err != nil {
		return nil, fmt.Errorf("list certificates of %d devices: %w", len(deviceIDs), err)
	}
	return out, nil
}

// SoonestExpiryByModel returns each model's soonest valid device
// certificate expiry.
func (db *DB) SoonestExpiryByModel(ctx context.Context, now time.Time) ([]store.ModelExpiry, error) {
	rows, err := db.pool.Query(ctx, numbered(lifecycle.SoonestExpiryQuery), ts(now))
	out, err := collect(rows, err, func(s scanner) (store.ModelExpiry, error) {
		var e store.ModelExpiry
		var n int64
		err := s.Scan(&e.Model, &n)
		e.NotAfter = tm(n)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("soonest certificate expiry by model: %w", err)
	}
	return out, nil
}

// RevokeCertificate marks a certificate revoked (idempotent: the first
// revocation time and reason are kept). ErrNotFound for an unknown serial.
func (db *DB) RevokeCertificate(ctx context.Context, serial, reason string, at time.Time) error {
	// One statement: revoke if not yet revoked, and return a row if the
	// certificate exists (the SELECT sees the row as it was before).
	var updated bool
	err := db.pool.QueryRow(ctx, `WITH u AS (
			UPDATE certificates SET revoked_at=$1, revoke_reason=$2 WHERE serial=$3 AND revoked_at=0 RETURNING 1
		)
		SELECT EXISTS (SELECT 1 FROM u) FROM certificates WHERE serial=$3`,
		ts(at), reason, serial).Scan(&updated)
	if isNoRows(err) {
		return fmt.Errorf("certificate %s: %w", serial, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("revoke certificate %s: %w", serial, err)
	}
	return nil
}

// ListRevoked returns every revoked certificate, oldest revocation first.
func (db *DB) ListRevoked(ctx context.Context) ([]store.Certificate, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+certCols+` FROM certificates WHERE revoked_at > 0 ORDER BY revoked_at, serial`)
	out, err := collect(rows, err, scanCert)
	if err != nil {
		return nil, fmt.Errorf("list revoked certificates: %w", err)
	}
	return out, nil
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

// PutAPIToken stores a new operator token; ErrConflict if the ID exists.
func (db *DB) PutAPIToken(ctx context.Context, t store.APIToken) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO api_tokens(`+tokenCols+`) VALUES($1,$2,$3,$4,$5,$6,$7)`,
		t.ID, t.Name, string(t.Role), t.Hash, ts(t.CreatedAt), ts(t.ExpiresAt), ts(t.RevokedAt))
	if isUnique(err) {
		return fmt.Errorf("api token %s: %w", t.ID, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("store api token %s: %w", t.ID, err)
	}
	return nil
}

// GetAPIToken returns a token by ID.
func (db *DB) GetAPIToken(ctx context.Context, id string) (store.APIToken, error) {
	t, err := scanToken(db.pool.QueryRow(ctx, `SELECT `+tokenCols+` FROM api_tokens WHERE id=$1`, id))
	if isNoRows(err) {
		return t, fmt.Errorf("api token %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return t, fmt.Errorf("get api token %s: %w", id, err)
	}
	return t, nil
}

// ListAPITokens returns every token (hashes included; callers must not
// expose them), oldest first.
func (db *DB) ListAPITokens(ctx context.Context) ([]store.APIToken, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+tokenCols+` FROM api_tokens ORDER BY created_at, id`)
	out, err := collect(rows, err, scanToken)
	if err != nil {
		return nil, fmt.Errorf("list api tokens: %w", err)
	}
	return out, nil
}

// RevokeAPIToken revokes a token (the first revocation time is kept).
// ErrNotFound for an unknown ID.
func (db *DB) RevokeAPIToken(ctx context.Context, id string, at time.Time) error {
	var updated bool
	err := db.pool.QueryRow(ctx, `WITH u AS (
			UPDATE api_tokens SET revoked_at=$1 WHERE id=$2 AND revoked_at=0 RETURNING 1
		)
		SELECT EXISTS (SELECT 1 FROM u) FROM api_tokens WHERE id=$2`,
		ts(at), id).Scan(&updated)
	if isNoRows(err) {
		return fmt.Errorf("api token %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("revoke api token %s: %w", id, err)
	}
	return nil
}

// EachValidDeviceCertificate streams the serial, device and expiry of every
// device certificate that is neither revoked nor expired at now. fn runs
// while the query holds a pooled connection; it must not block for long.
func (db *DB) EachValidDeviceCertificate(ctx context.Context, now time.Time, fn func(store.Certificate) error) error {
	rows, err := db.pool.Query(ctx, `SELECT serial, device_id, not_after FROM certificates
		WHERE kind='device' AND revoked_at=0 AND not_after > $1`, ts(now))
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
