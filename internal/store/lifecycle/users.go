package lifecycle

// The user accounts' and sessions' SQL (store.Users), written once for
// both backends. A sign-in attempt is counted in one UPDATE whose WHERE
// holds the lockout check, so that concurrent guesses are serialised by
// the row and never check more passwords than allowed; revoking a user's
// sessions happens in the transaction that changes the password or
// disables the user.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wardproject/ward/internal/store"
)

// UserCols are the users table's columns, in ScanUser's order.
const UserCols = `name, role, password_hash, created_at, disabled_at, failed_logins, locked_until, password_changed_at`

// ScanUser reads a row of UserCols.
func ScanUser(s interface{ Scan(dest ...any) error }) (store.User, error) {
	var u store.User
	var role string
	var created, disabled, locked, changed int64
	if err := s.Scan(&u.Name, &role, &u.PasswordHash, &created, &disabled, &u.FailedLogins, &locked, &changed); err != nil {
		return u, err
	}
	u.Role = store.Role(role)
	u.CreatedAt, u.DisabledAt, u.LockedUntil, u.PasswordChangedAt = fromNanos(created), fromNanos(disabled), fromNanos(locked), fromNanos(changed)
	return u, nil
}

// SessionCols are the sessions table's columns, in ScanSession's order.
const SessionCols = `id, hash, user_name, client, csrf_token, created_at, last_seen_at, expires_at, idle_timeout, revoked_at`

// ScanSession reads a row of SessionCols.
func ScanSession(s interface{ Scan(dest ...any) error }) (store.Session, error) {
	var ss store.Session
	var created, seen, expires, idle, revoked int64
	if err := s.Scan(&ss.ID, &ss.Hash, &ss.User, &ss.Client, &ss.CSRFToken, &created, &seen, &expires, &idle, &revoked); err != nil {
		return ss, err
	}
	ss.CreatedAt, ss.LastSeenAt, ss.ExpiresAt, ss.RevokedAt = fromNanos(created), fromNanos(seen), fromNanos(expires), fromNanos(revoked)
	ss.IdleTimeout = time.Duration(idle)
	return ss, nil
}

// CreateUser inserts a user (store.ErrConflict when the name exists).
func CreateUser(ctx context.Context, tx Tx, u store.User) error {
	_, err := tx.Exec(ctx, `INSERT INTO users(`+UserCols+`) VALUES(?,?,?,?,?,?,?,?)`,
		u.Name, string(u.Role), u.PasswordHash, nanos(u.CreatedAt), nanos(u.DisabledAt), u.FailedLogins, nanos(u.LockedUntil), nanos(u.PasswordChangedAt))
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("user %s: %w", u.Name, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create user %s: %w", u.Name, err)
	}
	return nil
}

// userExists returns store.ErrNotFound (with the name) for an unknown user.
func userExists(ctx context.Context, tx Tx, name string) error {
	var n string
	err := tx.QueryRow(ctx, `SELECT name FROM users WHERE name = ?`, name).Scan(&n)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("user %s: %w", name, store.ErrNotFound)
	}
	return err
}

// revokeSessions revokes the live sessions of a user but keep.
func revokeSessions(ctx context.Context, tx Tx, name, keep string, at time.Time) error {
	if _, err := tx.Exec(ctx, `UPDATE sessions SET revoked_at = ? WHERE user_name = ? AND revoked_at = 0 AND id <> ?`, nanos(at), name, keep); err != nil {
		return fmt.Errorf("revoke the sessions of user %s: %w", name, err)
	}
	return nil
}

// SetUserPassword replaces the hash and revokes the user's other sessions.
func SetUserPassword(ctx context.Context, tx Tx, name, hash string, at time.Time, keep string) error {
	n, err := tx.Exec(ctx, `UPDATE users SET password_hash = ?, password_changed_at = ?, failed_logins = 0, locked_until = 0 WHERE name = ?`, hash, nanos(at), name)
	if err != nil {
		return fmt.Errorf("set the password of user %s: %w", name, err)
	}
	if n == 0 {
		return userExists(ctx, tx, name)
	}
	return revokeSessions(ctx, tx, name, keep, at)
}

// RehashPassword swaps a hash for a rehash of the same password.
func RehashPassword(ctx context.Context, tx Tx, name, oldHash, newHash string) error {
	n, err := tx.Exec(ctx, `UPDATE users SET password_hash = ? WHERE name = ? AND password_hash = ?`, newHash, name, oldHash)
	if err != nil {
		return fmt.Errorf("rehash the password of user %s: %w", name, err)
	}
	if n == 0 {
		return userExists(ctx, tx, name)
	}
	return nil
}

// SetUserDisabled disables (revoking every session) or, at zero, enables a user.
func SetUserDisabled(ctx context.Context, tx Tx, name string, at time.Time) error {
	q := `UPDATE users SET disabled_at = ? WHERE name = ? AND disabled_at = 0`
	if at.IsZero() {
		q = `UPDATE users SET disabled_at = ?, failed_logins = 0, locked_until = 0 WHERE name = ?`
	}
	if _, err := tx.Exec(ctx, q, nanos(at), name); err != nil {
		return fmt.Errorf("set user %s disabled: %w", name, err)
	}
	if err := userExists(ctx, tx, name); err != nil {
		return err
	}
	if at.IsZero() {
		return nil
	}
	return revokeSessions(ctx, tx, name, "", at)
}

// AttemptLogin counts a sign-in attempt before the password is checked
// (see store.Users.AttemptLogin).
func AttemptLogin(ctx context.Context, tx Tx, name string, now time.Time, maxFailures int, lockout time.Duration) (store.User, bool, error) {
	if maxFailures < 1 {
		return store.User{}, false, fmt.Errorf("attempt login of user %s: maxFailures %d, want at least 1", name, maxFailures)
	}
	// Every expression on the right reads the row as it was before this
	// statement, in both databases.
	u, err := ScanUser(tx.QueryRow(ctx, `UPDATE users SET
			failed_logins = CASE WHEN failed_logins + 1 >= ? THEN 0 ELSE failed_logins + 1 END,
			locked_until = CASE WHEN failed_logins + 1 >= ? THEN ? ELSE locked_until END
		WHERE name = ? AND locked_until <= ?
		RETURNING `+UserCols, maxFailures, maxFailures, nanos(now.Add(lockout)), name, nanos(now)))
	if err == nil {
		return u, true, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return u, false, fmt.Errorf("attempt login of user %s: %w", name, err)
	}
	u, err = ScanUser(tx.QueryRow(ctx, `SELECT `+UserCols+` FROM users WHERE name = ?`, name))
	if errors.Is(err, store.ErrNotFound) {
		return u, false, fmt.Errorf("user %s: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return u, false, fmt.Errorf("attempt login of user %s: %w", name, err)
	}
	return u, false, nil
}

// LoginSucceeded clears the failure count and lockout of a user.
func LoginSucceeded(ctx context.Context, tx Tx, name string) error {
	n, err := tx.Exec(ctx, `UPDATE users SET failed_logins = 0, locked_until = 0 WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("record the login of user %s: %w", name, err)
	}
	if n == 0 {
		return fmt.Errorf("user %s: %w", name, store.ErrNotFound)
	}
	return nil
}

// CreateSession inserts a session (store.ErrConflict when the ID exists).
func CreateSession(ctx context.Context, tx Tx, s store.Session) error {
	_, err := tx.Exec(ctx, `INSERT INTO sessions(`+SessionCols+`) VALUES(?,?,?,?,?,?,?,?,?,?)`,
		s.ID, s.Hash, s.User, s.Client, s.CSRFToken, nanos(s.CreatedAt), nanos(s.LastSeenAt), nanos(s.ExpiresAt), int64(s.IdleTimeout), nanos(s.RevokedAt))
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("session %s: %w", s.ID, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create session for user %s: %w", s.User, err)
	}
	return nil
}

// sessionExists returns store.ErrNotFound (with the ID) for an unknown session.
func sessionExists(ctx context.Context, tx Tx, id string) error {
	var s string
	err := tx.QueryRow(ctx, `SELECT id FROM sessions WHERE id = ?`, id).Scan(&s)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("session %s: %w", id, store.ErrNotFound)
	}
	return err
}

// TouchSession moves a session's last use forward to at.
func TouchSession(ctx context.Context, tx Tx, id string, at time.Time) error {
	n, err := tx.Exec(ctx, `UPDATE sessions SET last_seen_at = ? WHERE id = ? AND last_seen_at < ?`, nanos(at), id, nanos(at))
	if err != nil {
		return fmt.Errorf("touch session %s: %w", id, err)
	}
	if n == 0 {
		return sessionExists(ctx, tx, id)
	}
	return nil
}

// RevokeSession revokes a session, keeping the first revocation time.
func RevokeSession(ctx context.Context, tx Tx, id string, at time.Time) error {
	n, err := tx.Exec(ctx, `UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at = 0`, nanos(at), id)
	if err != nil {
		return fmt.Errorf("revoke session %s: %w", id, err)
	}
	if n == 0 {
		return sessionExists(ctx, tx, id)
	}
	return nil
}

// PruneSessions deletes the sessions expired or revoked before before.
func PruneSessions(ctx context.Context, tx Tx, before time.Time) (int64, error) {
	b := nanos(before)
	n, err := tx.Exec(ctx, `DELETE FROM sessions WHERE expires_at < ? OR (revoked_at > 0 AND revoked_at < ?)`, b, b)
	if err != nil {
		return 0, fmt.Errorf("prune sessions: %w", err)
	}
	return n, nil
}
