package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wardproject/ward/internal/store"
)

// DefaultUrgentConns is the size of the pool kept for containment when
// Options.UrgentConns does not set one.
const DefaultUrgentConns = 2

// pools are a DB's two connection pools. Work whose context is marked
// store.Urgent (revoking, retiring or quarantining a device and what goes
// with it: its audit entry, the CRL it re-signs) takes its connections
// from urgent, everything else from routine. pgxpool hands a freed
// connection to its waiters in no particular order, so with a single pool
// a flood of routine writes (an attacker's enrollments, events, metric
// windows) that holds every connection would make an operator's
// revocation wait behind all of them; the urgent pool is never held by
// routine work. Each method picks the pool by its context, so no query
// can forget to.
type pools struct {
	routine *pgxpool.Pool
	urgent  *pgxpool.Pool
}

// of returns the pool that serves ctx.
func (p pools) of(ctx context.Context) *pgxpool.Pool {
	if store.IsUrgent(ctx) {
		return p.urgent
	}
	return p.routine
}

// Exec runs one statement on a connection of ctx's pool.
func (p pools) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return p.of(ctx).Exec(ctx, sql, args...)
}

// Query runs a query on a connection of ctx's pool.
func (p pools) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return p.of(ctx).Query(ctx, sql, args...)
}

// QueryRow runs a query that returns at most one row on a connection of
// ctx's pool.
func (p pools) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return p.of(ctx).QueryRow(ctx, sql, args...)
}

// Begin starts a transaction on a connection of ctx's pool.
func (p pools) Begin(ctx context.Context) (pgx.Tx, error) {
	return p.of(ctx).Begin(ctx)
}

// CopyFrom copies rows into a table on a connection of ctx's pool.
func (p pools) CopyFrom(ctx context.Context, table pgx.Identifier, cols []string, src pgx.CopyFromSource) (int64, error) {
	return p.of(ctx).CopyFrom(ctx, table, cols, src)
}

// Close closes both pools.
func (p pools) Close() {
	p.urgent.Close()
	p.routine.Close()
}
