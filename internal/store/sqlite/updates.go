package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/store/lifecycle"
)

// CreateRollout stores a rollout and its devices in one transaction.
func (db *DB) CreateRollout(ctx context.Context, r store.Rollout, devices []store.RolloutDevice) error {
	if err := store.CheckRollout(r, devices); err != nil {
		return err
	}
	waves, _ := json.Marshal(r.Waves)
	return db.inTx(ctx, func(tx *liteTx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO rollouts(`+lifecycle.RolloutCols+`) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
			r.ID, r.Model, r.Version, string(waves), r.MaxFailure, r.HaltOnAlerts, int64(r.Soak), string(r.Status), r.Wave,
			ts(r.WaveStartedAt), r.Reason, r.CreatedBy, ts(r.CreatedAt), ts(r.UpdatedAt)); err != nil {
			return fmt.Errorf("create rollout %s: %w", r.ID, err)
		}
		st, err := tx.tx.PrepareContext(ctx, `INSERT INTO rollout_devices(`+lifecycle.RolloutDeviceCols+`) VALUES(?,?,?,?,?,?,?,?,?,?)`)
		if err != nil {
			return fmt.Errorf("create rollout %s: %w", r.ID, err)
		}
		defer st.Close()
		for _, d := range devices {
			if _, err := st.ExecContext(ctx, r.ID, d.DeviceID, d.Wave, string(d.State), d.Reason, d.FromVersion,
				ts(d.OrderedAt), ts(d.InstalledAt), ts(d.SeenAt), ts(d.UpdatedAt)); err != nil {
				return fmt.Errorf("create rollout %s: device %s: %w", r.ID, d.DeviceID, err)
			}
		}
		return lifecycle.AddRolloutHistory(ctx, tx, r.ID, r.CreatedAt, "create", r.CreatedBy, r.Status, r.Wave, r.Reason)
	})
}

// GetRollout returns one rollout or ErrNotFound.
func (db *DB) GetRollout(ctx context.Context, id string) (store.Rollout, error) {
	r, err := lifecycle.ScanRollout(db.r.QueryRowContext(ctx, `SELECT `+lifecycle.RolloutCols+` FROM rollouts WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("rollout %s: %w", id, store.ErrNotFound)
	}
	return r, err
}

// ListRollouts returns rollouts, newest first.
func (db *DB) ListRollouts(ctx context.Context, f store.RolloutFilter) ([]store.Rollout, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	q := `SELECT ` + lifecycle.RolloutCols + ` FROM rollouts WHERE 1=1`
	var args []any
	if len(f.Statuses) > 0 {
		ph, a := lifecycle.Placeholders(f.Statuses)
		q += ` AND status IN (` + ph + `)`
		args = append(args, a...)
	}
	if f.Model != "" {
		q += ` AND model = ?`
		args = append(args, f.Model)
	}
	q += ` ORDER BY created_at DESC, id DESC LIMIT ?`
	args = append(args, f.Limit)
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list rollouts: %w", err)
	}
	defer rows.Close()
	var out []store.Rollout
	for rows.Next() {
		r, err := lifecycle.ScanRollout(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// TransitionRollout applies one conditional rollout transition.
func (db *DB) TransitionRollout(ctx context.Context, t store.RolloutTransition) (store.Rollout, error) {
	return inTxValue(ctx, db, func(tx *liteTx) (store.Rollout, error) { return lifecycle.TransitionRollout(ctx, tx, t) })
}

// RolloutHistory returns a rollout's transitions, oldest first.
func (db *DB) RolloutHistory(ctx context.Context, id string) ([]store.RolloutHistory, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT time, action, actor, status, wave, reason FROM rollout_history WHERE rollout_id = ? ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("rollout %s history: %w", id, err)
	}
	defer rows.Close()
	var out []store.RolloutHistory
	for rows.Next() {
		var h store.RolloutHistory
		var at int64
		var status string
		if err := rows.Scan(&at, &h.Action, &h.Actor, &status, &h.Wave, &h.Reason); err != nil {
			return nil, err
		}
		h.Time, h.Status = tm(at), store.RolloutStatus(status)
		out = append(out, h)
	}
	return out, rows.Err()
}

// GetRolloutDevice returns one device's record in a rollout.
func (db *DB) GetRolloutDevice(ctx context.Context, rolloutID, deviceID string) (store.RolloutDevice, error) {
	d, err := lifecycle.ScanRolloutDevice(db.r.QueryRowContext(ctx, `SELECT `+lifecycle.RolloutDeviceCols+` FROM rollout_devices WHERE rollout_id = ? AND device_id = ?`, rolloutID, deviceID))
	if errors.Is(err, sql.ErrNoRows) {
		return d, fmt.Errorf("device %s in rollout %s: %w", deviceID, rolloutID, store.ErrNotFound)
	}
	return d, err
}

// ListRolloutDevices returns the matching devices by rollout, then device.
func (db *DB) ListRolloutDevices(ctx context.Context, f store.RolloutDeviceFilter) ([]store.RolloutDevice, error) {
	q, args := lifecycle.RolloutDevicesQuery(f)
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list rollout devices: %w", err)
	}
	defer rows.Close()
	var out []store.RolloutDevice
	for rows.Next() {
		d, err := lifecycle.ScanRolloutDevice(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// UpdateRolloutDevice applies one conditional per-device change.
func (db *DB) UpdateRolloutDevice(ctx context.Context, u store.RolloutDeviceUpdate) (store.RolloutDevice, error) {
	return inTxValue(ctx, db, func(tx *liteTx) (store.RolloutDevice, error) { return lifecycle.UpdateRolloutDevice(ctx, tx, u) })
}

// CountRolloutDevices counts a rollout's devices per wave and state.
func (db *DB) CountRolloutDevices(ctx context.Context, rolloutID string) ([]store.WaveCount, error) {
	r, err := db.GetRollout(ctx, rolloutID)
	if err != nil {
		return nil, err
	}
	rows, err := db.r.QueryContext(ctx, `SELECT wave, state, COUNT(*), MAX(installed_at) FROM rollout_devices WHERE rollout_id = ? GROUP BY wave, state`, rolloutID)
	if err != nil {
		return nil, fmt.Errorf("count rollout %s devices: %w", rolloutID, err)
	}
	defer rows.Close()
	out := store.NewWaveCounts(len(r.Waves))
	for rows.Next() {
		var wave, n int
		var state string
		var last int64
		if err := rows.Scan(&wave, &state, &n, &last); err != nil {
			return nil, err
		}
		if err := store.AddWaveCount(out, wave, store.RolloutDeviceState(state), n, tm(last)); err != nil {
			return nil, fmt.Errorf("rollout %s: %w", rolloutID, err)
		}
	}
	return out, rows.Err()
}
