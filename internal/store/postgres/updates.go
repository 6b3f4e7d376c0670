package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/store/lifecycle"
)

// CreateRollout stores a rollout and its devices in one transaction.
func (db *DB) CreateRollout(ctx context.Context, r store.Rollout, devices []store.RolloutDevice) error {
	if err := store.CheckRollout(r, devices); err != nil {
		return err
	}
	waves, _ := json.Marshal(r.Waves)
	return db.inTx(ctx, func(tx *pgTx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO rollouts(`+lifecycle.RolloutCols+`) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
			r.ID, r.Model, r.Version, string(waves), r.MaxFailure, r.HaltOnAlerts, int64(r.Soak), string(r.Status), r.Wave,
			ts(r.WaveStartedAt), r.Reason, r.CreatedBy, ts(r.CreatedAt), ts(r.UpdatedAt)); err != nil {
			return fmt.Errorf("create rollout %s: %w", r.ID, err)
		}
		rows := make([][]any, len(devices))
		for i, d := range devices {
			rows[i] = []any{r.ID, d.DeviceID, d.Wave, string(d.State), d.Reason, d.FromVersion,
				ts(d.OrderedAt), ts(d.InstalledAt), ts(d.SeenAt), ts(d.UpdatedAt)}
		}
		if _, err := tx.tx.CopyFrom(ctx, pgx.Identifier{"rollout_devices"}, strings.Split(lifecycle.RolloutDeviceCols, ", "), pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("create rollout %s devices: %w", r.ID, err)
		}
		return lifecycle.AddRolloutHistory(ctx, tx, r.ID, r.CreatedAt, "create", r.CreatedBy, r.Status, r.Wave, r.Reason)
	})
}

// GetRollout returns one rollout or ErrNotFound.
func (db *DB) GetRollout(ctx context.Context, id string) (store.Rollout, error) {
	r, err := lifecycle.ScanRollout(db.pool.QueryRow(ctx, `SELECT `+lifecycle.RolloutCols+` FROM rollouts WHERE id = $1`, id))
	if isNoRows(err) {
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
	rows, err := db.pool.Query(ctx, numbered(q), args...)
	out, err := collect(rows, err, func(s scanner) (store.Rollout, error) { return lifecycle.ScanRollout(s) })
	if err != nil {
		return nil, fmt.Errorf("list rollouts: %w", err)
	}
	return out, nil
}

// TransitionRollout applies one conditional rollout transition.
func (db *DB) TransitionRollout(ctx context.Context, t store.RolloutTransition) (store.Rollout, error) {
	return inTxValue(ctx, db, func(tx *pgTx) (store.Rollout, error) { return lifecycle.TransitionRollout(ctx, tx, t) })
}

// RolloutHistory returns a rollout's transitions, oldest first.
func (db *DB) RolloutHistory(ctx context.Context, id string) ([]store.RolloutHistory, error) {
	rows, err := db.pool.Query(ctx, `SELECT time, action, actor, status, wave, reason FROM rollout_history WHERE rollout_id = $1 ORDER BY id`, id)
	out, err := collect(rows, err, func(s scanner) (store.RolloutHistory, error) {
		var h store.RolloutHistory
		var at int64
		var status string
		err := s.Scan(&at, &h.Action, &h.Actor, &status, &h.Wave, &h.Reason)
		h.Time, h.Status = tm(at), store.RolloutStatus(status)
		return h, err
	})
	if err != nil {
		return nil, fmt.Errorf("rollout %s history: %w", id, err)
	}
	return out, nil
}

// GetRolloutDevice returns one device's record in a rollout.
func (db *DB) GetRolloutDevice(ctx context.Context, rolloutID, deviceID string) (store.RolloutDevice, error) {
	d, err := lifecycle.ScanRolloutDevice(db.pool.QueryRow(ctx, `SELECT `+lifecycle.RolloutDeviceCols+` FROM rollout_devices WHERE rollout_id = $1 AND device_id = $2`, rolloutID, deviceID))
	if isNoRows(err) {
		return d, fmt.Errorf("device %s in rollout %s: %w", deviceID, rolloutID, store.ErrNotFound)
	}
	return d, err
}

// ListRolloutDevices returns the matching devices by rollout, then device.
func (db *DB) ListRolloutDevices(ctx context.Context, f store.RolloutDeviceFilter) ([]store.RolloutDevice, error) {
	q, args := lifecycle.RolloutDevicesQuery(f)
	rows, err := db.pool.Query(ctx, numbered(q), args...)
	out, err := collect(rows, err, func(s scanner) (store.RolloutDevice, error) { return lifecycle.ScanRolloutDevice(s) })
	if err != nil {
		return nil, fmt.Errorf("list rollout devices: %w", err)
	}
	return out, nil
}

// UpdateRolloutDevice applies one conditional per-device change.
func (db *DB) UpdateRolloutDevice(ctx context.Context, u store.RolloutDeviceUpdate) (store.RolloutDevice, error) {
	return inTxValue(ctx, db, func(tx *pgTx) (store.RolloutDevice, error) { return lifecycle.UpdateRolloutDevice(ctx, tx, u) })
}

// CountRolloutDevices counts a rollout's devices per wave and state.
func (db *DB) CountRolloutDevices(ctx context.Context, rolloutID string) ([]store.WaveCount, error) {
	r, err := db.GetRollout(ctx, rolloutID)
	if err != nil {
		return nil, err
	}
	rows, err := db.pool.Query(ctx, `SELECT wave, state, COUNT(*), MAX(installed_at) FROM rollout_devices WHERE rollout_id = $1 GROUP BY wave, state`, rolloutID)
	type group struct {
		wave, n int
		state   string
		last    int64
	}
	groups, err := collect(rows, err, func(s scanner) (group, error) {
		var g group
		return g, s.Scan(&g.wave, &g.state, &g.n, &g.last)
	})
	if err != nil {
		return nil, fmt.Errorf("count rollout %s devices: %w", rolloutID, err)
	}
	out := store.NewWaveCounts(len(r.Waves))
	for _, g := range groups {
		if err := store.AddWaveCount(out, g.wave, store.RolloutDeviceState(g.state), g.n, tm(g.last)); err != nil {
			return nil, fmt.Errorf("rollout %s: %w", rolloutID, err)
		}
	}
	return out, nil
}
