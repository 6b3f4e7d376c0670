package api

import (
	"context"
	"net/http"

	"github.com/wardproject/ward/internal/store"
)

// Principal is who made an authenticated request: an API token or a
// signed-in user. Handlers outside this package (the event stream, the
// console) read it with PrincipalFrom.
type Principal struct {
	// Kind is PrincipalToken or PrincipalUser.
	Kind string `json:"kind"`
	// ID is the token's ID, or the user's name.
	ID string `json:"id"`
	// Name is the token's name, or the user's name.
	Name string     `json:"name"`
	Role store.Role `json:"role"`
	// SessionID is the user's session ("" for a token).
	SessionID string `json:"-"`
}

// Principal kinds.
const (
	PrincipalToken = "token"
	PrincipalUser  = "user"
)

// Actor names the principal in the audit log and in logs: "user:alice"
// or "token:<id>".
func (p Principal) Actor() string { return p.Kind + ":" + p.ID }

// PrincipalFrom returns the principal of an authenticated request's
// context.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(keyPrincipal).(Principal)
	return p, ok
}

// principalOf is PrincipalFrom for the handlers of this package, which
// only run behind authentication.
func principalOf(r *http.Request) Principal {
	p, _ := PrincipalFrom(r.Context())
	return p
}

// actor names the request's principal for the audit log ("unknown" on a
// public route).
func actor(r *http.Request) string {
	if p, ok := PrincipalFrom(r.Context()); ok {
		return p.Actor()
	}
	return "unknown"
}

// permission says who may call a route: the ordered roles from min up
// (viewer < operator < admin), and the provisioning role only where
// provisioning is set. It is decided route by route, not by a rank:
// provisioning is below viewer for reading and above it for registering
// devices.
type permission struct {
	min          store.Role
	provisioning bool
}

// allows reports whether role may call the route.
func (p permission) allows(role store.Role) bool {
	if role == store.RoleProvisioning {
		return p.provisioning
	}
	return rank(role) > 0 && rank(role) >= rank(p.min)
}

// provisioningRoutes are the only routes the provisioning role may call
// (a factory line registers devices and issues their enrollment tokens;
// it reads nothing else). TestProvisioningRoutesRegistered holds this list
// to the mux.
var provisioningRoutes = map[string]bool{
	"POST /api/v1/devices":            true,
	"POST /api/v1/devices/{id}/token": true,
	"POST /api/v1/devices/import":     true,
	"GET /api/v1/whoami":              true,
	"GET /api/v1/info":                true,
	"GET /api/v1/session":             true,
	"DELETE /api/v1/session":          true,
}

// String says who may call the route, for a 403's message.
func (p permission) String() string {
	if p.provisioning {
		return string(p.min) + ", or provisioning"
	}
	return string(p.min)
}

// rank orders the ordered roles; 0 for any other (provisioning, unknown).
func rank(r store.Role) int {
	switch r {
	case store.RoleAdmin:
		return 3
	case store.RoleOperator:
		return 2
	case store.RoleViewer:
		return 1
	}
	return 0
}
