package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/wardproject/ward/internal/ratelimit"
	"github.com/wardproject/ward/internal/secret"
	"github.com/wardproject/ward/internal/store"
)

// UserStore is what accounts and sessions need from storage.
type UserStore interface {
	CreateUser(ctx context.Context, u store.User) error
	GetUser(ctx context.Context, name string) (store.User, error)
	ListUsers(ctx context.Context) ([]store.User, error)
	SetUserPassword(ctx context.Context, name, hash string, at time.Time, keepSession string) error
	RehashPassword(ctx context.Context, name, oldHash, newHash string) error
	SetUserDisabled(ctx context.Context, name string, at time.Time) error
	AttemptLogin(ctx context.Context, name string, now time.Time, maxFailures int, lockout time.Duration) (store.User, bool, error)
	LoginSucceeded(ctx context.Context, name string) error
	CreateSession(ctx context.Context, s store.Session) error
	GetSession(ctx context.Context, id string) (store.Session, error)
	TouchSession(ctx context.Context, id string, at time.Time) error
	RevokeSession(ctx context.Context, id string, at time.Time) error
	PruneSessions(ctx context.Context, before time.Time) (int64, error)
}

// Sessions configure sign-in and sessions; zero fields take the defaults,
// which are config's (api.session_idle_timeout, api.session_lifetime,
// api.login_max_failures, api.login_lockout).
type Sessions struct {
	// IdleTimeout ends a session not used for this long.
	IdleTimeout time.Duration
	// Lifetime ends a session this long after sign-in, however used.
	Lifetime time.Duration
	// MaxFailures sign-in attempts in a row lock the account for Lockout.
	MaxFailures int
	Lockout     time.Duration
}

// Session defaults (see Sessions).
const (
	DefaultSessionIdleTimeout = 30 * time.Minute
	DefaultSessionLifetime    = 12 * time.Hour
	DefaultLoginMaxFailures   = 5
	DefaultLoginLockout       = 15 * time.Minute
)

// SessionCookie is the console's session cookie: HttpOnly, Secure,
// SameSite=Strict, Path=/, no Domain.
const SessionCookie = "ward_session"

// CSRFHeader carries the session's CSRF token on every unsafe request
// authenticated by the cookie.
const CSRFHeader = "X-CSRF-Token"

// sessionPrefix marks session tokens ("wards_<id>_<secret>"), as
// tokenPrefix marks API tokens.
const sessionPrefix = "wards_"

// touchEvery bounds how often a session's last use is written: at most
// once a minute, not on every request.
const touchEvery = time.Minute

// Session clients.
const (
	ClientBrowser = "browser"
	ClientCLI     = "cli"
)

// LoginRequest is the body of POST /api/v1/session.
type LoginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	// Client is "browser" (default: the session is a cookie) or "cli"
	// (the session's token is in the answer).
	Client string `json:"client,omitempty"`
}

// SessionResponse answers POST and GET /api/v1/session.
type SessionResponse struct {
	User      string     `json:"user"`
	Role      store.Role `json:"role"`
	CSRFToken string     `json:"csrf_token"`
	ExpiresAt time.Time  `json:"expires_at"`
	// IdleTimeout is a Go duration ("30m0s").
	IdleTimeout string `json:"idle_timeout"`
	// Token is the session's bearer token, only in the answer to a CLI
	// sign-in (shown once).
	Token string `json:"token,omitempty"`
}

// errBadCredentials is the one answer to an unknown user, a wrong
// password, a disabled account and a locked one, so that none can be
// told apart (by status, body, headers or the time a hash takes).
var errBadCredentials = &Error{Status: http.StatusUnauthorized, Public: "wrong user name or password"}

func (s *Server) sessionRoutes() {
	s.public("POST /api/v1/session", s.signIn)
	s.auth("GET /api/v1/session", store.RoleViewer, s.getSession)
	s.auth("DELETE /api/v1/session", store.RoleViewer, s.signOut)
}

// signIn answers POST /api/v1/session. Its failures count against the
// source's authentication-failure budget; each attempt counts against the
// account before the password is checked, so that at most MaxFailures
// passwords are tried per lockout whatever the concurrency.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request) {
	if err := s.signInErr(w, r); err != nil {
		s.writeError(w, r, err)
	}
}

func (s *Server) signInErr(w http.ResponseWriter, r *http.Request) error {
	src := ratelimit.SourceKey(r.RemoteAddr)
	if ok, wait := s.authFail.Check(src); !ok {
		s.tooMany(w, r, "POST /api/v1/session", "auth_failure", wait)
		return nil
	}
	var req LoginRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	switch req.Client {
	case "":
		req.Client = ClientBrowser
	case ClientBrowser, ClientCLI:
	default:
		return &Error{Status: http.StatusBadRequest, Public: fmt.Sprintf("client must be %s or %s, not %q", ClientBrowser, ClientCLI, req.Client)}
	}
	ctx := context.WithoutCancel(r.Context())
	// fail answers a refused sign-in. The name is logged only when it is
	// a user's: a password typed into the name field stays out of the log.
	fail := func(result, user string) error {
		s.authFail.Allow(src)
		s.logins.WithLabelValues(result).Inc()
		s.log.Warn("sign-in refused", "user", user, "remote_addr", r.RemoteAddr, "request_id", requestID(r), "result", result)
		return errBadCredentials
	}
	name, nameErr := NormalizeUserName(req.Username)
	var u store.User
	allowed, err := false, error(nil)
	if nameErr == nil {
		u, allowed, err = s.opts.Store.AttemptLogin(ctx, name, s.now(), s.opts.Sessions.MaxFailures, s.opts.Sessions.Lockout)
	}
	if nameErr != nil || errors.Is(err, store.ErrNotFound) {
		if err := s.hasher.VerifyNone(ctx, req.Password); err != nil {
			return err
		}
		return fail("bad_credentials", "(unknown)")
	}
	if err != nil {
		return err
	}
	if !allowed {
		// A locked account answers as an unknown user does, after the
		// same dummy hash: a locked answer would tell that the account
		// exists. The truth goes to the log and the metric only; the
		// password is not checked, the right one included.
		if err := s.hasher.VerifyNone(ctx, req.Password); err != nil {
			return err
		}
		s.authFail.Allow(src)
		s.logins.WithLabelValues("locked").Inc()
		s.log.Warn("sign-in to a locked account refused", "user", name, "remote_addr", r.RemoteAddr, "request_id", requestID(r), "locked_until", u.LockedUntil)
		return errBadCredentials
	}
	ok, err := s.hasher.Verify(ctx, req.Password, u.PasswordHash)
	if err != nil {
		return fmt.Errorf("verify the password of user %s: %w", name, err)
	}
	if !ok {
		if !u.LockedUntil.IsZero() && u.LockedUntil.After(s.now()) {
			s.log.Warn("account locked after too many failed sign-ins", "user", name, "remote_addr", r.RemoteAddr, "request_id", requestID(r), "locked_until", u.LockedUntil)
			s.audit(r, "user.lock", "user:"+name, map[string]string{"locked_until": u.LockedUntil.UTC().Format(time.RFC3339), "remote_addr": r.RemoteAddr})
		}
		return fail("bad_credentials", name)
	}
	if !u.DisabledAt.IsZero() {
		return fail("disabled", name)
	}
	if err := s.opts.Store.LoginSucceeded(ctx, name); err != nil {
		return err
	}
	s.rehash(ctx, u, req.Password)
	sess, text, err := s.newSession(ctx, u, req.Client)
	if err != nil {
		return err
	}
	s.logins.WithLabelValues("ok").Inc()
	p := Principal{Kind: PrincipalUser, ID: u.Name, Name: u.Name, Role: u.Role, SessionID: sess.ID}
	r = r.WithContext(context.WithValue(r.Context(), keyPrincipal, p))
	s.log.Info("signed in", "user", u.Name, "role", u.Role, "client", req.Client, "session", sess.ID, "request_id", requestID(r))
	s.audit(r, "session.create", "user:"+u.Name, map[string]string{"client": req.Client, "session": sess.ID})
	resp := s.sessionResponse(u, sess)
	if req.Client == ClientCLI {
		resp.Token = text.Reveal()
	} else {
		http.SetCookie(w, s.sessionCookie(text.Reveal(), int(s.opts.Sessions.Lifetime/time.Second)))
	}
	writeJSON(w, http.StatusCreated, resp)
	return nil
}

// rehash replaces a hash made with other argon2id parameters than the
// current ones, now that the password is known to be right. A failure is
// logged: the old hash still verifies.
func (s *Server) rehash(ctx context.Context, u store.User, pw string) {
	if !s.hasher.NeedsRehash(u.PasswordHash) {
		return
	}
	h, err := s.hasher.Hash(ctx, pw)
	if err == nil {
		err = s.opts.Store.RehashPassword(ctx, u.Name, u.PasswordHash, h)
	}
	if err != nil {
		s.log.Error("rehash a password with the current parameters", "user", u.Name, "err", err)
		return
	}
	s.log.Info("password rehashed with the current argon2id parameters", "user", u.Name)
}

// newSession stores a new session of u and returns it with its token.
func (s *Server) newSession(ctx context.Context, u store.User, client string) (store.Session, secret.Value, error) {
	id, text, err := newSecretToken(sessionPrefix)
	if err != nil {
		return store.Session{}, "", err
	}
	csrf, err := secret.New()
	if err != nil {
		return store.Session{}, "", err
	}
	_, sec, _ := cutToken(sessionPrefix, text.Reveal())
	now := s.now().UTC()
	sess := store.Session{ID: id, Hash: secret.Hash(sec), User: u.Name, Client: client, CSRFToken: csrf.Reveal(),
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(s.opts.Sessions.Lifetime), IdleTimeout: s.opts.Sessions.IdleTimeout}
	if err := s.opts.Store.CreateSession(ctx, sess); err != nil {
		return store.Session{}, "", fmt.Errorf("store the session of user %s: %w", u.Name, err)
	}
	return sess, text, nil
}

func (s *Server) sessionResponse(u store.User, sess store.Session) SessionResponse {
	return SessionResponse{User: u.Name, Role: u.Role, CSRFToken: sess.CSRFToken, ExpiresAt: sess.ExpiresAt, IdleTimeout: sess.IdleTimeout.String()}
}

// sessionCookie is the session cookie holding value for maxAge seconds
// (negative: delete it).
func (s *Server) sessionCookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: SessionCookie, Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode}
}

// errSessionEnded wraps ErrUnauthenticated for a session that is revoked,
// expired or idle, or whose user is disabled.
var errSessionEnded = fmt.Errorf("session ended: %w", ErrUnauthenticated)

// authenticateSession checks a session token: its ID selects the record,
// its secret is compared with the stored hash in constant time, and the
// session must be live (not revoked, within its lifetime and idle timeout)
// and its user enabled. The user's role is read now, not at sign-in.
func (s *Server) authenticateSession(ctx context.Context, presented string) (Principal, store.Session, error) {
	id, sec, ok := cutToken(sessionPrefix, presented)
	if !ok {
		return Principal{}, store.Session{}, ErrUnauthenticated
	}
	sess, err := s.opts.Store.GetSession(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		secret.Equal(sec, make([]byte, 32)) // same work as a real compare
		return Principal{}, store.Session{}, ErrUnauthenticated
	}
	if err != nil {
		return Principal{}, store.Session{}, err
	}
	if !secret.Equal(sec, sess.Hash) {
		return Principal{}, store.Session{}, ErrUnauthenticated
	}
	now := s.now()
	if !sess.RevokedAt.IsZero() || !now.Before(sess.ExpiresAt) || now.Sub(sess.LastSeenAt) >= sess.IdleTimeout {
		return Principal{}, store.Session{}, errSessionEnded
	}
	u, err := s.opts.Store.GetUser(ctx, sess.User)
	if errors.Is(err, store.ErrNotFound) {
		return Principal{}, store.Session{}, errSessionEnded
	}
	if err != nil {
		return Principal{}, store.Session{}, err
	}
	if !u.DisabledAt.IsZero() {
		return Principal{}, store.Session{}, errSessionEnded
	}
	if now.Sub(sess.LastSeenAt) >= touchEvery {
		if err := s.opts.Store.TouchSession(context.WithoutCancel(ctx), sess.ID, now.UTC()); err != nil {
			s.log.Error("record a session's use", "session", sess.ID, "err", err)
		}
		sess.LastSeenAt = now.UTC()
	}
	return Principal{Kind: PrincipalUser, ID: u.Name, Name: u.Name, Role: u.Role, SessionID: sess.ID}, sess, nil
}

// currentSession returns the request's session, or a 401 when it was
// made with an API token.
func currentSession(r *http.Request) (store.Session, error) {
	sess, ok := r.Context().Value(keySession).(store.Session)
	if !ok {
		return store.Session{}, &Error{Status: http.StatusUnauthorized, Public: "no session: this request is made with an API token; sign in with POST /api/v1/session"}
	}
	return sess, nil
}

func (s *Server) getSession(w http.ResponseWriter, r *http.Request) error {
	sess, err := currentSession(r)
	if err != nil {
		return err
	}
	p := principalOf(r)
	writeJSON(w, http.StatusOK, s.sessionResponse(store.User{Name: p.Name, Role: p.Role}, sess))
	return nil
}

// signOut answers DELETE /api/v1/session: the session is revoked in the
// store (every node refuses it from now on) and the cookie expired.
func (s *Server) signOut(w http.ResponseWriter, r *http.Request) error {
	sess, err := currentSession(r)
	if err != nil {
		return err
	}
	if err := s.opts.Store.RevokeSession(context.WithoutCancel(r.Context()), sess.ID, s.now().UTC()); err != nil {
		return err
	}
	if _, err := r.Cookie(SessionCookie); err == nil {
		http.SetCookie(w, s.sessionCookie("", -1))
	}
	s.log.Info("signed out", "user", sess.User, "session", sess.ID, "request_id", requestID(r))
	s.audit(r, "session.delete", "user:"+sess.User, map[string]string{"session": sess.ID})
	s.endStreams("session:" + sess.ID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// SessionRetention is how long a session is kept in the store after it
// ended (expired or revoked), for the record; PruneSessions deletes it
// then.
const SessionRetention = 24 * time.Hour

// PruneSessions deletes the sessions that ended more than
// SessionRetention ago, and returns how many.
func (s *Server) PruneSessions(ctx context.Context) (int64, error) {
	return s.opts.Store.PruneSessions(ctx, s.now().Add(-SessionRetention))
}

// Run prunes ended sessions every hour until ctx is done.
func (s *Server) Run(ctx context.Context) error {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if n, err := s.PruneSessions(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("prune ended sessions", "err", err)
			} else if n > 0 {
				s.log.Info("ended sessions pruned", "sessions", n)
			}
		}
	}
}

// NormalizeUserName folds a user name to lower case and checks it:
// 1 to 64 characters of a-z, 0-9, '.', '_' and '-'.
// Only ASCII letters are folded: Unicode folding would map other
// characters (the Kelvin sign) onto ASCII names.
func NormalizeUserName(name string) (string, error) {
	if len(name) < 1 || len(name) > 64 {
		return "", fmt.Errorf("user name must be 1 to 64 characters, not %d", len(name))
	}
	b := []byte(name)
	for i, c := range b {
		switch {
		case c >= 'A' && c <= 'Z':
			b[i] = c + ('a' - 'A')
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return "", fmt.Errorf("user name %q: only a-z, 0-9, '.', '_' and '-' are allowed", name)
		}
	}
	return string(b), nil
}
