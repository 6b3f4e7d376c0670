package leader

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Defaults of PostgresOptions.
const (
	DefaultPoll = time.Second
	// takeoverPolls is Takeover in Polls when PostgresOptions leaves it 0.
	takeoverPolls = 3
)

// PostgresOptions configure a Postgres elector. DSN is required.
type PostgresOptions struct {
	// DSN is the PostgreSQL connection string of the store. It is parsed
	// as the store parses it (pgxpool.ParseConfig): the pool's own
	// parameters (pool_max_conns, ...) are checked and then left out of
	// the dedicated connections, which are no pool.
	DSN string
	// Schema is the store's schema (postgres.Options.Schema). It is part
	// of every lock key, so clusters in different schemas of one database
	// never share a lock. Empty: the connection's current_schema().
	Schema string
	// Node names this node in the dedicated connections'
	// application_name ("ward leader <job> <node>"), so an operator can
	// see in pg_stat_activity which node leads what.
	Node string
	// Poll is how often a follower tries the lock and a leader checks its
	// connection (each check is bounded by Poll). 0: DefaultPoll.
	Poll time.Duration
	// Takeover is how long a node that has just acquired the lock waits
	// before it runs the work, and the connection's idle_session_timeout.
	// It must exceed 2×Poll. 0: 3×Poll.
	Takeover time.Duration
	// Pause is how long a node waits, after its work returned while ctx
	// was still live, before it competes again. 0: DefaultPause.
	Pause time.Duration
	// Logger receives connection losses and lock changes. nil: discard.
	Logger *slog.Logger
}

// Postgres is an Elector backed by PostgreSQL session-level advisory
// locks, one dedicated connection per job name being led or competed for.
type Postgres struct {
	opts PostgresOptions
	cfg  *pgx.ConnConfig
	// tried and connectFailed (tests) see each lock attempt and each
	// failed connection attempt.
	tried         func(got bool)
	connectFailed func()
}

// NewPostgres checks opts and returns the elector. It does not connect:
// each Lead call opens (and re-opens) its own connection.
func NewPostgres(opts PostgresOptions) (*Postgres, error) {
	if opts.DSN == "" {
		return nil, errors.New("leader: PostgresOptions.DSN is required")
	}
	if opts.Poll <= 0 {
		opts.Poll = DefaultPoll
	}
	if opts.Takeover == 0 {
		opts.Takeover = takeoverPolls * opts.Poll
	}
	if opts.Takeover <= 2*opts.Poll {
		return nil, fmt.Errorf("leader: takeover %s must exceed twice the poll period %s, or two nodes could work at once", opts.Takeover, opts.Poll)
	}
	if opts.Pause <= 0 {
		opts.Pause = DefaultPause
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	// pgx.ParseConfig would pass pool_max_conns and the other pool
	// parameters on as run-time parameters, which the server refuses.
	cfg, err := pgxpool.ParseConfig(opts.DSN)
	if err != nil {
		return nil, fmt.Errorf("leader: parse postgres DSN: %w", err) // pgconn redacts the password
	}
	return &Postgres{opts: opts, cfg: cfg.ConnConfig}, nil
}

// Lead implements Elector.
func (p *Postgres) Lead(ctx context.Context, name string, work func(ctx context.Context) error) error {
	if err := checkName(name); err != nil {
		return err
	}
	log := p.opts.Logger.With("job", name)
	for ctx.Err() == nil {
		err := p.session(ctx, name, work, log)
		if err != nil && ctx.Err() == nil {
			log.Warn("leader election connection to postgres lost; reconnecting", "err", err)
			sleep(ctx, p.opts.Poll)
		}
	}
	return nil
}

// Key returns the advisory lock key of job name in schema: the first
// eight bytes of SHA-256 over a fixed prefix, the schema and the name.
func Key(schema, name string) int64 {
	h := sha256.Sum256([]byte("ward/leader\x00" + schema + "\x00" + name))
	return int64(binary.BigEndian.Uint64(h[:8]))
}

// session is the life of one dedicated connection: compete, lead, release,
// compete again, until ctx ends (nil) or the connection fails (the error).
func (p *Postgres) session(ctx context.Context, name string, work func(ctx context.Context) error, log *slog.Logger) error {
	cfg := p.cfg.Copy()
	app := "ward leader " + name
	if p.opts.Node != "" {
		app += " " + p.opts.Node
	}
	cfg.RuntimeParams["application_name"] = app
	// A holder cut off from the server must not keep the lock until TCP
	// keepalive gives up: the server ends a session idle this long. Every
	// connection here runs a statement at least every Poll.
	cfg.RuntimeParams["idle_session_timeout"] = strconv.FormatInt(p.opts.Takeover.Milliseconds(), 10)
	cctx, cancel := context.WithTimeout(ctx, 10*p.opts.Poll)
	conn, err := pgx.ConnectConfig(cctx, cfg)
	cancel()
	if err != nil {
		if p.connectFailed != nil {
			p.connectFailed()
		}
		return fmt.Errorf("connect: %w", err)
	}
	defer func() {
		// Closing the session releases the lock if it is still held.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.opts.Poll)
		defer cancel()
		conn.Close(cctx)
	}()
	schema := p.opts.Schema
	if schema == "" {
		if err := p.query(ctx, conn, "SELECT coalesce(current_schema(), '')", nil, &schema); err != nil {
			return fmt.Errorf("read current schema: %w", err)
		}
	}
	key := Key(schema, name)
	for {
		var got bool
		if err := p.query(ctx, conn, "SELECT pg_try_advisory_lock($1)", []any{key}, &got); err != nil {
			return fmt.Errorf("try advisory lock %d: %w", key, err)
		}
		if p.tried != nil {
			p.tried(got)
		}
		if got {
			log.Debug("leader lock acquired; waiting out the takeover period", "takeover", p.opts.Takeover)
			done, err := p.lead(ctx, conn, key, work)
			if err != nil || ctx.Err() != nil {
				return err
			}
			if !done {
				continue
			}
			if !sleep(ctx, p.opts.Pause) {
				return nil
			}
			continue
		}
		if !sleep(ctx, p.opts.Poll) {
			return nil
		}
	}
}

// lead holds the lock: it waits out Takeover, runs work while the
// connection answers, and releases the lock when work returns. done
// reports that work ran and returned while ctx was live; an error means
// the connection failed (work's context was cancelled first).
func (p *Postgres) lead(ctx context.Context, conn *pgx.Conn, key int64, work func(ctx context.Context) error) (done bool, err error) {
	t := time.NewTicker(p.opts.Poll)
	defer t.Stop()
	start := time.Now()
	for time.Since(start) < p.opts.Takeover {
		select {
		case <-ctx.Done():
			return false, nil
		case <-t.C:
		}
		if err := p.ping(ctx, conn); err != nil {
			return false, err
		}
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		_ = work(wctx) // Metered (or the work itself) logs a failure
	}()
	for {
		select {
		case <-ctx.Done():
			cancel()
			<-finished
			return false, nil
		case <-finished:
			if ctx.Err() != nil {
				return false, nil
			}
			var released bool
			if err := p.query(ctx, conn, "SELECT pg_advisory_unlock($1)", []any{key}, &released); err != nil {
				return false, fmt.Errorf("release advisory lock %d: %w", key, err)
			}
			return true, nil
		case <-t.C:
			if err := p.ping(ctx, conn); err != nil {
				// The session, and with it the lock, may be gone: stop the
				// work before anyone else can take over (Takeover > 2×Poll).
				cancel()
				<-finished
				return false, fmt.Errorf("leader connection check: %w", err)
			}
		}
	}
}

func (p *Postgres) ping(ctx context.Context, conn *pgx.Conn) error {
	pctx, cancel := context.WithTimeout(ctx, p.opts.Poll)
	defer cancel()
	return conn.Ping(pctx)
}

func (p *Postgres) query(ctx context.Context, conn *pgx.Conn, sql string, args []any, dst any) error {
	qctx, cancel := context.WithTimeout(ctx, p.opts.Poll)
	defer cancel()
	return conn.QueryRow(qctx, sql, args...).Scan(dst)
}

var _ Elector = (*Postgres)(nil)
