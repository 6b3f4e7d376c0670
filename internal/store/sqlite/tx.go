package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/wardproject/ward/internal/store"
)

// inTx runs fn in one write transaction (BEGIN IMMEDIATE on the single
// writer connection: write transactions never interleave) and commits
// when fn returns nil.
func (db *DB) inTx(ctx context.Context, fn func(*liteTx) error) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	defer tx.Rollback()
	if err := fn(&liteTx{tx: tx.Tx}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// inTxValue is inTx for a function that returns a value.
func inTxValue[T any](ctx context.Context, db *DB, fn func(*liteTx) (T, error)) (out T, err error) {
	err = db.inTx(ctx, func(tx *liteTx) error {
		out, err = fn(tx)
		return err
	})
	return out, err
}

// liteTx is a lifecycle.Tx over a SQLite transaction.
type liteTx struct{ tx *sql.Tx }

func (t *liteTx) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := t.tx.ExecContext(ctx, q, args...)
	if isUnique(err) {
		return 0, fmt.Errorf("%w: %v", store.ErrConflict, err)
	}
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (t *liteTx) QueryRow(ctx context.Context, q string, args ...any) interface{ Scan(...any) error } {
	return notFoundRow{t.tx.QueryRowContext(ctx, q, args...)}
}

func (t *liteTx) Strings(ctx context.Context, q string, args ...any) ([]string, error) {
	rows, err := t.tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func (t *liteTx) Device(ctx context.Context, id string) (store.Device, error) {
	d, err := scanDevice(t.tx.QueryRowContext(ctx, `SELECT `+deviceCols+` FROM devices WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return d, fmt.Errorf("device %s: %w", id, store.ErrNotFound)
	}
	return d, err
}

func (t *liteTx) ForUpdate() string { return "" }
func (t *liteTx) JSON() string      { return "?" }

// notFoundRow maps sql.ErrNoRows to store.ErrNotFound.
type notFoundRow struct{ r *sql.Row }

func (n notFoundRow) Scan(dest ...any) error {
	err := n.r.Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	return err
}
