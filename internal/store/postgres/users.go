package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/store/lifecycle"
)

// CreateUser inserts a user; ErrConflict when the name exists.
func (db *DB) CreateUser(ctx context.Context, u store.User) error {
	return db.inTx(ctx, func(tx *pgTx) error { return lifecycle.CreateUser(ctx, tx, u) })
}

// GetUser returns a user or ErrNotFound.
func (db *DB) GetUser(ctx context.Context, name string) (store.User, error) {
	u, err := lifecycle.ScanUser(db.pool.QueryRow(ctx, `SELECT `+lifecycle.UserCols+` FROM users WHERE name = $1`, name))
	if isNoRows(err) {
		return u, fmt.Errorf("user %s: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return u, fmt.Errorf("get user %s: %w", name, err)
	}
	return u, nil
}

// ListUsers returns every user, ordered by name.
func (db *DB) ListUsers(ctx context.Context) ([]store.User, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+lifecycle.UserCols+` FROM users ORDER BY name`)
	out, err := collect(rows, err, func(s scanner) (store.User, error) { return lifecycle.ScanUser(s) })
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return out, nil
}

// SetUserPassword replaces a password hash and revokes the user's other sessions.
func (db *DB) SetUserPassword(ctx context.Context, name, hash string, at time.Time, keepSession string) error {
	return db.inTx(ctx, func(tx *pgTx) error { return lifecycle.SetUserPassword(ctx, tx, name, hash, at, keepSession) })
}

// RehashPassword swaps a hash for a rehash of the same password.
func (db *DB) RehashPassword(ctx context.Context, name, oldHash, newHash string) error {
	return db.inTx(ctx, func(tx *pgTx) error { return lifecycle.RehashPassword(ctx, tx, name, oldHash, newHash) })
}

// SetUserDisabled disables (revoking its sessions) or enables a user.
func (db *DB) SetUserDisabled(ctx context.Context, name string, at time.Time) error {
	return db.inTx(ctx, func(tx *pgTx) error { return lifecycle.SetUserDisabled(ctx, tx, name, at) })
}

// AttemptLogin counts a sign-in attempt before its password is checked.
// The UPDATE takes the user's row lock: a concurrent attempt waits for it
// and re-checks the lockout on the row as this one left it.
func (db *DB) AttemptLogin(ctx context.Context, name string, now time.Time, maxFailures int, lockout time.Duration) (u store.User, allowed bool, err error) {
	err = db.inTx(ctx, func(tx *pgTx) error {
		u, allowed, err = lifecycle.AttemptLogin(ctx, tx, name, now, maxFailures, lockout)
		return err
	})
	return u, allowed, err
}

// LoginSucceeded clears a user's failure count and lockout.
func (db *DB) LoginSucceeded(ctx context.Context, name string) error {
	return db.inTx(ctx, func(tx *pgTx) error { return lifecycle.LoginSucceeded(ctx, tx, name) })
}

// CreateSession stores a session; ErrConflict when the ID exists.
func (db *DB) CreateSession(ctx context.Context, s store.Session) error {
	return db.inTx(ctx, func(tx *pgTx) error { return lifecycle.CreateSession(ctx, tx, s) })
}

// GetSession returns a session or ErrNotFound.
func (db *DB) GetSession(ctx context.Context, id string) (store.Session, error) {
	s, err := lifecycle.ScanSession(db.pool.QueryRow(ctx, `SELECT `+lifecycle.SessionCols+` FROM sessions WHERE id = $1`, id))
	if isNoRows(err) {
		return s, fmt.Errorf("session %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return s, fmt.Errorf("get session %s: %w", id, err)
	}
	return s, nil
}

// TouchSession records a session's last use.
func (db *DB) TouchSession(ctx context.Context, id string, at time.Time) error {
	return db.inTx(ctx, func(tx *pgTx) error { return lifecycle.TouchSession(ctx, tx, id, at) })
}

// RevokeSession revokes a session.
func (db *DB) RevokeSession(ctx context.Context, id string, at time.Time) error {
	return db.inTx(ctx, func(tx *pgTx) error { return lifecycle.RevokeSession(ctx, tx, id, at) })
}

// PruneSessions deletes the sessions that ended before before.
func (db *DB) PruneSessions(ctx context.Context, before time.Time) (int64, error) {
	return inTxValue(ctx, db, func(tx *pgTx) (int64, error) { return lifecycle.PruneSessions(ctx, tx, before) })
}
