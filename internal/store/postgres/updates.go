package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wardproject/ward/internal/store"
)

const rolloutCols = `id, model, version, waves, max_failure, halt_on_alerts, soak, status, wave, wave_started_at, reason, created_by, created_at, updated_at`

func scanRollout(s scanner) (store.Rollout, error) {
	var r store.Rollout
	var waves, status string
	var soak, started, created, updated int64
	if err := s.Scan(&r.ID, &r.Model, &r.Version, &waves, &r.MaxFailure, &r.HaltOnAlerts, &soak, &status, &r.Wave, &started,
		&r.Reason, &r.CreatedBy, &created, &updated); err != nil {
		return r, err
	}
	if err := json.Unmarshal([]byte(waves), &r.Waves); err != nil {
		return r, fmt.Errorf("rollout %s waves: %w", r.ID, err)
	}
	r.Soak, r.Status = time.Duration(soak), store.RolloutStatus(status)
	r.WaveStartedAt, r.CreatedAt, r.UpdatedAt = tm(started), tm(created), tm(updated)
	return r, nil
}

const rolloutDeviceCols = `rollout_id, device_id, wave, state, reason, from_version, ordered_at, installed_at, seen_at, updated_at`

func scanRolloutDevice(s scanner) (store.RolloutDevice, error) {
	var d store.RolloutDevice
	var state string
	var ordered, installed, seen, updated int64
	if err := s.Scan(&d.RolloutID, &d.DeviceID, &d.Wave, &state, &d.Reason, &d.FromVersion, &ordered, &installed, &seen, &updated); err != nil {
		return d, err
	}
	d.State = store.RolloutDeviceState(state)
	d.OrderedAt, d.InstalledAt, d.SeenAt, d.UpdatedAt = tm(ordered), tm(installed), tm(seen), tm(updated)
	return d, nil
}

// placeholders returns "?,?,?" for n values and the values as arguments.
func placeholders[T ~string](vs []T) (string, []any) {
	args := make([]any, len(vs))
	for i, v := range vs {
		args[i] = string(v)
	}
	return strings.TrimSuffix(strings.Repeat("?,", len(vs)), ","), args
}

// CreateRollout stores a rollout and its devices in one transaction.
func (db *DB) CreateRollout(ctx context.Context, r store.Rollout, devices []store.RolloutDevice) error {
	if err := store.CheckRollout(r, devices); err != nil {
		return err
	}
	waves, _ := json.Marshal(r.Waves)
	return db.inTx(ctx, func(tx *pgTx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO rollouts(`+rolloutCols+`) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
			r.ID, r.Model, r.Version, string(waves), r.MaxFailure, r.HaltOnAlerts, int64(r.Soak), string(r.Status), r.Wave,
			ts(r.WaveStartedAt), r.Reason, r.CreatedBy, ts(r.CreatedAt), ts(r.UpdatedAt)); err != nil {
			return fmt.Errorf("create rollout %s: %w", r.ID, err)
		}
		rows := make([][]any, len(devices))
		for i, d := range devices {
			rows[i] = []any{r.ID, d.DeviceID, d.Wave, string(d.State), d.Reason, d.FromVersion,
				ts(d.OrderedAt), ts(d.InstalledAt), ts(d.SeenAt), ts(d.UpdatedAt)}
		}
		if _, err := tx.tx.CopyFrom(ctx, pgx.Identifier{"rollout_devices"}, strings.Split(rolloutDeviceCols, ", "), pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("create rollout %s devices: %w", r.ID, err)
		}
		return addRolloutHistory(ctx, tx, r.ID, r.CreatedAt, "create", r.CreatedBy, r.Status, r.Wave, r.Reason)
	})
}

func addRolloutHistory(ctx context.Context, tx *pgTx, id string, at time.Time, action, actor string, status store.RolloutStatus, wave int, reason string) error {
	if _, err := tx.Exec(ctx, `INSERT INTO rollout_history(rollout_id, time, action, actor, status, wave, reason) VALUES(?,?,?,?,?,?,?)`,
		id, ts(at), action, actor, string(status), wave, reason); err != nil {
		return fmt.Errorf("rollout %s history: %w", id, err)
	}
	return nil
}

// GetRollout returns one rollout or ErrNotFound.
func (db *DB) GetRollout(ctx context.Context, id string) (store.Rollout, error) {
	r, err := scanRollout(db.pool.QueryRow(ctx, `SELECT `+rolloutCols+` FROM rollouts WHERE id = $1`, id))
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
	q := `SELECT ` + rolloutCols + ` FROM rollouts WHERE 1=1`
	var args []any
	if len(f.Statuses) > 0 {
		ph, a := placeholders(f.Statuses)
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
	out, err := collect(rows, err, scanRollout)
	if err != nil {
		return nil, fmt.Errorf("list rollouts: %w", err)
	}
	return out, nil
}

// TransitionRollout applies one conditional rollout transition.
func (db *DB) TransitionRollout(ctx context.Context, t store.RolloutTransition) (store.Rollout, error) {
	if len(t.From) == 0 {
		return store.Rollout{}, fmt.Errorf("%s rollout %s: no precondition: %w", t.Action, t.RolloutID, store.ErrInvalid)
	}
	return inTxValue(ctx, db, func(tx *pgTx) (store.Rollout, error) {
		ph, args := placeholders(t.From)
		q := `UPDATE rollouts SET status = ?, reason = ?, updated_at = ?`
		set := []any{string(t.To), t.Reason, ts(t.Now)}
		if t.StartWave {
			q += `, wave = ?, wave_started_at = ?`
			set = append(set, t.Wave, ts(t.Now))
		}
		q += ` WHERE id = ? AND status IN (` + ph + `)`
		set = append(set, t.RolloutID)
		set = append(set, args...)
		if t.CheckWave {
			q += ` AND wave = ?`
			set = append(set, t.FromWave)
		}
		n, err := tx.Exec(ctx, q, set...)
		if err != nil {
			return store.Rollout{}, fmt.Errorf("%s rollout %s: %w", t.Action, t.RolloutID, err)
		}
		r, err := scanRollout(tx.QueryRow(ctx, `SELECT `+rolloutCols+` FROM rollouts WHERE id = ?`, t.RolloutID))
		if errors.Is(err, store.ErrNotFound) {
			return r, fmt.Errorf("rollout %s: %w", t.RolloutID, store.ErrNotFound)
		}
		if err != nil {
			return r, fmt.Errorf("%s rollout %s: %w", t.Action, t.RolloutID, err)
		}
		if n == 0 {
			return r, &store.RolloutStateError{RolloutID: r.ID, Action: t.Action, Status: r.Status, Wave: r.Wave}
		}
		if t.AbortPending {
			if _, err := tx.Exec(ctx, `UPDATE rollout_devices SET state = ?, reason = ?, updated_at = ? WHERE rollout_id = ? AND state = ?`,
				string(store.DeviceAborted), t.Reason, ts(t.Now), t.RolloutID, string(store.DevicePending)); err != nil {
				return r, fmt.Errorf("%s rollout %s: %w", t.Action, t.RolloutID, err)
			}
		}
		return r, addRolloutHistory(ctx, tx, r.ID, t.Now, t.Action, t.Actor, r.Status, r.Wave, t.Reason)
	})
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
	d, err := scanRolloutDevice(db.pool.QueryRow(ctx, `SELECT `+rolloutDeviceCols+` FROM rollout_devices WHERE rollout_id = $1 AND device_id = $2`, rolloutID, deviceID))
	if isNoRows(err) {
		return d, fmt.Errorf("device %s in rollout %s: %w", deviceID, rolloutID, store.ErrNotFound)
	}
	return d, err
}

// ListRolloutDevices returns the matching devices by rollout, then device.
func (db *DB) ListRolloutDevices(ctx context.Context, f store.RolloutDeviceFilter) ([]store.RolloutDevice, error) {
	if f.Limit <= 0 {
		f.Limit = 1000
	}
	q := `SELECT ` + prefixed("d.", rolloutDeviceCols) + ` FROM rollout_devices d`
	var args []any
	if len(f.RolloutStatuses) > 0 {
		ph, a := placeholders(f.RolloutStatuses)
		q += ` JOIN rollouts r ON r.id = d.rollout_id AND r.status IN (` + ph + `)`
		args = append(args, a...)
	}
	q += ` WHERE 1=1`
	if f.RolloutID != "" {
		q += ` AND d.rollout_id = ?`
		args = append(args, f.RolloutID)
	}
	if f.DeviceID != "" {
		q += ` AND d.device_id = ?`
		args = append(args, f.DeviceID)
	}
	if len(f.Waves) > 0 {
		q += ` AND d.wave IN (` + strings.TrimSuffix(strings.Repeat("?,", len(f.Waves)), ",") + `)`
		for _, w := range f.Waves {
			args = append(args, w)
		}
	}
	if len(f.States) > 0 {
		ph, a := placeholders(f.States)
		q += ` AND d.state IN (` + ph + `)`
		args = append(args, a...)
	}
	if f.After != "" {
		ro, dev, _ := strings.Cut(f.After, "\x00")
		q += ` AND (d.rollout_id > ? OR (d.rollout_id = ? AND d.device_id > ?))`
		args = append(args, ro, ro, dev)
	}
	q += ` ORDER BY d.rollout_id, d.device_id LIMIT ?`
	args = append(args, f.Limit)
	rows, err := db.pool.Query(ctx, numbered(q), args...)
	out, err := collect(rows, err, scanRolloutDevice)
	if err != nil {
		return nil, fmt.Errorf("list rollout devices: %w", err)
	}
	return out, nil
}

// prefixed qualifies each column of a column list with p.
func prefixed(p, cols string) string {
	parts := strings.Split(cols, ", ")
	for i := range parts {
		parts[i] = p + parts[i]
	}
	return strings.Join(parts, ", ")
}

// UpdateRolloutDevice applies one conditional per-device change.
func (db *DB) UpdateRolloutDevice(ctx context.Context, u store.RolloutDeviceUpdate) (store.RolloutDevice, error) {
	return inTxValue(ctx, db, func(tx *pgTx) (store.RolloutDevice, error) {
		q, args := rolloutDeviceUpdate(u)
		n, err := tx.Exec(ctx, q, args...)
		if err != nil {
			return store.RolloutDevice{}, fmt.Errorf("update device %s in rollout %s: %w", u.DeviceID, u.RolloutID, err)
		}
		d, err := scanRolloutDevice(tx.QueryRow(ctx, `SELECT `+rolloutDeviceCols+` FROM rollout_devices WHERE rollout_id = ? AND device_id = ?`, u.RolloutID, u.DeviceID))
		if errors.Is(err, store.ErrNotFound) {
			return d, fmt.Errorf("device %s in rollout %s: %w", u.DeviceID, u.RolloutID, store.ErrNotFound)
		}
		if err != nil {
			return d, fmt.Errorf("update device %s in rollout %s: %w", u.DeviceID, u.RolloutID, err)
		}
		if n == 0 {
			var status string
			if err := tx.QueryRow(ctx, `SELECT status FROM rollouts WHERE id = ?`, u.RolloutID).Scan(&status); err != nil {
				return d, fmt.Errorf("update device %s in rollout %s: %w", u.DeviceID, u.RolloutID, err)
			}
			return d, &store.DeviceStateError{RolloutID: u.RolloutID, DeviceID: u.DeviceID, State: d.State, Status: store.RolloutStatus(status), To: u.State}
		}
		return d, nil
	})
}

// rolloutDeviceUpdate builds the conditional UPDATE of u, with ?
// placeholders (both backends use it).
func rolloutDeviceUpdate(u store.RolloutDeviceUpdate) (string, []any) {
	q := `UPDATE rollout_devices SET updated_at = ?`
	args := []any{ts(u.Now)}
	if u.State != "" {
		q += `, state = ?, reason = ?`
		args = append(args, string(u.State), u.Reason)
	}
	for _, c := range []struct {
		col string
		t   time.Time
	}{{"ordered_at", u.OrderedAt}, {"installed_at", u.InstalledAt}, {"seen_at", u.SeenAt}} {
		if !c.t.IsZero() {
			q += `, ` + c.col + ` = ?`
			args = append(args, ts(c.t))
		}
	}
	from := u.From
	if from == nil {
		from = store.NonFinalDeviceStates
	}
	ph, a := placeholders(from)
	q += ` WHERE rollout_id = ? AND device_id = ? AND state IN (` + ph + `)`
	args = append(args, u.RolloutID, u.DeviceID)
	args = append(args, a...)
	if len(u.RolloutStatuses) > 0 {
		ph, a := placeholders(u.RolloutStatuses)
		q += ` AND EXISTS (SELECT 1 FROM rollouts r WHERE r.id = rollout_devices.rollout_id AND r.status IN (` + ph + `))`
		args = append(args, a...)
	}
	return q, args
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
