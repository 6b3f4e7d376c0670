package store

import (
	"context"
	"time"
)

// User is a person who signs in to the API and the console with a
// password. Name is the user name and the key: lower-case, validated by
// the API ([a-z0-9._-]{1,64}). PasswordHash is an argon2id PHC string
// ($argon2id$v=19$m=…,t=…,p=…$salt$hash) that carries its own parameters;
// it never leaves the server.
type User struct {
	Name         string
	Role         Role
	PasswordHash string
	CreatedAt    time.Time
	// DisabledAt is when the account was disabled (zero: enabled). A
	// disabled user cannot sign in and has no live session.
	DisabledAt time.Time
	// FailedLogins counts the sign-in attempts since the last success or
	// the last lockout; LockedUntil is the end of the current lockout
	// (zero or past: not locked). See AttemptLogin.
	FailedLogins      int
	LockedUntil       time.Time
	PasswordChangedAt time.Time
}

// Session is a signed-in user's session, for the console (a cookie) or
// the CLI (a bearer token). Only the SHA-256 of its secret is stored; it
// is looked up by its public ID, as API tokens are. A session ends at
// ExpiresAt (absolute), after IdleTimeout without use (LastSeenAt), or
// when revoked (sign-out, password change, account disabled).
type Session struct {
	ID          string
	Hash        []byte
	User        string
	Client      string // "browser" or "cli"
	CSRFToken   string // sent with every unsafe request of a cookie session
	CreatedAt   time.Time
	LastSeenAt  time.Time
	ExpiresAt   time.Time
	IdleTimeout time.Duration
	RevokedAt   time.Time
}

// Users is the contract for user accounts and their sessions. Sessions
// live in the store, so that every node of a cluster (PostgreSQL) accepts
// a session another node created and refuses one another node revoked.
type Users interface {
	// CreateUser inserts a user: ErrConflict when the name exists, and
	// the existing user is kept.
	CreateUser(ctx context.Context, u User) error
	// GetUser returns a user, ErrNotFound when unknown.
	GetUser(ctx context.Context, name string) (User, error)
	// ListUsers returns every user, ordered by name.
	ListUsers(ctx context.Context) ([]User, error)
	// SetUserPassword replaces a user's password hash, records when, ends
	// any lockout and revokes, in the same transaction, every live session
	// of the user except keepSession ("": all). ErrNotFound when unknown.
	SetUserPassword(ctx context.Context, name, hash string, at time.Time, keepSession string) error
	// RehashPassword replaces a user's password hash with the same
	// password hashed with new parameters, only if the stored hash is
	// still oldHash (a concurrent password change wins); nothing else
	// changes, no session is revoked. ErrNotFound when unknown.
	RehashPassword(ctx context.Context, name, oldHash, newHash string) error
	// SetUserDisabled disables a user at at, revoking every live session
	// of the user in the same transaction, or enables it when at is zero
	// (ending any lockout). Disabling again keeps the first time.
	// ErrNotFound when unknown.
	SetUserDisabled(ctx context.Context, name string, at time.Time) error
	// AttemptLogin counts one sign-in attempt for name BEFORE its password
	// is checked, in one atomic statement, so that concurrent guesses
	// cannot check more passwords than allowed: when the user is locked at
	// now it returns allowed false and the user (LockedUntil says until
	// when) and counts nothing; otherwise it adds one to FailedLogins and,
	// when that reaches maxFailures, locks the user until now+lockout and
	// sets FailedLogins back to 0. It returns the user as updated, with
	// allowed true. LoginSucceeded undoes the count. ErrNotFound when
	// unknown.
	AttemptLogin(ctx context.Context, name string, now time.Time, maxFailures int, lockout time.Duration) (u User, allowed bool, err error)
	// LoginSucceeded clears the user's failure count and lockout.
	LoginSucceeded(ctx context.Context, name string) error

	// CreateSession stores a new session: ErrConflict when the ID exists.
	CreateSession(ctx context.Context, s Session) error
	// GetSession returns a session by ID (revoked and expired ones too),
	// ErrNotFound when unknown.
	GetSession(ctx context.Context, id string) (Session, error)
	// TouchSession records that a session was used at at (LastSeenAt
	// only moves forward). ErrNotFound when unknown.
	TouchSession(ctx context.Context, id string, at time.Time) error
	// RevokeSession revokes a session at at; revoking again keeps the
	// first time. ErrNotFound when unknown.
	RevokeSession(ctx context.Context, id string, at time.Time) error
	// PruneSessions deletes the sessions that expired or were revoked
	// before before, and returns how many.
	PruneSessions(ctx context.Context, before time.Time) (int64, error)
}
