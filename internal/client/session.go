package client

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"
)

// Session is a signed-in user's CLI session, as POST /api/v1/session
// answers it. Token is the bearer token to send from now on (shown once);
// the CLI never gets a cookie.
type Session struct {
	User        string    `json:"user"`
	Role        string    `json:"role"`
	CSRFToken   string    `json:"csrf_token"`
	ExpiresAt   time.Time `json:"expires_at"`
	IdleTimeout string    `json:"idle_timeout"`
	Token       string    `json:"token"`
}

// CreateSession signs a user in for the CLI (client "cli"). A 401 is a
// wrong user name or password, a disabled or a locked account: the server
// does not say which.
func (c *Client) CreateSession(ctx context.Context, username, password string) (Session, error) {
	var s Session
	in := map[string]string{"username": username, "password": password, "client": "cli"}
	if err := c.Post(ctx, "/api/v1/session", in, &s); err != nil {
		return Session{}, err
	}
	if s.Token == "" {
		return Session{}, errors.New("POST /api/v1/session: the server answered no session token")
	}
	return s, nil
}

// DeleteSession signs out the session the client authenticates with.
func (c *Client) DeleteSession(ctx context.Context) error {
	return c.Do(ctx, http.MethodDelete, "/api/v1/session", nil, nil)
}

// User is a user account as GET /api/v1/users lists it.
type User struct {
	Name              string    `json:"name"`
	Role              string    `json:"role"`
	CreatedAt         time.Time `json:"created_at"`
	DisabledAt        time.Time `json:"disabled_at,omitzero"`
	FailedLogins      int       `json:"failed_logins"`
	LockedUntil       time.Time `json:"locked_until,omitzero"`
	PasswordChangedAt time.Time `json:"password_changed_at,omitzero"`
}

// CreateUser adds a user account (admin).
func (c *Client) CreateUser(ctx context.Context, name, role, password string) (User, error) {
	var u User
	err := c.Post(ctx, "/api/v1/users", map[string]string{"name": name, "role": role, "password": password}, &u)
	return u, err
}

// ListUsers lists every user account (admin).
func (c *Client) ListUsers(ctx context.Context) ([]User, error) {
	var us []User
	err := c.Get(ctx, "/api/v1/users", &us)
	return us, err
}

// SetPassword sets a user's password: an admin sets anyone's; users
// changing their own give current.
func (c *Client) SetPassword(ctx context.Context, name, password, current string) error {
	in := map[string]string{"password": password}
	if current != "" {
		in["current_password"] = current
	}
	return c.Post(ctx, "/api/v1/users/"+url.PathEscape(name)+"/password", in, nil)
}

// SetUserDisabled disables a user (revoking every session) or enables it.
func (c *Client) SetUserDisabled(ctx context.Context, name string, disabled bool) (User, error) {
	verb := "enable"
	if disabled {
		verb = "disable"
	}
	var u User
	err := c.Post(ctx, "/api/v1/users/"+url.PathEscape(name)+"/"+verb, nil, &u)
	return u, err
}
