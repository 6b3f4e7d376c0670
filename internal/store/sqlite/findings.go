package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/wardproject/ward/internal/store"
)

// PutSBOM stores (replacing) a model firmware's SBOM.
func (db *DB) PutSBOM(ctx context.Context, r store.SBOMRecord) error {
	_, err := db.w.ExecContext(ctx, `INSERT OR REPLACE INTO sboms(model, firmware, format, source, components, imported_at, data) VALUES(?,?,?,?,?,?,?)`,
		r.Model, r.Firmware, r.Format, r.Source, r.Components, ts(r.ImportedAt), r.Data)
	if err != nil {
		return fmt.Errorf("store SBOM %s %s: %w", r.Model, r.Firmware, err)
	}
	return nil
}

// GetSBOM returns one SBOM with its data.
func (db *DB) GetSBOM(ctx context.Context, model, firmware string) (store.SBOMRecord, error) {
	r := store.SBOMRecord{Model: model, Firmware: firmware}
	var at int64
	err := db.r.QueryRowContext(ctx, `SELECT format, source, components, imported_at, data FROM sboms WHERE model=? AND firmware=?`, model, firmware).
		Scan(&r.Format, &r.Source, &r.Components, &at, &r.Data)
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("SBOM of %s %s: %w", model, firmware, store.ErrNotFound)
	}
	r.ImportedAt = tm(at)
	return r, err
}

// ListSBOMs lists the SBOMs without their data.
func (db *DB) ListSBOMs(ctx context.Context) ([]store.SBOMRecord, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT model, firmware, format, source, components, imported_at FROM sboms ORDER BY model, firmware`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.SBOMRecord
	for rows.Next() {
		var r store.SBOMRecord
		var at int64
		if err := rows.Scan(&r.Model, &r.Firmware, &r.Format, &r.Source, &r.Components, &at); err != nil {
			return nil, err
		}
		r.ImportedAt = tm(at)
		out = append(out, r)
	}
	return out, rows.Err()
}

// PutAdvisories stores OSV records (replacing by ID) in one transaction.
func (db *DB) PutAdvisories(ctx context.Context, as []store.AdvisoryRecord) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, `INSERT OR REPLACE INTO advisories(id, source, imported_at, data) VALUES(?,?,?,?)`)
	if err != nil {
		return err
	}
	defer st.Close()
	for _, a := range as {
		if _, err := st.ExecContext(ctx, a.ID, a.Source, ts(a.ImportedAt), a.Data); err != nil {
			return fmt.Errorf("store advisory %s: %w", a.ID, err)
		}
	}
	return tx.Commit()
}

// EachAdvisory streams every stored advisory.
func (db *DB) EachAdvisory(ctx context.Context, fn func(store.AdvisoryRecord) error) error {
	rows, err := db.r.QueryContext(ctx, `SELECT id, source, imported_at, data FROM advisories ORDER BY id`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var a store.AdvisoryRecord
		var at int64
		if err := rows.Scan(&a.ID, &a.Source, &at, &a.Data); err != nil {
			return err
		}
		a.ImportedAt = tm(at)
		if err := fn(a); err != nil {
			return err
		}
	}
	return rows.Err()
}

// PutModelInfo stores a model's metadata document.
func (db *DB) PutModelInfo(ctx context.Context, name string, data []byte) error {
	_, err := db.w.ExecContext(ctx, `INSERT OR REPLACE INTO model_info(name, data) VALUES(?,?)`, name, data)
	return err
}

// ListModelInfo returns every model's metadata document.
func (db *DB) ListModelInfo(ctx context.Context) (map[string][]byte, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT name, data FROM model_info`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var n string
		var d []byte
		if err := rows.Scan(&n, &d); err != nil {
			return nil, err
		}
		out[n] = d
	}
	return out, rows.Err()
}

// PutFindings records one audit run's findings.
func (db *DB) PutFindings(ctx context.Context, fs []store.FindingRecord, now time.Time) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TEMP TABLE IF NOT EXISTS run_keys(key TEXT PRIMARY KEY)`); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM run_keys`); err != nil {
		return err
	}
	up, err := tx.PrepareContext(ctx, `INSERT INTO findings(key, check_id, severity, first_seen, last_seen, resolved_at, json) VALUES(?,?,?,?,?,0,?)
		ON CONFLICT(key) DO UPDATE SET severity=excluded.severity, last_seen=excluded.last_seen, json=excluded.json,
		first_seen=CASE WHEN findings.resolved_at > 0 THEN excluded.first_seen ELSE findings.first_seen END, resolved_at=0`)
	if err != nil {
		return err
	}
	defer up.Close()
	mark, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO run_keys(key) VALUES(?)`)
	if err != nil {
		return err
	}
	defer mark.Close()
	for _, f := range fs {
		if _, err := up.ExecContext(ctx, f.Key, f.Check, f.Severity, ts(now), ts(now), f.JSON); err != nil {
			return fmt.Errorf("store finding %s: %w", f.Key, err)
		}
		if _, err := mark.ExecContext(ctx, f.Key); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE findings SET resolved_at=? WHERE resolved_at=0 AND key NOT IN (SELECT key FROM run_keys)`, ts(now)); err != nil {
		return err
	}
	return tx.Commit()
}

// ListFindings returns the active findings (and resolved ones when asked).
func (db *DB) ListFindings(ctx context.Context, includeResolved bool) ([]store.FindingRecord, error) {
	q := `SELECT key, check_id, severity, first_seen, last_seen, resolved_at, json FROM findings`
	if !includeResolved {
		q += ` WHERE resolved_at=0`
	}
	q += ` ORDER BY check_id, key`
	rows, err := db.r.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.FindingRecord
	for rows.Next() {
		var f store.FindingRecord
		var a, b, c int64
		if err := rows.Scan(&f.Key, &f.Check, &f.Severity, &a, &b, &c, &f.JSON); err != nil {
			return nil, err
		}
		f.FirstSeen, f.LastSeen, f.ResolvedAt = tm(a), tm(b), tm(c)
		out = append(out, f)
	}
	return out, rows.Err()
}

// PutSuppression stores a suppression.
func (db *DB) PutSuppression(ctx context.Context, s store.Suppression) error {
	_, err := db.w.ExecContext(ctx, `INSERT OR REPLACE INTO suppressions(id, check_id, resource, reason, created_by, created_at, expires_at) VALUES(?,?,?,?,?,?,?)`,
		s.ID, s.Check, s.Resource, s.Reason, s.CreatedBy, ts(s.CreatedAt), ts(s.ExpiresAt))
	return err
}

// DeleteSuppression removes a suppression by ID.
func (db *DB) DeleteSuppression(ctx context.Context, id string) error {
	res, err := db.w.ExecContext(ctx, `DELETE FROM suppressions WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete suppression %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("suppression %s: %w", id, store.ErrNotFound)
	}
	return nil
}

// ListSuppressions returns every suppression.
func (db *DB) ListSuppressions(ctx context.Context) ([]store.Suppression, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT id, check_id, resource, reason, created_by, created_at, expires_at FROM suppressions ORDER BY created_at, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Suppression
	for rows.Next() {
		var s store.Suppression
		var c, e int64
		if err := rows.Scan(&s.ID, &s.Check, &s.Resource, &s.Reason, &s.CreatedBy, &c, &e); err != nil {
			return nil, err
		}
		s.CreatedAt, s.ExpiresAt = tm(c), tm(e)
		out = append(out, s)
	}
	return out, rows.Err()
}

// AddTrendPoint records open-finding counts at a time.
func (db *DB) AddTrendPoint(ctx context.Context, at time.Time, counts map[string]int) error {
	b, _ := json.Marshal(counts)
	_, err := db.w.ExecContext(ctx, `INSERT OR REPLACE INTO finding_trend(time, counts) VALUES(?,?)`, ts(at), string(b))
	return err
}

// ListTrend returns trend points since a time, oldest first.
func (db *DB) ListTrend(ctx context.Context, since time.Time) ([]store.TrendPoint, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT time, counts FROM finding_trend WHERE time>=? ORDER BY time`, ts(since))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.TrendPoint
	for rows.Next() {
		var p store.TrendPoint
		var t int64
		var c string
		if err := rows.Scan(&t, &c); err != nil {
			return nil, err
		}
		p.Time = tm(t)
		if err := json.Unmarshal([]byte(c), &p.Counts); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}
