package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/wardproject/ward/internal/store"
)

// AppendAudit appends an entry to the hash-chained audit log. Appends are
// serialised by an EXCLUSIVE lock on audit_log, held until commit: it
// blocks other appends, not readers. (Locking the last row FOR UPDATE is
// not enough: on an empty log there is no row to lock, and a waiter would
// re-read the old last row, not the one just appended.)
func (db *DB) AppendAudit(ctx context.Context, e store.AuditEntry) (store.AuditEntry, error) {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE audit_log IN EXCLUSIVE MODE`); err != nil {
			return err
		}
		var seq int64
		var prev string
		err := tx.QueryRow(ctx, `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&seq, &prev)
		if err != nil && !isNoRows(err) {
			return err
		}
		e.Seq, e.PrevHash = seq+1, prev
		e.Hash = store.AuditHash(e)
		det, _ := json.Marshal(e.Detail)
		_, err = tx.Exec(ctx, `INSERT INTO audit_log(seq, time, actor, action, target, detail, prev_hash, hash) VALUES($1,$2,$3,$4,$5,$6,$7,$8)`,
			e.Seq, ts(e.Time), e.Actor, e.Action, e.Target, string(det), e.PrevHash, e.Hash)
		return err
	})
	if err != nil {
		return e, fmt.Errorf("append audit log: %w", err)
	}
	return e, nil
}

// ListAudit returns the newest audit entries, newest first.
func (db *DB) ListAudit(ctx context.Context, limit int) ([]store.AuditEntry, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := db.pool.Query(ctx, `SELECT seq, time, actor, action, target, detail, prev_hash, hash FROM audit_log ORDER BY seq DESC LIMIT $1`, limit)
	out, err := collect(rows, err, scanAudit)
	if err != nil {
		return nil, fmt.Errorf("list audit log: %w", err)
	}
	return out, nil
}

// ListAuditFrom returns the entries from seq on, oldest first.
func (db *DB) ListAuditFrom(ctx context.Context, from int64, limit int) ([]store.AuditEntry, error) {
	if limit <= 0 {
		limit = 1000
	}
	rows, err := db.pool.Query(ctx, `SELECT seq, time, actor, action, target, detail, prev_hash, hash FROM audit_log WHERE seq >= $1 ORDER BY seq LIMIT $2`, from, limit)
	out, err := collect(rows, err, scanAudit)
	if err != nil {
		return nil, fmt.Errorf("list audit log from %d: %w", from, err)
	}
	return out, nil
}

func scanAudit(s scanner) (store.AuditEntry, error) {
	var e store.AuditEntry
	var t int64
	var det string
	if err := s.Scan(&e.Seq, &t, &e.Actor, &e.Action, &e.Target, &det, &e.PrevHash, &e.Hash); err != nil {
		return e, err
	}
	e.Time = tm(t)
	if det != "null" && det != "{}" {
		if err := json.Unmarshal([]byte(det), &e.Detail); err != nil {
			return e, fmt.Errorf("audit entry %d: %w", e.Seq, err)
		}
	}
	return e, nil
}
