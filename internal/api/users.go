package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/wardproject/ward/internal/password"
	"github.com/wardproject/ward/internal/store"
)

// User is a user account as the API shows it: never its password hash.
type User struct {
	Name              string     `json:"name"`
	Role              store.Role `json:"role"`
	CreatedAt         time.Time  `json:"created_at"`
	DisabledAt        time.Time  `json:"disabled_at,omitzero"`
	FailedLogins      int        `json:"failed_logins"`
	LockedUntil       time.Time  `json:"locked_until,omitzero"`
	PasswordChangedAt time.Time  `json:"password_changed_at,omitzero"`
}

func userView(u store.User) User {
	return User{Name: u.Name, Role: u.Role, CreatedAt: u.CreatedAt, DisabledAt: u.DisabledAt, FailedLogins: u.FailedLogins,
		LockedUntil: u.LockedUntil, PasswordChangedAt: u.PasswordChangedAt}
}

// CreateUserRequest is the body of POST /api/v1/users.
type CreateUserRequest struct {
	Name     string     `json:"name"`
	Role     store.Role `json:"role"`
	Password string     `json:"password"`
}

// PasswordRequest is the body of POST /api/v1/users/{name}/password.
// CurrentPassword is required when users change their own password.
type PasswordRequest struct {
	Password        string `json:"password"`
	CurrentPassword string `json:"current_password,omitempty"`
}

func (s *Server) userRoutes() {
	s.auth("GET /api/v1/users", store.RoleAdmin, s.listUsers)
	s.auth("POST /api/v1/users", store.RoleAdmin, s.createUser)
	// Any role may reach the route; the handler lets a user change only
	// their own password unless they are an admin.
	s.auth("POST /api/v1/users/{name}/password", store.RoleViewer, s.setPassword)
	s.auth("POST /api/v1/users/{name}/disable", store.RoleAdmin, s.disableUser)
	s.auth("POST /api/v1/users/{name}/enable", store.RoleAdmin, s.enableUser)
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) error {
	us, err := s.opts.Store.ListUsers(r.Context())
	if err != nil {
		return err
	}
	out := make([]User, 0, len(us))
	for _, u := range us {
		out = append(out, userView(u))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func badRequest(err error) error {
	return &Error{Status: http.StatusBadRequest, Public: err.Error(), Err: err}
}

// newUser adds a user account with a role and a password that meets the
// policy (package password), hashed with argon2id.
func newUser(ctx context.Context, us UserStore, h *password.Hasher, name string, role store.Role, pw string, now time.Time) (store.User, error) {
	name, err := NormalizeUserName(name)
	if err != nil {
		return store.User{}, badRequest(err)
	}
	if !role.Valid() {
		return store.User{}, &Error{Status: http.StatusBadRequest, Public: fmt.Sprintf("role must be admin, operator, viewer or provisioning, not %q", role)}
	}
	if err := password.CheckPolicy(name, pw); err != nil {
		return store.User{}, badRequest(err)
	}
	hash, err := h.Hash(ctx, pw)
	if err != nil {
		return store.User{}, err
	}
	u := store.User{Name: name, Role: role, PasswordHash: hash, CreatedAt: now.UTC(), PasswordChangedAt: now.UTC()}
	if err := us.CreateUser(ctx, u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return store.User{}, &Error{Status: http.StatusConflict, Public: "user " + name + " already exists", Err: err}
		}
		return store.User{}, err
	}
	return u, nil
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request) error {
	var req CreateUserRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	u, err := newUser(context.WithoutCancel(r.Context()), s.opts.Store, s.hasher, req.Name, req.Role, req.Password, s.now())
	if err != nil {
		return err
	}
	s.log.Info("user created", "user", u.Name, "role", u.Role, "by", actor(r))
	s.audit(r, "user.create", "user:"+u.Name, map[string]string{"role": string(u.Role)})
	writeJSON(w, http.StatusCreated, userView(u))
	return nil
}

// pathUser reads and folds the {name} of a users route; ErrNotFound when
// the user is unknown.
func (s *Server) pathUser(r *http.Request) (store.User, error) {
	name, err := NormalizeUserName(r.PathValue("name"))
	if err != nil {
		return store.User{}, badRequest(err)
	}
	return s.opts.Store.GetUser(r.Context(), name)
}

// setPassword answers POST /api/v1/users/{name}/password. Admins set any
// user's password; anyone else only their own, with their current one.
// Users changing their own password give the current one too, admins
// included, so that a stolen session cannot lock its owner out. Every
// other session of the user is revoked: the caller's own is kept.
func (s *Server) setPassword(w http.ResponseWriter, r *http.Request) error {
	p := principalOf(r)
	u, err := s.pathUser(r)
	if err != nil {
		return err
	}
	self := p.Kind == PrincipalUser && p.Name == u.Name
	if !self && p.Role != store.RoleAdmin {
		return &Error{Status: http.StatusForbidden, Public: fmt.Sprintf("role %s may change only its own password (needs admin)", p.Role)}
	}
	var req PasswordRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	ctx := context.WithoutCancel(r.Context())
	if self {
		ok, err := s.hasher.Verify(ctx, req.CurrentPassword, u.PasswordHash)
		if err != nil {
			return err
		}
		if !ok {
			return &Error{Status: http.StatusForbidden, Public: "current_password is wrong: give your current password to change it"}
		}
	}
	if err := password.CheckPolicy(u.Name, req.Password); err != nil {
		return badRequest(err)
	}
	hash, err := s.hasher.Hash(ctx, req.Password)
	if err != nil {
		return err
	}
	if err := s.opts.Store.SetUserPassword(ctx, u.Name, hash, s.now().UTC(), p.SessionID); err != nil {
		return err
	}
	s.log.Info("password changed", "user", u.Name, "by", actor(r))
	s.audit(r, "user.password", "user:"+u.Name, nil)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) disableUser(w http.ResponseWriter, r *http.Request) error {
	u, err := s.pathUser(r)
	if err != nil {
		return err
	}
	if p := principalOf(r); p.Kind == PrincipalUser && p.Name == u.Name {
		return &Error{Status: http.StatusConflict, Public: "you cannot disable your own account: another admin must"}
	}
	if err := s.opts.Store.SetUserDisabled(context.WithoutCancel(r.Context()), u.Name, s.now().UTC()); err != nil {
		return err
	}
	s.log.Info("user disabled", "user", u.Name, "by", actor(r))
	s.audit(r, "user.disable", "user:"+u.Name, nil)
	s.endStreams("user:" + u.Name)
	return s.writeUser(w, r, u.Name)
}

func (s *Server) enableUser(w http.ResponseWriter, r *http.Request) error {
	u, err := s.pathUser(r)
	if err != nil {
		return err
	}
	if err := s.opts.Store.SetUserDisabled(context.WithoutCancel(r.Context()), u.Name, time.Time{}); err != nil {
		return err
	}
	s.log.Info("user enabled", "user", u.Name, "by", actor(r))
	s.audit(r, "user.enable", "user:"+u.Name, nil)
	return s.writeUser(w, r, u.Name)
}

// writeUser answers 200 with the user as stored now.
func (s *Server) writeUser(w http.ResponseWriter, r *http.Request, name string) error {
	u, err := s.opts.Store.GetUser(r.Context(), name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, userView(u))
	return nil
}
