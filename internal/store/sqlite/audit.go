package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/wardproject/ward/internal/store"
)

// AppendAudit appends an entry to the hash-chained audit log.
func (db *DB) AppendAudit(ctx context.Context, e store.AuditEntry) (store.AuditEntry, error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return e, fmt.Errorf("append audit log: %w", err)
	}
	defer tx.Rollback()
	var seq int64
	var prev string
	err = tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&seq, &prev)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return e, fmt.Errorf("append audit log: %w", err)
	}
	e.Seq, e.PrevHash = seq+1, prev
	e.Hash = store.AuditHash(e)
	det, _ := json.Marshal(e.Detail)
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit_log(seq, time, actor, action, target, detail, prev_hash, hash) VALUES(?,?,?,?,?,?,?,?)`,
		e.Seq, ts(e.Time), e.Actor, e.Action, e.Target, string(det), e.PrevHash, e.Hash); err != nil {
		return e, fmt.Errorf("append audit log: %w", err)
	}
	return e, tx.Commit()
}

// ListAudit returns the newest audit entries, newest first.
func (db *DB) ListAudit(ctx context.Context, limit int) ([]store.AuditEntry, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := db.r.QueryContext(ctx, `SELECT seq, time, actor, action, target, detail, prev_hash, hash FROM audit_log ORDER BY seq DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("list audit log: %w", err)
	}
	return scanAudit(rows)
}

// ListAuditFrom returns the entries from seq on, oldest first.
func (db *DB) ListAuditFrom(ctx context.Context, from int64, limit int) ([]store.AuditEntry, error) {
	if limit <= 0 {
		limit = 1000
	}
	rows, err := db.r.QueryContext(ctx, `SELECT seq, time, actor, action, target, detail, prev_hash, hash FROM audit_log WHERE seq >= ? ORDER BY seq LIMIT ?`, from, limit)
	if err != nil {
		return nil, fmt.Errorf("list audit log from %d: %w", from, err)
	}
	return scanAudit(rows)
}

func scanAudit(rows *sql.Rows) ([]store.AuditEntry, error) {
	defer rows.Close()
	var out []store.AuditEntry
	for rows.Next() {
		var e store.AuditEntry
		var t int64
		var det string
		if err := rows.Scan(&e.Seq, &t, &e.Actor, &e.Action, &e.Target, &det, &e.PrevHash, &e.Hash); err != nil {
			return nil, err
		}
		e.Time = tm(t)
		if det != "null" && det != "{}" {
			if err := json.Unmarshal([]byte(det), &e.Detail); err != nil {
				return nil, fmt.Errorf("audit entry %d: %w", e.Seq, err)
			}
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
