package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/store/lifecycle"
)

const deviceCols = lifecycle.DeviceCols

func scanDevice(s scanner) (store.Device, error) {
	var d store.Device
	var tags, pol []byte
	var status, quarantine string
	var c, u, l, r, re int64
	if err := s.Scan(&d.ID, &d.Model, &d.Firmware, &tags, &status, &quarantine, &pol, &c, &u, &l, &r, &re); err != nil {
		return d, err
	}
	d.RevokedAt, d.ReenrolledAt = tm(r), tm(re)
	d.Status = store.DeviceStatus(status)
	d.Quarantine = store.QuarantineMode(quarantine)
	var err error
	if d.Tags, err = lifecycle.ParseTags(d.ID, tags); err != nil {
		return d, err
	}
	if err := json.Unmarshal(pol, &d.Policy); err != nil {
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
	return db.inTx(ctx, func(tx *pgTx) error {
		_, err := tx.tx.Exec(ctx, `INSERT INTO devices(`+deviceCols+`) VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)`,
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
	d, err := scanDevice(db.pool.QueryRow(ctx, `SELECT `+deviceCols+` FROM devices WHERE id = $1`, id))
	if isNoRows(err) {
		return d, fmt.Errorf("device %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return d, fmt.Errorf("get device %s: %w", id, err)
	}
	return d, nil
}

// ListDevices returns all devices ordered by ID.
func (db *DB) ListDevices(ctx context.Context) ([]store.Device, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+deviceCols+` FROM devices ORDER BY id`)
	out, err := collect(rows, err, scanDevice)
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	return out, nil
}

// DeviceTargets returns the model and tags of the devices of ids that
// exist, in one query by primary key.
func (db *DB) DeviceTargets(ctx context.Context, ids []string) ([]store.DeviceTarget, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := db.pool.Query(ctx, `SELECT id, model, tags FROM devices WHERE id = ANY($1::text[])`, ids)
	out, err := collect(rows, err, func(s scanner) (store.DeviceTarget, error) {
		var d store.DeviceTarget
		var tags []byte
		if err := s.Scan(&d.ID, &d.Model, &tags); err != nil {
			return d, err
		}
		d.Tags, err = lifecycle.ParseTags(d.ID, tags)
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("read device targets: %w", err)
	}
	return out, nil
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
	rows, err := db.pool.Query(ctx, numbered(sql), args...)
	out, err := collect(rows, err, scanDevice)
	if err != nil {
		return nil, "", fmt.Errorf("query devices: %w", err)
	}
	out, next := lifecycle.Page(out, q.Limit, upTo)
	return out, next, nil
}

// scanWindow returns the end of a text search's window when the window
// is full (see lifecycle.WindowEnd), "" otherwise.
func (db *DB) scanWindow(ctx context.Context, q store.DeviceQuery) (string, error) {
	return lifecycle.WindowEnd(q, func(sql string, args ...any) interface{ Scan(dest ...any) error } {
		return db.pool.QueryRow(ctx, numbered(sql), args...)
	})
}

// CountDevices counts the devices in each status.
func (db *DB) CountDevices(ctx context.Context) (map[store.DeviceStatus]int, error) {
	rows, err := db.pool.Query(ctx, lifecycle.CountDevicesSQL)
	if err != nil {
		return nil, fmt.Errorf("count devices: %w", err)
	}
	defer rows.Close()
	return lifecycle.ScanDeviceCounts(rows)
}

// UpdateDevice reads, modifies with fn and writes a device in one
// transaction. The row is locked (SELECT ... FOR UPDATE) so that
// concurrent updates of one device apply one after the other.
func (db *DB) UpdateDevice(ctx context.Context, id string, fn func(*store.Device) error) (store.Device, error) {
	var d store.Device
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var err error
		d, err = scanDevice(tx.QueryRow(ctx, `SELECT `+deviceCols+` FROM devices WHERE id = $1 FOR UPDATE`, id))
		if isNoRows(err) {
			return fmt.Errorf("device %s: %w", id, store.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("update device %s: %w", id, err)
		}
		if err := fn(&d); err != nil {
			return err
		}
		d.ID = id
		tags, _ := json.Marshal(nonNil(d.Tags))
		pol, _ := json.Marshal(d.Policy)
		if _, err := tx.Exec(ctx, `UPDATE devices SET model=$1, firmware=$2, tags=$3, policy=$4, updated_at=$5 WHERE id=$6`,
			d.Model, d.Firmware, string(tags), string(pol), ts(d.UpdatedAt), id); err != nil {
			return fmt.Errorf("update device %s: %w", id, err)
		}
		if err := lifecycle.SetTags(ctx, &pgTx{tx: tx}, id, d.Tags); err != nil {
			return err
		}
		if d, err = scanDevice(tx.QueryRow(ctx, `SELECT `+deviceCols+` FROM devices WHERE id = $1`, id)); err != nil {
			return fmt.Errorf("update device %s: %w", id, err)
		}
		return nil
	})
	return d, err
}

// TouchDevice records when the device was last seen; it never moves
// LastSeen back, and ignores an unknown device.
func (db *DB) TouchDevice(ctx context.Context, id string, seen time.Time) error {
	if _, err := db.pool.Exec(ctx, `UPDATE devices SET last_seen=$1 WHERE id=$2 AND last_seen < $1`, ts(seen), id); err != nil {
		return fmt.Errorf("touch device %s: %w", id, err)
	}
	return nil
}

// PutModelPolicy inserts or replaces a model's policy.
func (db *DB) PutModelPolicy(ctx context.Context, p store.ModelPolicy) error {
	pol, _ := json.Marshal(p.Policy)
	_, err := db.pool.Exec(ctx, `INSERT INTO model_policies(model, policy) VALUES($1,$2) ON CONFLICT(model) DO UPDATE SET policy=excluded.policy`, p.Model, string(pol))
	if err != nil {
		return fmt.Errorf("store policy of model %s: %w", p.Model, err)
	}
	return nil
}

// ListModelPolicies returns all model policies ordered by model.
func (db *DB) ListModelPolicies(ctx context.Context) ([]store.ModelPolicy, error) {
	rows, err := db.pool.Query(ctx, `SELECT model, policy FROM model_policies ORDER BY model`)
	out, err := collect(rows, err, func(s scanner) (store.ModelPolicy, error) {
		var p store.ModelPolicy
		var pol []byte
		if err := s.Scan(&p.Model, &pol); err != nil {
			return p, err
		}
		if err := json.Unmarshal(pol, &p.Policy); err != nil {
			return p, fmt.Errorf("model %s policy: %w", p.Model, err)
		}
		return p, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list model policies: %w", err)
	}
	return out, nil
}

// PutEnrollToken sets (replacing) the device's enrollment token when its
// status allows one; the device row is locked meanwhile.
func (db *DB) PutEnrollToken(ctx context.Context, t store.EnrollToken) error {
	return db.inTx(ctx, func(tx *pgTx) error { return lifecycle.PutToken(ctx, tx, t) })
}

// GetEnrollToken returns the device's enrollment token record.
func (db *DB) GetEnrollToken(ctx context.Context, deviceID string) (store.EnrollToken, error) {
	t := store.EnrollToken{DeviceID: deviceID}
	var c, e, u int64
	err := db.pool.QueryRow(ctx, `SELECT hash, created_at, expires_at, used_at FROM enroll_tokens WHERE device_id=$1`, deviceID).Scan(&t.Hash, &c, &e, &u)
	if isNoRows(err) {
		return t, fmt.Errorf("enrollment token for %s: %w", deviceID, store.ErrNotFound)
	}
	if err != nil {
		return t, fmt.Errorf("get enrollment token for %s: %w", deviceID, err)
	}
	t.CreatedAt, t.ExpiresAt, t.UsedAt = tm(c), tm(e), tm(u)
	return t, nil
}

// ListEnrollTokens returns every device's enrollment token record, without
// hashes, ordered by device ID.
func (db *DB) ListEnrollTokens(ctx context.Context) ([]store.EnrollToken, error) {
	rows, err := db.pool.Query(ctx, `SELECT device_id, created_at, expires_at, used_at FROM enroll_tokens ORDER BY device_id`)
	out, err := collect(rows, err, func(s scanner) (store.EnrollToken, error) {
		var t store.EnrollToken
		var c, e, u int64
		err := s.Scan(&t.DeviceID, &c, &e, &u)
		t.CreatedAt, t.ExpiresAt, t.UsedAt = tm(c), tm(e), tm(u)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("list enrollment tokens: %w", err)
	}
	return out, nil
}

// CreateDevices registers devices and their enrollment tokens in one
// transaction.
func (db *DB) CreateDevices(ctx context.Context, ds []store.Device, tokens []store.EnrollToken) error {
	return db.inTx(ctx, func(tx *pgTx) error { return lifecycle.CreateDevices(ctx, tx, ds, tokens) })
}

// DeleteDevice removes a never-enrolled device, its token and events;
// the device row is locked, as an enrollment locks it.
func (db *DB) DeleteDevice(ctx context.Context, id string) error {
	return db.inTx(ctx, func(tx *pgTx) error { return lifecycle.DeleteDevice(ctx, tx, id) })
}

// UpdateModelPolicy applies fn to a model's policy in one transaction,
// the model's row locked.
func (db *DB) UpdateModelPolicy(ctx context.Context, model string, fn func(*store.Policy) error) (store.ModelPolicy, error) {
	return inTxValue(ctx, db, func(tx *pgTx) (store.ModelPolicy, error) { return lifecycle.UpdateModelPolicy(ctx, tx, model, fn) })
}
