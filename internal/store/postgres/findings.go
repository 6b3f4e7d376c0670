package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wardproject/ward/internal/store"
)

// PutSBOM stores (replacing) a model firmware's SBOM.
func (db *DB) PutSBOM(ctx context.Context, r store.SBOMRecord) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO sboms(model, firmware, format, source, components, imported_at, data) VALUES($1,$2,$3,$4,$5,$6,$7)
		ON CONFLICT (model, firmware) DO UPDATE SET format=excluded.format, source=excluded.source, components=excluded.components,
		imported_at=excluded.imported_at, data=excluded.data`,
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
	err := db.pool.QueryRow(ctx, `SELECT format, source, components, imported_at, data FROM sboms WHERE model=$1 AND firmware=$2`, model, firmware).
		Scan(&r.Format, &r.Source, &r.Components, &at, &r.Data)
	if isNoRows(err) {
		return r, fmt.Errorf("SBOM of %s %s: %w", model, firmware, store.ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("get SBOM of %s %s: %w", model, firmware, err)
	}
	r.ImportedAt = tm(at)
	return r, nil
}

// ListSBOMs lists the SBOMs without their data, ordered by model and firmware.
func (db *DB) ListSBOMs(ctx context.Context) ([]store.SBOMRecord, error) {
	rows, err := db.pool.Query(ctx, `SELECT model, firmware, format, source, components, imported_at FROM sboms ORDER BY model, firmware`)
	out, err := collect(rows, err, func(s scanner) (store.SBOMRecord, error) {
		var r store.SBOMRecord
		var at int64
		err := s.Scan(&r.Model, &r.Firmware, &r.Format, &r.Source, &r.Components, &at)
		r.ImportedAt = tm(at)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("list SBOMs: %w", err)
	}
	return out, nil
}

// advisoryBatch bounds the rows of one INSERT of PutAdvisories.
const advisoryBatch = 1000

// PutAdvisories stores OSV records (replacing by ID) in one transaction;
// within as, the last record of an ID wins.
func (db *DB) PutAdvisories(ctx context.Context, as []store.AdvisoryRecord) error {
	last := make(map[string]int, len(as))
	for i, a := range as {
		last[a.ID] = i
	}
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var (
			ids, sources []string
			ats          []int64
			datas        [][]byte
		)
		flush := func() error {
			if len(ids) == 0 {
				return nil
			}
			_, err := tx.Exec(ctx, `INSERT INTO advisories(id, source, imported_at, data)
				SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bytea[])
				ON CONFLICT (id) DO UPDATE SET source=excluded.source, imported_at=excluded.imported_at, data=excluded.data`,
				ids, sources, ats, datas)
			ids, sources, ats, datas = ids[:0], sources[:0], ats[:0], datas[:0]
			return err
		}
		for i, a := range as {
			if last[a.ID] != i {
				continue
			}
			ids, sources, ats, datas = append(ids, a.ID), append(sources, a.Source), append(ats, ts(a.ImportedAt)), append(datas, a.Data)
			if len(ids) == advisoryBatch {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		return flush()
	})
	if err != nil {
		return fmt.Errorf("store %d advisories: %w", len(last), err)
	}
	return nil
}

// EachAdvisory streams every stored advisory, ordered by ID. fn runs while
// the query holds a pooled connection; it must not block for long.
func (db *DB) EachAdvisory(ctx context.Context, fn func(store.AdvisoryRecord) error) error {
	rows, err := db.pool.Query(ctx, `SELECT id, source, imported_at, data FROM advisories ORDER BY id`)
	if err != nil {
		return fmt.Errorf("read advisories: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var a store.AdvisoryRecord
		var at int64
		if err := rows.Scan(&a.ID, &a.Source, &at, &a.Data); err != nil {
			return fmt.Errorf("read advisories: %w", err)
		}
		a.ImportedAt = tm(at)
		if err := fn(a); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read advisories: %w", err)
	}
	return nil
}

// PutModelInfo stores (replacing) a model's metadata document.
func (db *DB) PutModelInfo(ctx context.Context, name string, data []byte) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO model_info(name, data) VALUES($1,$2) ON CONFLICT (name) DO UPDATE SET data=excluded.data`, name, data)
	if err != nil {
		return fmt.Errorf("store model info %s: %w", name, err)
	}
	return nil
}

// ListModelInfo returns every model's metadata document.
func (db *DB) ListModelInfo(ctx context.Context) (map[string][]byte, error) {
	rows, err := db.pool.Query(ctx, `SELECT name, data FROM model_info`)
	if err != nil {
		return nil, fmt.Errorf("list model info: %w", err)
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var n string
		var d []byte
		if err := rows.Scan(&n, &d); err != nil {
			return nil, fmt.Errorf("list model info: %w", err)
		}
		out[n] = d
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list model info: %w", err)
	}
	return out, nil
}

// PutFindings records one audit run's findings in one transaction: new
// keys are inserted, known keys get LastSeen = now (a resolved key is
// reopened with FirstSeen = now), and active findings absent from fs are
// resolved at now. Runs are serialised by a SHARE ROW EXCLUSIVE lock on
// findings, which readers do not wait for.
func (db *DB) PutFindings(ctx context.Context, fs []store.FindingRecord, now time.Time) error {
	// Within fs, the last finding of a key wins, as successive upserts would.
	last := make(map[string]int, len(fs))
	for i, f := range fs {
		last[f.Key] = i
	}
	keys := make([]string, 0, len(last))
	checks := make([]string, 0, len(last))
	sevs := make([]string, 0, len(last))
	datas := make([][]byte, 0, len(last))
	for i, f := range fs {
		if last[f.Key] != i {
			continue
		}
		keys, checks, sevs, datas = append(keys, f.Key), append(checks, f.Check), append(sevs, f.Severity), append(datas, f.JSON)
	}
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE findings IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO findings(key, check_id, severity, first_seen, last_seen, resolved_at, json)
			SELECT k, c, s, $5, $5, 0, j FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[]) AS f(k, c, s, j)
			ON CONFLICT (key) DO UPDATE SET severity=excluded.severity, last_seen=excluded.last_seen, json=excluded.json,
			first_seen=CASE WHEN findings.resolved_at > 0 THEN excluded.first_seen ELSE findings.first_seen END, resolved_at=0`,
			keys, checks, sevs, datas, ts(now)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE findings SET resolved_at=$2
			WHERE resolved_at=0 AND NOT EXISTS (SELECT 1 FROM unnest($1::text[]) AS r(k) WHERE r.k = findings.key)`,
			keys, ts(now))
		return err
	})
	if err != nil {
		return fmt.Errorf("store %d findings: %w", len(keys), err)
	}
	return nil
}

// ListFindings returns the active findings (and resolved ones when asked),
// ordered by check and key.
func (db *DB) ListFindings(ctx context.Context, includeResolved bool) ([]store.FindingRecord, error) {
	q := `SELECT key, check_id, severity, first_seen, last_seen, resolved_at, json FROM findings`
	if !includeResolved {
		q += ` WHERE resolved_at=0`
	}
	q += ` ORDER BY check_id, key`
	rows, err := db.pool.Query(ctx, q)
	out, err := collect(rows, err, func(s scanner) (store.FindingRecord, error) {
		var f store.FindingRecord
		var a, b, c int64
		err := s.Scan(&f.Key, &f.Check, &f.Severity, &a, &b, &c, &f.JSON)
		f.FirstSeen, f.LastSeen, f.ResolvedAt = tm(a), tm(b), tm(c)
		return f, err
	})
	if err != nil {
		return nil, fmt.Errorf("list findings: %w", err)
	}
	return out, nil
}

// PutSuppression stores (replacing by ID) a suppression.
func (db *DB) PutSuppression(ctx context.Context, s store.Suppression) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO suppressions(id, check_id, resource, reason, created_by, created_at, expires_at) VALUES($1,$2,$3,$4,$5,$6,$7)
		ON CONFLICT (id) DO UPDATE SET check_id=excluded.check_id, resource=excluded.resource, reason=excluded.reason,
		created_by=excluded.created_by, created_at=excluded.created_at, expires_at=excluded.expires_at`,
		s.ID, s.Check, s.Resource, s.Reason, s.CreatedBy, ts(s.CreatedAt), ts(s.ExpiresAt))
	if err != nil {
		return fmt.Errorf("store suppression %s: %w", s.ID, err)
	}
	return nil
}

// DeleteSuppression removes a suppression by ID.
func (db *DB) DeleteSuppression(ctx context.Context, id string) error {
	tag, err := db.pool.Exec(ctx, `DELETE FROM suppressions WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("delete suppression %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("suppression %s: %w", id, store.ErrNotFound)
	}
	return nil
}

// ListSuppressions returns every suppression, oldest first.
func (db *DB) ListSuppressions(ctx context.Context) ([]store.Suppression, error) {
	rows, err := db.pool.Query(ctx, `SELECT id, check_id, resource, reason, created_by, created_at, expires_at FROM suppressions ORDER BY created_at, id`)
	out, err := collect(rows, err, func(sc scanner) (store.Suppression, error) {
		var s store.Suppression
		var c, e int64
		err := sc.Scan(&s.ID, &s.Check, &s.Resource, &s.Reason, &s.CreatedBy, &c, &e)
		s.CreatedAt, s.ExpiresAt = tm(c), tm(e)
		return s, err
	})
	if err != nil {
		return nil, fmt.Errorf("list suppressions: %w", err)
	}
	return out, nil
}

// AddTrendPoint records (replacing) the open-finding counts at a time.
func (db *DB) AddTrendPoint(ctx context.Context, at time.Time, counts map[string]int) error {
	b, _ := json.Marshal(counts)
	_, err := db.pool.Exec(ctx, `INSERT INTO finding_trend(time, counts) VALUES($1,$2) ON CONFLICT (time) DO UPDATE SET counts=excluded.counts`, ts(at), string(b))
	if err != nil {
		return fmt.Errorf("store trend point: %w", err)
	}
	return nil
}

// ListTrend returns trend points since a time, oldest first.
func (db *DB) ListTrend(ctx context.Context, since time.Time) ([]store.TrendPoint, error) {
	rows, err := db.pool.Query(ctx, `SELECT time, counts FROM finding_trend WHERE time>=$1 ORDER BY time`, ts(since))
	out, err := collect(rows, err, func(s scanner) (store.TrendPoint, error) {
		var p store.TrendPoint
		var t int64
		var c []byte
		if err := s.Scan(&t, &c); err != nil {
			return p, err
		}
		p.Time = tm(t)
		return p, json.Unmarshal(c, &p.Counts)
	})
	if err != nil {
		return nil, fmt.Errorf("list trend: %w", err)
	}
	return out, nil
}
