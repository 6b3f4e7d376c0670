package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/store/lifecycle"
)

const deviceCols = lifecycle.DeviceCols

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
	var err error
	if d.Tags, err = lifecycle.ParseTags(d.ID, []byte(tags)); err != nil {
		return d, err
	}
	if err := json.Unmarshal([]byte(pol), &d.Policy); err != nil {
		return d, fmt.Errorf("device %s policy: %w", d.ID, err)
	}
	d.CreatedAt, d.UpdatedAt, d.LastSeen = tm(c), tm(u), tm(l)
	return d, nil
}

// CreateDevice inserts a new device and its tag rows; ErrConflict if the
// ID exists.
func (db *DB) CreateDevice(ctx context.Context, d store.Device) error {
	tags, _ := json.Marshal(nonNil(d.Tags))
	pol, _ := json.Marshal(d.Policy)
	return db.inTx(ctx, func(tx *liteTx) error {
		_, err := tx.tx.ExecContext(ctx, `INSERT INTO devices(`+deviceCols+`) VALUES(?,?,?,?,?,?,?,?,?,?,?,?)`,
			d.ID, d.Model, d.Firmware, string(tags), string(d.Status), string(d.Quarantine), string(pol), ts(d.CreatedAt), ts(d.UpdatedAt), ts(d.LastSeen),
			ts(d.RevokedAt), ts(d.ReenrolledAt))
		if isUnique(err) {
			return fmt.Errorf("device %s: %w", d.ID, store.ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("insert device %s: %w", d.ID, err)
		}
		return lifecycle.SetTags(ctx, tx, d.ID, d.Tags)
	})
}

// GetDevice returns one device or ErrNotFound.
func (db *DB) GetDevice(ctx context.Context, id string) (store.Device, error) {
	d, err := scanDevice(db.r.QueryRowContext(ctx, `SELECT `+deviceCols+` FROM devices WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return d, fmt.Errorf("device %s: %w", id, store.ErrNotFound)
	}
	return d, err
}

// DeviceTargets returns the model and tags of the devices of ids that
// exist. One read of three columns of every device, filtered here: a
// single node's fleet is read whole faster than looked up device by
// device.
func (db *DB) DeviceTargets(ctx context.Context, ids []string) ([]store.DeviceTarget, error) {
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	rows, err := db.r.QueryContext(ctx, `SELECT id, model, tags FROM devices`)
	if err != nil {
		return nil, fmt.Errorf("read device targets: %w", err)
	}
	defer rows.Close()
	var out []store.DeviceTarget
	for rows.Next() {
		var d store.DeviceTarget
		var tags string
		if err := rows.Scan(&d.ID, &d.Model, &tags); err != nil {
			return nil, fmt.Errorf("read device targets: %w", err)
		}
		if !want[d.ID] {
			continue
		}
		if d.Tags, err = lifecycle.ParseTags(d.ID, []byte(tags)); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read device targets: %w", err)
	}
	return out, nil
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

// QueryDevices returns one page of the matching devices, ordered by ID.
func (db *DB) QueryDevices(ctx context.Context, q store.DeviceQuery) ([]store.Device, string, error) {
	if err := q.Check(); err != nil {
		return nil, "", err
	}
	upTo, err := db.scanWindow(ctx, q)
	if err != nil {
		return nil, "", err
	}
	sql, args := lifecycle.DevicesQuery(q, upTo)
	rows, err := db.r.QueryContext(ctx, sql, args...)
	if err != nil {
		return nil, "", fmt.Errorf("query devices: %w", err)
	}
	defer rows.Close()
	var out []store.Device
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, "", fmt.Errorf("query devices: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("query devices: %w", err)
	}
	out, next := lifecycle.Page(out, q.Limit, upTo)
	return out, next, nil
}

// scanWindow returns the end of a text search's window when the window
// is full (see lifecycle.WindowEnd), "" otherwise.
func (db *DB) scanWindow(ctx context.Context, q store.DeviceQuery) (string, error) {
	return lifecycle.WindowEnd(q, func(sql string, args ...any) interface{ Scan(dest ...any) error } {
		return db.r.QueryRowContext(ctx, sql, args...)
	})
}

// CountDevices counts the devices in each status.
func (db *DB) CountDevices(ctx context.Context) (map[store.DeviceStatus]int, error) {
	rows, err := db.r.QueryContext(ctx, lifecycle.CountDevicesSQL)
	if err != nil {
		return nil, fmt.Errorf("count devices: %w", err)
	}
	defer rows.Close()
	return lifecycle.ScanDeviceCounts(rows)
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
	if err := lifecycle.SetTags(ctx, &liteTx{tx: tx.Tx}, id, d.Tags); err != nil {
		return d, err
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

// CreateDevices registers devices and their enrollment tokens in one
// transaction.
func (db *DB) CreateDevices(ctx context.Context, ds []store.Device, tokens []store.EnrollToken) error {
	return db.inTx(ctx, func(tx *liteTx) error { return lifecycle.CreateDevices(ctx, tx, ds, tokens) })
}

// DeleteDevice removes a never-enrolled device, its token and events.
func (db *DB) DeleteDevice(ctx context.Context, id string) error {
	return db.inTx(ctx, func(tx *liteTx) error { return lifecycle.DeleteDevice(ctx, tx, id) })
}

// UpdateModelPolicy applies fn to a model's policy in one transaction.
func (db *DB) UpdateModelPolicy(ctx context.Context, model string, fn func(*store.Policy) error) (store.ModelPolicy, error) {
	return inTxValue(ctx, db, func(tx *liteTx) (store.ModelPolicy, error) { return lifecycle.UpdateModelPolicy(ctx, tx, model, fn) })
}
