package sqlite

import (
	"context"
	"database/sql"
	"sync"

	"github.com/wardproject/ward/internal/store"
)

// writer is the single writer connection behind a gate. database/sql
// hands a free connection to one of its waiters in no particular order,
// so with one connection a write could wait behind any number of others:
// under a flood of enrollments an operator's revocation waited tens of
// seconds. The gate serves writes in arrival order, urgent ones
// (store.Urgent) before the routine ones.
type writer struct {
	db   *sql.DB
	gate writeGate
}

// BeginTx begins a write transaction once the gate is taken; Commit or
// Rollback gives it back.
func (w *writer) BeginTx(ctx context.Context, opts *sql.TxOptions) (*writeTx, error) {
	release, err := w.gate.acquire(ctx)
	if err != nil {
		return nil, err
	}
	tx, err := w.db.BeginTx(ctx, opts)
	if err != nil {
		release()
		return nil, err
	}
	return &writeTx{Tx: tx, release: release}, nil
}

// ExecContext runs one statement with the gate taken.
func (w *writer) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	release, err := w.gate.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	return w.db.ExecContext(ctx, q, args...)
}

// QueryRowContext runs one statement that returns a row with the gate
// taken; the row's Scan gives the gate back, so the caller must Scan.
func (w *writer) QueryRowContext(ctx context.Context, q string, args ...any) *gatedRow {
	release, err := w.gate.acquire(ctx)
	if err != nil {
		return &gatedRow{err: err}
	}
	return &gatedRow{row: w.db.QueryRowContext(ctx, q, args...), release: release}
}

// Close closes the connection.
func (w *writer) Close() error { return w.db.Close() }

// writeTx is a write transaction holding the gate.
type writeTx struct {
	*sql.Tx
	once    sync.Once
	release func()
}

// Commit commits and gives the gate back.
func (t *writeTx) Commit() error {
	err := t.Tx.Commit()
	t.once.Do(t.release)
	return err
}

// Rollback rolls back (after Commit: does nothing) and gives the gate back.
func (t *writeTx) Rollback() error {
	err := t.Tx.Rollback()
	t.once.Do(t.release)
	return err
}

// gatedRow is a *sql.Row whose Scan gives the gate back.
type gatedRow struct {
	row     *sql.Row
	release func()
	err     error
}

// Scan implements sql.Row's Scan.
func (r *gatedRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.release()
	return r.row.Scan(dest...)
}

// writeGate is a lock whose waiters are served in arrival order, urgent
// ones first.
type writeGate struct {
	mu     sync.Mutex
	held   bool
	urgent []chan struct{}
	normal []chan struct{}
	// queued, if set (tests), is called with the number of waiters after
	// one has queued.
	queued func(n int)
}

// acquire takes the gate, waiting its turn; it returns the function that
// gives it back, or ctx's error.
func (g *writeGate) acquire(ctx context.Context) (func(), error) {
	g.mu.Lock()
	if !g.held {
		g.held = true
		g.mu.Unlock()
		return g.release, nil
	}
	turn := make(chan struct{})
	if store.IsUrgent(ctx) {
		g.urgent = append(g.urgent, turn)
	} else {
		g.normal = append(g.normal, turn)
	}
	if g.queued != nil {
		g.queued(len(g.urgent) + len(g.normal))
	}
	g.mu.Unlock()
	select {
	case <-turn:
		return g.release, nil
	case <-ctx.Done():
		g.mu.Lock()
		left := remove(&g.urgent, turn) || remove(&g.normal, turn)
		g.mu.Unlock()
		if !left {
			// The gate was handed over as ctx ended: pass it on.
			<-turn
			g.release()
		}
		return nil, ctx.Err()
	}
}

// release hands the gate to the next waiter, urgent ones first.
func (g *writeGate) release() {
	g.mu.Lock()
	var next chan struct{}
	switch {
	case len(g.urgent) > 0:
		next, g.urgent = g.urgent[0], g.urgent[1:]
	case len(g.normal) > 0:
		next, g.normal = g.normal[0], g.normal[1:]
	default:
		g.held = false
	}
	g.mu.Unlock()
	if next != nil {
		close(next)
	}
}

// remove deletes turn from q; false when it is not there.
func remove(q *[]chan struct{}, turn chan struct{}) bool {
	for i, c := range *q {
		if c == turn {
			*q = append((*q)[:i], (*q)[i+1:]...)
			return true
		}
	}
	return false
}
