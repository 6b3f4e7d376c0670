// Package lifecycle applies the device lifecycle's transactions in SQL,
// once for both store backends (store/sqlite and store/postgres): a
// transition, an enrollment or re-enrollment, an enrollment token's issue,
// the revocation of superseded certificates and the pruning of events; and
// the staged rollouts' transitions and per-device states (rollouts.go);
// and the grouped counts that summaries read (counts.go).
//
// Every function runs inside the caller's transaction and puts its
// precondition in its statements (UPDATE … WHERE status IN (…), a row
// locked with SELECT … FOR UPDATE on PostgreSQL, SQLite's exclusive write
// transaction), so that two concurrent transitions of one device apply one
// after the other and the second sees the first's result: a revoked or
// quarantined device can never be made active again by a request that
// started before it was revoked. The state machine itself (which statuses
// allow which transition) is defined in package store.
//
// The SQL is written with ? placeholders and the portable subset both
// databases share; a backend's Tx rewrites placeholders as it needs.
package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/wardproject/ward/internal/store"
)

// Tx is one open write transaction of a backend.
type Tx interface {
	// Exec runs a statement and returns the number of rows it changed;
	// a unique-constraint violation is an error wrapping store.ErrConflict.
	Exec(ctx context.Context, q string, args ...any) (int64, error)
	// QueryRow runs a query; its Scan returns store.ErrNotFound when the
	// query returned no row.
	QueryRow(ctx context.Context, q string, args ...any) interface{ Scan(dest ...any) error }
	// Strings runs a query whose single column is text and returns it.
	Strings(ctx context.Context, q string, args ...any) ([]string, error)
	// Device reads a device inside the transaction (store.ErrNotFound).
	Device(ctx context.Context, id string) (store.Device, error)
	// ForUpdate is the suffix that locks the rows a SELECT reads until
	// the transaction ends (" FOR UPDATE"), or "" where the write
	// transaction is already exclusive (SQLite).
	ForUpdate() string
	// JSON is the placeholder of a parameter stored in a JSON column.
	JSON() string
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// in renders an IN list of the package store's status constants.
func in(ss []store.DeviceStatus) string { return "(" + store.StatusList(ss) + ")" }

// locked is a device's lifecycle fields, read under the row lock.
type locked struct {
	status       store.DeviceStatus
	revokedAt    int64
	reenrolledAt int64
	validCerts   int // valid device certificates at the time given to lockDevice
}

// lockDevice reads and locks the device's lifecycle fields, and counts
// its device certificates valid at now.
func lockDevice(ctx context.Context, tx Tx, id string, now int64) (locked, error) {
	var l locked
	var s string
	err := tx.QueryRow(ctx, `SELECT status, revoked_at, reenrolled_at,
			(SELECT COUNT(*) FROM certificates c WHERE c.device_id = devices.id AND c.kind = 'device' AND c.revoked_at = 0 AND c.not_after > ?)
		FROM devices WHERE id = ?`+tx.ForUpdate(), now, id).Scan(&s, &l.revokedAt, &l.reenrolledAt, &l.validCerts)
	if errors.Is(err, store.ErrNotFound) {
		return l, fmt.Errorf("device %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return l, fmt.Errorf("read device %s: %w", id, err)
	}
	l.status = store.DeviceStatus(s)
	return l, nil
}

// Transition applies t (see store.Transition).
func Transition(ctx context.Context, tx Tx, t store.Transition) (store.Outcome, error) {
	now := nanos(t.Now)
	l, err := lockDevice(ctx, tx, t.DeviceID, now)
	if err != nil {
		return store.Outcome{}, err
	}
	status := l.status
	if !slices.Contains(t.From, status) {
		return store.Outcome{}, &store.StateError{DeviceID: t.DeviceID, Op: t.Op, Status: status}
	}
	mode := ""
	if t.To == store.StatusQuarantined {
		mode = string(t.Quarantine)
	}
	set := `status = ?`
	args := []any{string(t.To)}
	if t.NeedsCertificate && t.To == store.StatusActive {
		set = `status = CASE WHEN EXISTS (SELECT 1 FROM certificates WHERE device_id = ? AND kind = 'device' AND revoked_at = 0 AND not_after > ?)
			THEN 'active' ELSE 'pending' END`
		args = []any{t.DeviceID, now}
	}
	set += `, quarantine = ?, updated_at = ?`
	args = append(args, mode, now)
	if t.RevokeReason != "" {
		set += `, revoked_at = ?`
		args = append(args, now)
	}
	args = append(args, t.DeviceID)
	// The precondition is repeated in the statement: the row is locked
	// on PostgreSQL and the transaction exclusive on SQLite, so this
	// only guards against a backend that forgot to lock.
	n, err := tx.Exec(ctx, `UPDATE devices SET `+set+` WHERE id = ? AND status IN `+in(t.From), args...)
	if err != nil {
		return store.Outcome{}, fmt.Errorf("%s device %s: %w", t.Op, t.DeviceID, err)
	}
	if n != 1 {
		return store.Outcome{}, &store.StateError{DeviceID: t.DeviceID, Op: t.Op, Status: status}
	}
	var out store.Outcome
	if t.RevokeReason != "" {
		if out.Revoked, err = tx.Strings(ctx, `UPDATE certificates SET revoked_at = ?, revoke_reason = ? WHERE device_id = ? AND revoked_at = 0 RETURNING serial`,
			now, t.RevokeReason, t.DeviceID); err != nil {
			return store.Outcome{}, fmt.Errorf("revoke the certificates of device %s: %w", t.DeviceID, err)
		}
		slices.Sort(out.Revoked)
		if _, err := tx.Exec(ctx, `DELETE FROM enroll_tokens WHERE device_id = ?`, t.DeviceID); err != nil {
			return store.Outcome{}, fmt.Errorf("void the enrollment token of device %s: %w", t.DeviceID, err)
		}
	}
	if t.Event.Kind != "" {
		ev := t.Event
		if t.RevokeReason != "" {
			ev.Detail = withDetail(ev.Detail, "certificates", strconv.Itoa(len(out.Revoked)))
		}
		if err := AddEvent(ctx, tx, ev); err != nil {
			return store.Outcome{}, err
		}
	}
	if out.Device, err = tx.Device(ctx, t.DeviceID); err != nil {
		return store.Outcome{}, err
	}
	return out, nil
}

func withDetail(d map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(d)+1)
	for a, b := range d {
		out[a] = b
	}
	out[k] = v
	return out
}

// AddEvent appends one device event.
func AddEvent(ctx context.Context, tx Tx, e store.Event) error {
	det := []byte("{}")
	if e.Detail != nil {
		det, _ = json.Marshal(e.Detail)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO events(device_id, time, kind, detail) VALUES(?, ?, ?, `+tx.JSON()+`)`,
		e.DeviceID, nanos(e.Time), e.Kind, string(det)); err != nil {
		return fmt.Errorf("record %s event of device %s: %w", e.Kind, e.DeviceID, err)
	}
	return nil
}

// Enroll records an enrollment or re-enrollment (see store.Enrollment).
func Enroll(ctx context.Context, tx Tx, e store.Enrollment) (store.Outcome, error) {
	now := nanos(e.Now)
	id := e.DeviceID
	l, err := lockDevice(ctx, tx, id, now)
	if err != nil {
		return store.Outcome{}, err
	}
	status, revokedAt, reenrolledAt := l.status, l.revokedAt, l.reenrolledAt
	if e.TokenHash != nil {
		if !slices.Contains(store.EnrollFrom, status) {
			return store.Outcome{}, &store.StateError{DeviceID: id, Op: "enroll", Status: status}
		}
		n, err := tx.Exec(ctx, `UPDATE enroll_tokens SET used_at = ?
			WHERE device_id = ? AND hash = ? AND used_at = 0 AND expires_at > ? AND created_at >= ?`,
			now, id, e.TokenHash, now, revokedAt)
		if err != nil {
			return store.Outcome{}, fmt.Errorf("use the enrollment token of device %s: %w", id, err)
		}
		if n != 1 {
			return store.Outcome{}, fmt.Errorf("enrollment token for %s: %w", id, store.ErrNotFound)
		}
	} else {
		if status != store.StatusActive {
			return store.Outcome{}, &store.StateError{DeviceID: id, Op: "re-enroll", Status: status}
		}
		if reenrolledAt != 0 && now-reenrolledAt < int64(e.ReenrollInterval) {
			next := time.Unix(0, reenrolledAt).Add(e.ReenrollInterval).UTC()
			return store.Outcome{}, fmt.Errorf("device %s re-enrolled at %s; the next re-enrollment is allowed from %s: %w",
				id, time.Unix(0, reenrolledAt).UTC().Format(time.RFC3339), next.Format(time.RFC3339), store.ErrTooSoon)
		}
		n, err := tx.Exec(ctx, `UPDATE certificates SET superseded_at = ?
			WHERE serial = ? AND device_id = ? AND kind = 'device' AND revoked_at = 0 AND superseded_at = 0 AND not_after > ?`,
			now, e.Current, id, now)
		if err != nil {
			return store.Outcome{}, fmt.Errorf("supersede certificate %s: %w", e.Current, err)
		}
		if n != 1 {
			return store.Outcome{}, fmt.Errorf("certificate %s of device %s: %w", e.Current, id, store.ErrStaleCertificate)
		}
		if _, err := tx.Exec(ctx, `UPDATE devices SET reenrolled_at = ? WHERE id = ?`, now, id); err != nil {
			return store.Outcome{}, fmt.Errorf("re-enroll device %s: %w", id, err)
		}
	}
	c := e.Cert
	if err := InsertCertificate(ctx, tx, c); err != nil {
		return store.Outcome{}, err
	}
	if _, err := tx.Exec(ctx, `UPDATE devices SET status = 'active', quarantine = '', updated_at = ? WHERE id = ? AND status IN `+in(store.EnrollFrom),
		now, id); err != nil {
		return store.Outcome{}, fmt.Errorf("activate device %s: %w", id, err)
	}
	var out store.Outcome
	// The cap's statement runs only when the new certificate makes one
	// too many (the count was read under the lock: no other enrollment
	// of this device can have added one since).
	if e.MaxValid > 0 && l.validCerts+1 > e.MaxValid {
		const valid = `device_id = ? AND kind = 'device' AND revoked_at = 0 AND not_after > ? AND serial <> ?`
		out.Revoked, err = tx.Strings(ctx, `UPDATE certificates SET revoked_at = ?, revoke_reason = 'superseded'
			WHERE `+valid+` AND serial NOT IN (
				SELECT serial FROM certificates WHERE `+valid+` ORDER BY issued_at DESC, serial DESC LIMIT ?)
			RETURNING serial`,
			now, id, now, c.Serial, id, now, c.Serial, e.MaxValid-1)
		if err != nil {
			return store.Outcome{}, fmt.Errorf("cap the certificates of device %s: %w", id, err)
		}
		slices.Sort(out.Revoked)
	}
	if e.Event.Kind != "" {
		if err := AddEvent(ctx, tx, e.Event); err != nil {
			return store.Outcome{}, err
		}
	}
	if out.Device, err = tx.Device(ctx, id); err != nil {
		return store.Outcome{}, err
	}
	return out, nil
}

// InsertCertificate records an issued certificate; store.ErrConflict on a
// duplicate serial.
func InsertCertificate(ctx context.Context, tx Tx, c store.Certificate) error {
	_, err := tx.Exec(ctx, `INSERT INTO certificates(serial, device_id, subject, kind, not_before, not_after, fingerprint, der,
			issued_at, revoked_at, revoke_reason, superseded_at) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.Serial, c.DeviceID, c.Subject, c.Kind, nanos(c.NotBefore), nanos(c.NotAfter), c.Fingerprint, c.DER,
		nanos(c.IssuedAt), nanos(c.RevokedAt), c.RevokeReason, nanos(c.SupersededAt))
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("certificate %s: %w", c.Serial, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("record certificate %s: %w", c.Serial, err)
	}
	return nil
}

// PutToken sets the device's enrollment token if its status allows one.
func PutToken(ctx context.Context, tx Tx, t store.EnrollToken) error {
	l, err := lockDevice(ctx, tx, t.DeviceID, nanos(t.CreatedAt))
	if err != nil {
		return err
	}
	status := l.status
	if !slices.Contains(store.TokenFrom, status) {
		return &store.StateError{DeviceID: t.DeviceID, Op: "issuing an enrollment token", Status: status}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO enroll_tokens(device_id, hash, created_at, expires_at, used_at) VALUES(?, ?, ?, ?, 0)
		ON CONFLICT(device_id) DO UPDATE SET hash = excluded.hash, created_at = excluded.created_at, expires_at = excluded.expires_at, used_at = 0`,
		t.DeviceID, t.Hash, nanos(t.CreatedAt), nanos(t.ExpiresAt)); err != nil {
		return fmt.Errorf("store the enrollment token of device %s: %w", t.DeviceID, err)
	}
	return nil
}

// RevokeSuperseded revokes the certificates superseded at or before
// before (see store.Store.RevokeSuperseded).
func RevokeSuperseded(ctx context.Context, tx Tx, before, now time.Time) ([]string, error) {
	out, err := tx.Strings(ctx, `UPDATE certificates SET revoked_at = ?, revoke_reason = 'superseded'
		WHERE superseded_at > 0 AND superseded_at <= ? AND revoked_at = 0 RETURNING serial`, nanos(now), nanos(before))
	if err != nil {
		return nil, fmt.Errorf("revoke superseded certificates: %w", err)
	}
	slices.Sort(out)
	return out, nil
}

// PruneEvents deletes events older than before and, per device, all but
// the newest perDevice (0: no cap).
func PruneEvents(ctx context.Context, tx Tx, before time.Time, perDevice int) (int64, error) {
	n, err := tx.Exec(ctx, `DELETE FROM events WHERE time < ?`, nanos(before))
	if err != nil {
		return 0, fmt.Errorf("delete events before %s: %w", before.UTC().Format(time.RFC3339), err)
	}
	if perDevice > 0 {
		m, err := tx.Exec(ctx, `DELETE FROM events WHERE id IN (
			SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY device_id ORDER BY id DESC) AS rn FROM events) ranked
			WHERE rn > ?)`, perDevice)
		if err != nil {
			return n, fmt.Errorf("cap the events per device at %d: %w", perDevice, err)
		}
		n += m
	}
	return n, nil
}
