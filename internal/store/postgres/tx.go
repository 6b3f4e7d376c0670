package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/wardproject/ward/internal/store"
)

// inTx runs fn in one transaction (READ COMMITTED; the lifecycle's
// statements lock the device row they depend on) and commits when fn
// returns nil.
func (db *DB) inTx(ctx context.Context, fn func(*pgTx) error) error {
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error { return fn(&pgTx{tx: tx}) })
}

// inTxValue is inTx for a function that returns a value.
func inTxValue[T any](ctx context.Context, db *DB, fn func(*pgTx) (T, error)) (out T, err error) {
	err = db.inTx(ctx, func(tx *pgTx) error {
		out, err = fn(tx)
		return err
	})
	return out, err
}

// pgTx is a lifecycle.Tx over a pgx transaction: it rewrites the ?
// placeholders of the shared SQL as $1, $2...
type pgTx struct{ tx pgx.Tx }

// numbered rewrites ? placeholders as $n. The shared SQL has no ? inside
// string literals.
func numbered(q string) string {
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (t *pgTx) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	tag, err := t.tx.Exec(ctx, numbered(q), args...)
	if isUnique(err) {
		return 0, fmt.Errorf("%w: %v", store.ErrConflict, err)
	}
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

func (t *pgTx) QueryRow(ctx context.Context, q string, args ...any) interface{ Scan(...any) error } {
	return notFoundRow{t.tx.QueryRow(ctx, numbered(q), args...)}
}

func (t *pgTx) Strings(ctx context.Context, q string, args ...any) ([]string, error) {
	rows, err := t.tx.Query(ctx, numbered(q), args...)
	return collect(rows, err, func(s scanner) (string, error) {
		var v string
		return v, s.Scan(&v)
	})
}

func (t *pgTx) Device(ctx context.Context, id string) (store.Device, error) {
	d, err := scanDevice(t.tx.QueryRow(ctx, `SELECT `+deviceCols+` FROM devices WHERE id = $1`, id))
	if isNoRows(err) {
		return d, fmt.Errorf("device %s: %w", id, store.ErrNotFound)
	}
	return d, err
}

func (t *pgTx) ForUpdate() string { return " FOR UPDATE" }
func (t *pgTx) JSON() string      { return "CAST(? AS json)" }

// notFoundRow maps pgx.ErrNoRows to store.ErrNotFound.
type notFoundRow struct{ r pgx.Row }

func (n notFoundRow) Scan(dest ...any) error {
	if err := n.r.Scan(dest...); isNoRows(err) {
		return store.ErrNotFound
	} else {
		return err
	}
}
