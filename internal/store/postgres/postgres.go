package postgres

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wardproject/ward/internal/store"
)

// DefaultMaxConns is the pool size when neither Options.MaxConns nor the
// DSN's pool_max_conns sets one.
const DefaultMaxConns = 8

// Options configure a DB. The zero value is valid.
type Options struct {
	// Schema is the PostgreSQL schema that holds Ward's tables. Open
	// creates it when missing and makes it every connection's search_path,
	// so several Ward installations (or tests) can share one database.
	// It must be a lower-case SQL identifier ([a-z_][a-z0-9_]*, at most 63
	// bytes). Empty: the search_path of the DSN, the role or the server
	// (normally "public").
	Schema string
	// MaxConns bounds the connection pool of routine work. 0: the DSN's
	// pool_max_conns, or DefaultMaxConns.
	MaxConns int
	// UrgentConns bounds the second pool, kept for work marked
	// store.Urgent (containment), so that routine work holding every
	// connection of the first cannot delay it. 0: DefaultUrgentConns.
	UrgentConns int
}

// DB is a store.Store backed by a PostgreSQL database through two bounded
// pgx connection pools: one for routine work, a small one for containment
// (see pools).
type DB struct {
	pool pools
}

var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Open connects to the PostgreSQL database at dsn, creates opts.Schema if
// needed, applies pending migrations and returns the store. It refuses a
// database whose schema is newer than this binary knows.
func Open(ctx context.Context, dsn string, opts Options) (*DB, error) {
	if opts.Schema != "" && !schemaName.MatchString(opts.Schema) {
		return nil, fmt.Errorf("postgres schema %q: must match [a-z_][a-z0-9_]* and be at most 63 bytes", opts.Schema)
	}
	if opts.MaxConns < 0 {
		return nil, fmt.Errorf("postgres pool size %d: must be positive (0: default)", opts.MaxConns)
	}
	if opts.UrgentConns < 0 {
		return nil, fmt.Errorf("postgres urgent pool size %d: must be positive (0: default)", opts.UrgentConns)
	}
	if opts.UrgentConns == 0 {
		opts.UrgentConns = DefaultUrgentConns
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse postgres DSN: %w", err) // pgconn redacts the password
	}
	switch {
	case opts.MaxConns > 0:
		cfg.MaxConns = int32(min(opts.MaxConns, 1<<20))
	case !strings.Contains(dsn, "pool_max_conns"):
		cfg.MaxConns = DefaultMaxConns
	}
	if opts.Schema != "" {
		cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{opts.Schema}.Sanitize()
	}
	// The urgent pool opens its connections when first needed, as the
	// routine one does; the DSN's pool_min_conns is for routine work.
	ucfg := cfg.Copy()
	ucfg.MaxConns = int32(min(opts.UrgentConns, 1<<20))
	ucfg.MinConns, ucfg.MinIdleConns = 0, 0
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres %s: %w", where(cfg), err)
	}
	urgent, err := pgxpool.NewWithConfig(ctx, ucfg)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres %s: %w", where(cfg), err)
	}
	db := &DB{pool: pools{routine: pool, urgent: urgent}}
	if err := pool.Ping(ctx); err != nil {
		db.pool.Close()
		return nil, fmt.Errorf("connect to postgres %s: %w", where(cfg), err)
	}
	if err := db.migrate(ctx, opts.Schema); err != nil {
		db.pool.Close()
		return nil, fmt.Errorf("migrate postgres store %s: %w", where(cfg), err)
	}
	return db, nil
}

// where names the database for error messages, without credentials.
func where(cfg *pgxpool.Config) string {
	return fmt.Sprintf("%s:%d/%s", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
}

// Close closes every connection of both pools.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
}

// ts and tm convert times to and from the stored form: unix nanoseconds,
// 0 for the zero time (as the SQLite backend does). timestamptz would keep
// only microseconds, and the audit hash covers the full nanosecond time.
func ts(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func tm(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// isUnique reports whether err is a unique violation (SQLSTATE 23505).
func isUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

func isNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }

type scanner interface{ Scan(dest ...any) error }

// collect reads every row with scan and closes rows.
func collect[T any](rows pgx.Rows, err error, scan func(scanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

var _ store.Store = (*DB)(nil)
