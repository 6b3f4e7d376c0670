package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/store/lifecycle"
)

// AddEvents appends device events in one statement; IDs follow the order
// of evs.
func (db *DB) AddEvents(ctx context.Context, evs []store.Event) error {
	if len(evs) == 0 {
		return nil
	}
	ids := make([]string, len(evs))
	times := make([]int64, len(evs))
	kinds := make([]string, len(evs))
	details := make([]string, len(evs))
	for i, e := range evs {
		det := []byte("{}")
		if e.Detail != nil {
			det, _ = json.Marshal(e.Detail)
		}
		ids[i], times[i], kinds[i], details[i] = e.DeviceID, ts(e.Time), e.Kind, string(det)
	}
	_, err := db.pool.Exec(ctx, `INSERT INTO events(device_id, time, kind, detail)
		SELECT d, t, k, j::json FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[]) WITH ORDINALITY AS e(d, t, k, j, n) ORDER BY n`,
		ids, times, kinds, details)
	if err != nil {
		return fmt.Errorf("add %d events: %w", len(evs), err)
	}
	return nil
}

// ListEvents returns a device's most recent events (all devices when
// deviceID is empty), newest first.
func (db *DB) ListEvents(ctx context.Context, deviceID string, limit int) ([]store.Event, error) {
	if limit <= 0 {
		limit = 50
	}
	q := `SELECT id, device_id, time, kind, detail FROM events`
	args := []any{limit}
	if deviceID != "" {
		q += ` WHERE device_id=$2`
		args = append(args, deviceID)
	}
	q += ` ORDER BY id DESC LIMIT $1`
	rows, err := db.pool.Query(ctx, q, args...)
	out, err := collect(rows, err, func(s scanner) (store.Event, error) {
		var e store.Event
		var t int64
		var det string
		if err := s.Scan(&e.ID, &e.DeviceID, &t, &e.Kind, &det); err != nil {
			return e, err
		}
		e.Time = tm(t)
		if det != "{}" {
			if err := json.Unmarshal([]byte(det), &e.Detail); err != nil {
				return e, fmt.Errorf("event %d detail: %w", e.ID, err)
			}
		}
		return e, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	return out, nil
}

// NextCounter increments and returns a named counter.
func (db *DB) NextCounter(ctx context.Context, name string) (int64, error) {
	var v int64
	err := db.pool.QueryRow(ctx, `INSERT INTO counters(name, value) VALUES($1, 1) ON CONFLICT(name) DO UPDATE SET value = counters.value + 1 RETURNING value`, name).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("counter %s: %w", name, err)
	}
	return v, nil
}

// GetBlob returns a named document; ErrNotFound when absent.
func (db *DB) GetBlob(ctx context.Context, name string) ([]byte, error) {
	var b []byte
	err := db.pool.QueryRow(ctx, `SELECT data FROM blobs WHERE name=$1`, name).Scan(&b)
	if isNoRows(err) {
		return nil, fmt.Errorf("%s: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", name, err)
	}
	return b, nil
}

// PutBlob stores a named document, replacing it.
func (db *DB) PutBlob(ctx context.Context, name string, data []byte) error {
	return putBlob(ctx, db.pool, name, data)
}

func putBlob(ctx context.Context, q querier, name string, data []byte) error {
	_, err := q.Exec(ctx, `INSERT INTO blobs(name, data, updated_at) VALUES($1,$2,$3) ON CONFLICT(name) DO UPDATE SET data=excluded.data, updated_at=excluded.updated_at`,
		name, data, time.Now().UnixNano())
	if err != nil {
		return fmt.Errorf("store %s: %w", name, err)
	}
	return nil
}

// PutAlert inserts or replaces an alert (its device, rule and raise time
// are kept from the first insert).
func (db *DB) PutAlert(ctx context.Context, a store.AlertRecord) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO alerts(id, device_id, rule, state, severity, raised_at, updated_at, json) VALUES($1,$2,$3,$4,$5,$6,$7,$8)
		ON CONFLICT(id) DO UPDATE SET state=excluded.state, severity=excluded.severity, updated_at=excluded.updated_at, json=excluded.json`,
		a.ID, a.DeviceID, a.Rule, a.State, a.Severity, ts(a.RaisedAt), ts(a.UpdatedAt), a.JSON)
	if err != nil {
		return fmt.Errorf("store alert %s: %w", a.ID, err)
	}
	return nil
}

// PutAlerts inserts or replaces alerts in one statement; of two records
// with one ID, the later wins, as successive PutAlert calls would.
func (db *DB) PutAlerts(ctx context.Context, as []store.AlertRecord) error {
	if len(as) == 0 {
		return nil
	}
	// ON CONFLICT may not touch one row twice in a statement.
	last := make(map[string]int, len(as))
	for i, a := range as {
		last[a.ID] = i
	}
	var (
		ids, devs, rules, states, sevs []string
		raised, updated                []int64
		jsons                          [][]byte
	)
	for i, a := range as {
		if last[a.ID] != i {
			continue
		}
		ids, devs, rules, states, sevs = append(ids, a.ID), append(devs, a.DeviceID), append(rules, a.Rule), append(states, a.State), append(sevs, a.Severity)
		raised, updated, jsons = append(raised, ts(a.RaisedAt)), append(updated, ts(a.UpdatedAt)), append(jsons, a.JSON)
	}
	_, err := db.pool.Exec(ctx, `INSERT INTO alerts(id, device_id, rule, state, severity, raised_at, updated_at, json)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::bytea[])
		ON CONFLICT(id) DO UPDATE SET state=excluded.state, severity=excluded.severity, updated_at=excluded.updated_at, json=excluded.json`,
		ids, devs, rules, states, sevs, raised, updated, jsons)
	if err != nil {
		return fmt.Errorf("store %d alerts: %w", len(ids), err)
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
	a, err := scanAlert(db.pool.QueryRow(ctx, `SELECT `+alertCols+` FROM alerts WHERE id=$1`, id))
	if isNoRows(err) {
		return a, fmt.Errorf("alert %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return a, fmt.Errorf("get alert %s: %w", id, err)
	}
	return a, nil
}

// ListAlerts returns alerts matching f, newest first.
func (db *DB) ListAlerts(ctx context.Context, f store.AlertFilter) ([]store.AlertRecord, error) {
	if f.Limit <= 0 {
		f.Limit = 1000
	}
	q := `SELECT ` + alertCols + ` FROM alerts WHERE true`
	args := []any{f.Limit}
	if f.DeviceID != "" {
		args = append(args, f.DeviceID)
		q += fmt.Sprintf(` AND device_id=$%d`, len(args))
	}
	if f.Rule != "" {
		args = append(args, f.Rule)
		q += fmt.Sprintf(` AND rule=$%d`, len(args))
	}
	if len(f.States) > 0 {
		args = append(args, f.States)
		q += fmt.Sprintf(` AND state = ANY($%d::text[])`, len(args))
	}
	if len(f.Severities) > 0 {
		args = append(args, f.Severities)
		q += fmt.Sprintf(` AND severity = ANY($%d::text[])`, len(args))
	}
	if !f.Since.IsZero() {
		args = append(args, ts(f.Since))
		q += fmt.Sprintf(` AND raised_at >= $%d`, len(args))
	}
	q += ` ORDER BY raised_at DESC, id LIMIT $1`
	rows, err := db.pool.Query(ctx, q, args...)
	out, err := collect(rows, err, scanAlert)
	if err != nil {
		return nil, fmt.Errorf("list alerts: %w", err)
	}
	return out, nil
}

// CountAlerts counts the alerts in each state and severity.
func (db *DB) CountAlerts(ctx context.Context) (map[string]map[string]int, error) {
	rows, err := db.pool.Query(ctx, lifecycle.CountAlertsSQL)
	if err != nil {
		return nil, fmt.Errorf("count alerts: %w", err)
	}
	defer rows.Close()
	return lifecycle.ScanAlertCounts(rows)
}

// windowKey identifies a stored metric window.
type windowKey struct {
	device string
	window time.Duration
	start  int64
}

// AddMetricWindows stores closed windows, replacing a window stored twice
// (within ws, the last one wins). New windows, the usual case, go in by
// COPY, several times cheaper than an INSERT of as many rows for the
// client and the server; a COPY that meets a stored key (it is all or
// nothing) gives way to one INSERT ... ON CONFLICT of all of them.
func (db *DB) AddMetricWindows(ctx context.Context, ws []store.MetricWindow) error {
	return addMetricWindows(ctx, db.pool, ws)
}

// querier is a pool or a transaction.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	CopyFrom(ctx context.Context, table pgx.Identifier, cols []string, src pgx.CopyFromSource) (int64, error)
	Begin(ctx context.Context) (pgx.Tx, error)
}

func addMetricWindows(ctx context.Context, q querier, ws []store.MetricWindow) error {
	if len(ws) == 0 {
		return nil
	}
	// In a transaction (a savepoint in one) that a failed COPY aborts.
	err := pgx.BeginFunc(ctx, q, func(tx pgx.Tx) error {
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"metric_windows"}, []string{"device_id", "window_ns", "start", "json"},
			pgx.CopyFromSlice(len(ws), func(i int) ([]any, error) {
				return []any{ws[i].DeviceID, int64(ws[i].Window), ts(ws[i].Start), ws[i].JSON}, nil
			}))
		return err
	})
	if err == nil {
		return nil
	}
	if !isUnique(err) {
		return fmt.Errorf("store %d metric windows: %w", len(ws), err)
	}
	return upsertMetricWindows(ctx, q, ws)
}

// CommitEvaluatedWindow stores an evaluated window's results and deletes
// its batches in one transaction.
func (db *DB) CommitEvaluatedWindow(ctx context.Context, w store.EvaluatedWindow) error {
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if err := addMetricWindows(ctx, tx, w.Windows); err != nil {
			return err
		}
		for name, data := range w.Blobs {
			if err := putBlob(ctx, tx, name, data); err != nil {
				return err
			}
		}
		_, err := deletePartialBatches(ctx, tx, w.Batches)
		return err
	})
}

// upsertMetricWindows is AddMetricWindows when some windows are stored
// already: one statement.
func upsertMetricWindows(ctx context.Context, q querier, ws []store.MetricWindow) error {
	// ON CONFLICT may not touch one row twice in a statement: keep the
	// last of duplicate keys, as successive INSERT OR REPLACE would.
	last := make(map[windowKey]int, len(ws))
	for i, w := range ws {
		last[windowKey{w.DeviceID, w.Window, ts(w.Start)}] = i
	}
	var (
		devs         []string
		wins, starts []int64
		datas        [][]byte
	)
	for i, w := range ws {
		if last[windowKey{w.DeviceID, w.Window, ts(w.Start)}] != i {
			continue
		}
		devs, wins, starts, datas = append(devs, w.DeviceID), append(wins, int64(w.Window)), append(starts, ts(w.Start)), append(datas, w.JSON)
	}
	_, err := q.Exec(ctx, `INSERT INTO metric_windows(device_id, window_ns, start, json)
		SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bytea[])
		ON CONFLICT (device_id, window_ns, start) DO UPDATE SET json=excluded.json`,
		devs, wins, starts, datas)
	if err != nil {
		return fmt.Errorf("store %d metric windows: %w", len(devs), err)
	}
	return nil
}

// ListMetricWindows returns a device's windows of one size since a time, oldest first.
func (db *DB) ListMetricWindows(ctx context.Context, deviceID string, window time.Duration, since time.Time) ([]store.MetricWindow, error) {
	rows, err := db.pool.Query(ctx, `SELECT device_id, window_ns, start, json FROM metric_windows WHERE device_id=$1 AND window_ns=$2 AND start>=$3 ORDER BY start`,
		deviceID, int64(window), ts(since))
	out, err := collect(rows, err, func(s scanner) (store.MetricWindow, error) {
		var w store.MetricWindow
		var win, start int64
		err := s.Scan(&w.DeviceID, &win, &start, &w.JSON)
		w.Window, w.Start = time.Duration(win), tm(start)
		return w, err
	})
	if err != nil {
		return nil, fmt.Errorf("list metric windows of %s: %w", deviceID, err)
	}
	return out, nil
}

// DeleteMetricWindowsBefore enforces retention for one window size.
func (db *DB) DeleteMetricWindowsBefore(ctx context.Context, window time.Duration, before time.Time) (int64, error) {
	tag, err := db.pool.Exec(ctx, `DELETE FROM metric_windows WHERE window_ns=$1 AND start<$2`, int64(window), ts(before))
	if err != nil {
		return 0, fmt.Errorf("expire %s metric windows: %w", window, err)
	}
	return tag.RowsAffected(), nil
}

// PutPartialBatch stores a batch; a stored key keeps its first batch.
func (db *DB) PutPartialBatch(ctx context.Context, b store.PartialBatch) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO detect_partials(window_end, node, seq, batches, data) VALUES($1,$2,$3,$4,$5) ON CONFLICT DO NOTHING`,
		ts(b.WindowEnd), b.Node, b.Seq, b.Batches, b.Data)
	if err != nil {
		return fmt.Errorf("store partial batch %d of node %s, window %s: %w", b.Seq, b.Node, b.WindowEnd.UTC().Format(time.RFC3339), err)
	}
	return nil
}

// CountPartialBatches counts the stored batches per node and window.
func (db *DB) CountPartialBatches(ctx context.Context, through time.Time) ([]store.PartialCount, error) {
	rows, err := db.pool.Query(ctx, `SELECT window_end, node, COUNT(*), MAX(batches) FROM detect_partials WHERE window_end<=$1 GROUP BY window_end, node ORDER BY window_end, node`, ts(through))
	out, err := collect(rows, err, func(s scanner) (store.PartialCount, error) {
		var c store.PartialCount
		var end int64
		err := s.Scan(&end, &c.Node, &c.Stored, &c.Batches)
		c.WindowEnd = tm(end)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("count partial batches: %w", err)
	}
	return out, nil
}

// ListPartialBatches returns the batches of the windows ending by through.
func (db *DB) ListPartialBatches(ctx context.Context, through time.Time) ([]store.PartialBatch, error) {
	rows, err := db.pool.Query(ctx, `SELECT window_end, node, seq, batches, data FROM detect_partials WHERE window_end<=$1 ORDER BY window_end, node, seq`, ts(through))
	out, err := collect(rows, err, func(s scanner) (store.PartialBatch, error) {
		var b store.PartialBatch
		var end int64
		err := s.Scan(&end, &b.Node, &b.Seq, &b.Batches, &b.Data)
		b.WindowEnd = tm(end)
		return b, err
	})
	if err != nil {
		return nil, fmt.Errorf("list partial batches: %w", err)
	}
	return out, nil
}

// DeletePartialBatches deletes batches by key, in one statement.
func (db *DB) DeletePartialBatches(ctx context.Context, bs []store.PartialBatch) (int64, error) {
	return deletePartialBatches(ctx, db.pool, bs)
}

func deletePartialBatches(ctx context.Context, q querier, bs []store.PartialBatch) (int64, error) {
	if len(bs) == 0 {
		return 0, nil
	}
	ends := make([]int64, len(bs))
	nodes := make([]string, len(bs))
	seqs := make([]int64, len(bs))
	for i, b := range bs {
		ends[i], nodes[i], seqs[i] = ts(b.WindowEnd), b.Node, int64(b.Seq)
	}
	tag, err := q.Exec(ctx, `DELETE FROM detect_partials p USING unnest($1::bigint[], $2::text[], $3::bigint[]) AS k(e, n, s)
		WHERE p.window_end=k.e AND p.node=k.n AND p.seq=k.s`, ends, nodes, seqs)
	if err != nil {
		return 0, fmt.Errorf("delete partial batches: %w", err)
	}
	return tag.RowsAffected(), nil
}
