package lifecycle

// The staged rollouts' SQL (store.Updates), written once for both
// backends like the device lifecycle: a rollout's transitions and each
// device's state in it only move forward, with their preconditions in the
// statements.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wardproject/ward/internal/store"
)

// RolloutCols are the rollouts table's columns, in ScanRollout's order.
const RolloutCols = `id, model, version, waves, max_failure, halt_on_alerts, soak, status, wave, wave_started_at, reason, created_by, created_at, updated_at`

// ScanRollout reads a row of RolloutCols.
func ScanRollout(s interface{ Scan(dest ...any) error }) (store.Rollout, error) {
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
	r.WaveStartedAt, r.CreatedAt, r.UpdatedAt = fromNanos(started), fromNanos(created), fromNanos(updated)
	return r, nil
}

// RolloutDeviceCols are the rollout_devices table's columns, in
// ScanRolloutDevice's order.
const RolloutDeviceCols = `rollout_id, device_id, wave, state, reason, from_version, ordered_at, installed_at, seen_at, updated_at`

// ScanRolloutDevice reads a row of RolloutDeviceCols.
func ScanRolloutDevice(s interface{ Scan(dest ...any) error }) (store.RolloutDevice, error) {
	var d store.RolloutDevice
	var state string
	var ordered, installed, seen, updated int64
	if err := s.Scan(&d.RolloutID, &d.DeviceID, &d.Wave, &state, &d.Reason, &d.FromVersion, &ordered, &installed, &seen, &updated); err != nil {
		return d, err
	}
	d.State = store.RolloutDeviceState(state)
	d.OrderedAt, d.InstalledAt, d.SeenAt, d.UpdatedAt = fromNanos(ordered), fromNanos(installed), fromNanos(seen), fromNanos(updated)
	return d, nil
}

// Placeholders returns "?,?,?" for n values and the values as arguments.
func Placeholders[T ~string](vs []T) (string, []any) {
	args := make([]any, len(vs))
	for i, v := range vs {
		args[i] = string(v)
	}
	return strings.TrimSuffix(strings.Repeat("?,", len(vs)), ","), args
}

// AddRolloutHistory records one transition of a rollout in tx.
func AddRolloutHistory(ctx context.Context, tx Tx, id string, at time.Time, action, actor string, status store.RolloutStatus, wave int, reason string) error {
	if _, err := tx.Exec(ctx, `INSERT INTO rollout_history(rollout_id, time, action, actor, status, wave, reason) VALUES(?,?,?,?,?,?,?)`,
		id, nanos(at), action, actor, string(status), wave, reason); err != nil {
		return fmt.Errorf("rollout %s history: %w", id, err)
	}
	return nil
}

// TransitionRollout applies one conditional rollout transition in tx
// (store.Updates.TransitionRollout).
func TransitionRollout(ctx context.Context, tx Tx, t store.RolloutTransition) (store.Rollout, error) {
	if len(t.From) == 0 {
		return store.Rollout{}, fmt.Errorf("%s rollout %s: no precondition: %w", t.Action, t.RolloutID, store.ErrInvalid)
	}
	ph, args := Placeholders(t.From)
	q := `UPDATE rollouts SET status = ?, reason = ?, updated_at = ?`
	set := []any{string(t.To), t.Reason, nanos(t.Now)}
	if t.StartWave {
		q += `, wave = ?, wave_started_at = ?`
		set = append(set, t.Wave, nanos(t.Now))
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
	r, err := ScanRollout(tx.QueryRow(ctx, `SELECT `+RolloutCols+` FROM rollouts WHERE id = ?`, t.RolloutID))
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
			string(store.DeviceAborted), t.Reason, nanos(t.Now), t.RolloutID, string(store.DevicePending)); err != nil {
			return r, fmt.Errorf("%s rollout %s: %w", t.Action, t.RolloutID, err)
		}
	}
	return r, AddRolloutHistory(ctx, tx, r.ID, t.Now, t.Action, t.Actor, r.Status, r.Wave, t.Reason)
}

// UpdateRolloutDevice applies one conditional per-device change in tx
// (store.Updates.UpdateRolloutDevice).
func UpdateRolloutDevice(ctx context.Context, tx Tx, u store.RolloutDeviceUpdate) (store.RolloutDevice, error) {
	q, args := rolloutDeviceUpdate(u)
	n, err := tx.Exec(ctx, q, args...)
	if err != nil {
		return store.RolloutDevice{}, fmt.Errorf("update device %s in rollout %s: %w", u.DeviceID, u.RolloutID, err)
	}
	d, err := ScanRolloutDevice(tx.QueryRow(ctx, `SELECT `+RolloutDeviceCols+` FROM rollout_devices WHERE rollout_id = ? AND device_id = ?`, u.RolloutID, u.DeviceID))
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
}

// rolloutDeviceUpdate builds the conditional UPDATE of u, with ?
// placeholders (both backends use it).
func rolloutDeviceUpdate(u store.RolloutDeviceUpdate) (string, []any) {
	q := `UPDATE rollout_devices SET updated_at = ?`
	args := []any{nanos(u.Now)}
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
			args = append(args, nanos(c.t))
		}
	}
	from := u.From
	if from == nil {
		from = store.NonFinalDeviceStates
	}
	ph, a := Placeholders(from)
	q += ` WHERE rollout_id = ? AND device_id = ? AND state IN (` + ph + `)`
	args = append(args, u.RolloutID, u.DeviceID)
	args = append(args, a...)
	if len(u.RolloutStatuses) > 0 {
		ph, a := Placeholders(u.RolloutStatuses)
		q += ` AND EXISTS (SELECT 1 FROM rollouts r WHERE r.id = rollout_devices.rollout_id AND r.status IN (` + ph + `))`
		args = append(args, a...)
	}
	return q, args
}

// RolloutDevicesQuery builds the SELECT of store.Updates.ListRolloutDevices
// for f, with ? placeholders, ordered and limited (f.Limit <= 0: 1000);
// its rows scan with ScanRolloutDevice.
func RolloutDevicesQuery(f store.RolloutDeviceFilter) (string, []any) {
	if f.Limit <= 0 {
		f.Limit = 1000
	}
	q := `SELECT ` + prefixCols("d.", RolloutDeviceCols) + ` FROM rollout_devices d`
	var args []any
	if len(f.RolloutStatuses) > 0 {
		ph, a := Placeholders(f.RolloutStatuses)
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
		ph, a := Placeholders(f.States)
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
	return q, args
}

// prefixCols qualifies each column of a column list with p.
func prefixCols(p, cols string) string {
	parts := strings.Split(cols, ", ")
	for i := range parts {
		parts[i] = p + parts[i]
	}
	return strings.Join(parts, ", ")
}

// fromNanos is the time of a stored nanosecond count (0: the zero time).
func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
