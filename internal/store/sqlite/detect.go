package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/store/lifecycle"
)

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
	return putBlob(ctx, db.w, name, data)
}

func putBlob(ctx context.Context, db interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
}, name string, data []byte) error {
	_, err := db.ExecContext(ctx, `INSERT INTO blobs(name, data, updated_at) VALUES(?,?,?) ON CONFLICT(name) DO UPDATE SET data=excluded.data, updated_at=excluded.updated_at`,
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

// PutAlerts inserts or replaces alerts, in order, in one transaction.
func (db *DB) PutAlerts(ctx context.Context, as []store.AlertRecord) error {
	if len(as) == 0 {
		return nil
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store %d alerts: %w", len(as), err)
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, `INSERT INTO alerts(id, device_id, rule, state, severity, raised_at, updated_at, json) VALUES(?,?,?,?,?,?,?,?)
		ON CONFLICT(id) DO UPDATE SET state=excluded.state, severity=excluded.severity, updated_at=excluded.updated_at, json=excluded.json`)
	if err != nil {
		return fmt.Errorf("store %d alerts: %w", len(as), err)
	}
	defer st.Close()
	for _, a := range as {
		if _, err := st.ExecContext(ctx, a.ID, a.DeviceID, a.Rule, a.State, a.Severity, ts(a.RaisedAt), ts(a.UpdatedAt), a.JSON); err != nil {
			return fmt.Errorf("store alert %s: %w", a.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store %d alerts: %w", len(as), err)
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
	if len(f.Severities) > 0 {
		q += ` AND severity IN (?` + strings.Repeat(",?", len(f.Severities)-1) + `)`
		for _, s := range f.Severities {
			args = append(args, s)
		}
	}
	if !f.Since.IsZero() {
		q += ` AND raised_at >= ?`
		args = append(args, ts(f.Since))
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

// CountAlerts counts the alerts in each state and severity.
func (db *DB) CountAlerts(ctx context.Context) (map[string]map[string]int, error) {
	rows, err := db.r.QueryContext(ctx, lifecycle.CountAlertsSQL)
	if err != nil {
		return nil, fmt.Errorf("count alerts: %w", err)
	}
	defer rows.Close()
	return lifecycle.ScanAlertCounts(rows)
}

// AddMetricWindows stores closed windows (replacing a window stored twice).
func (db *DB) AddMetricWindows(ctx context.Context, ws []store.MetricWindow) error {
	if len(ws) == 0 {
		return nil
	}
	return db.inTx(ctx, func(tx *liteTx) error { return addMetricWindows(ctx, tx, ws) })
}

func addMetricWindows(ctx context.Context, tx *liteTx, ws []store.MetricWindow) error {
	if len(ws) == 0 {
		return nil
	}
	st, err := tx.tx.PrepareContext(ctx, `INSERT OR REPLACE INTO metric_windows(device_id, window_ns, start, json) VALUES(?,?,?,?)`)
	if err != nil {
		return fmt.Errorf("store metric windows: %w", err)
	}
	defer st.Close()
	for _, w := range ws {
		if _, err := st.ExecContext(ctx, w.DeviceID, int64(w.Window), ts(w.Start), w.JSON); err != nil {
			return fmt.Errorf("store metric windows: %w", err)
		}
	}
	return nil
}

// CommitEvaluatedWindow stores an evaluated window's results and deletes
// its batches in one transaction.
func (db *DB) CommitEvaluatedWindow(ctx context.Context, w store.EvaluatedWindow) error {
	return db.inTx(ctx, func(tx *liteTx) error {
		if err := addMetricWindows(ctx, tx, w.Windows); err != nil {
			return err
		}
		for name, data := range w.Blobs {
			if err := putBlob(ctx, tx.tx, name, data); err != nil {
				return err
			}
		}
		_, err := deletePartialBatches(ctx, tx, w.Batches)
		return err
	})
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

// PutPartialBatch stores a batch; a stored key keeps its first batch.
func (db *DB) PutPartialBatch(ctx context.Context, b store.PartialBatch) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO detect_partials(window_end, node, seq, batches, data) VALUES(?,?,?,?,?) ON CONFLICT DO NOTHING`,
		ts(b.WindowEnd), b.Node, b.Seq, b.Batches, b.Data)
	if err != nil {
		return fmt.Errorf("store partial batch %d of node %s, window %s: %w", b.Seq, b.Node, b.WindowEnd.UTC().Format(time.RFC3339), err)
	}
	return nil
}

// CountPartialBatches counts the stored batches per node and window.
func (db *DB) CountPartialBatches(ctx context.Context, through time.Time) ([]store.PartialCount, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT window_end, node, COUNT(*), MAX(batches) FROM detect_partials WHERE window_end<=? GROUP BY window_end, node ORDER BY window_end, node`, ts(through))
	if err != nil {
		return nil, fmt.Errorf("count partial batches: %w", err)
	}
	defer rows.Close()
	var out []store.PartialCount
	for rows.Next() {
		var c store.PartialCount
		var end int64
		if err := rows.Scan(&end, &c.Node, &c.Stored, &c.Batches); err != nil {
			return nil, fmt.Errorf("count partial batches: %w", err)
		}
		c.WindowEnd = tm(end)
		out = append(out, c)
	}
	return out, rows.Err()
}

// ListPartialBatches returns the batches of the windows ending by through.
func (db *DB) ListPartialBatches(ctx context.Context, through time.Time) ([]store.PartialBatch, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT window_end, node, seq, batches, data FROM detect_partials WHERE window_end<=? ORDER BY window_end, node, seq`, ts(through))
	if err != nil {
		return nil, fmt.Errorf("list partial batches: %w", err)
	}
	defer rows.Close()
	var out []store.PartialBatch
	for rows.Next() {
		var b store.PartialBatch
		var end int64
		if err := rows.Scan(&end, &b.Node, &b.Seq, &b.Batches, &b.Data); err != nil {
			return nil, fmt.Errorf("list partial batches: %w", err)
		}
		b.WindowEnd = tm(end)
		out = append(out, b)
	}
	return out, rows.Err()
}

// DeletePartialBatches deletes batches by key, in one transaction.
func (db *DB) DeletePartialBatches(ctx context.Context, bs []store.PartialBatch) (int64, error) {
	if len(bs) == 0 {
		return 0, nil
	}
	return inTxValue(ctx, db, func(tx *liteTx) (int64, error) { return deletePartialBatches(ctx, tx, bs) })
}

func deletePartialBatches(ctx context.Context, tx *liteTx, bs []store.PartialBatch) (int64, error) {
	var n int64
	for _, b := range bs {
		k, err := tx.Exec(ctx, `DELETE FROM detect_partials WHERE window_end=? AND node=? AND seq=?`, ts(b.WindowEnd), b.Node, b.Seq)
		if err != nil {
			return n, fmt.Errorf("delete partial batches: %w", err)
		}
		n += k
	}
	return n, nil
}
