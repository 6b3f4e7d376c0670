package store

import (
	"context"
	"time"
)

// Role is an operator role for the API.
type Role string

// Operator roles. Admin, operator and viewer are ordered, from most to
// least privileged; provisioning stands outside that order: it may only
// register devices and issue their enrollment tokens (for factory lines),
// and the API grants it route by route.
const (
	RoleAdmin        Role = "admin"        // everything, including tokens and users
	RoleOperator     Role = "operator"     // manage devices, not tokens or users
	RoleViewer       Role = "viewer"       // read only
	RoleProvisioning Role = "provisioning" // register devices and issue enrollment tokens, nothing else
)

// Roles lists every role, for messages and documentation.
var Roles = []Role{RoleAdmin, RoleOperator, RoleViewer, RoleProvisioning}

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	return r == RoleAdmin || r == RoleOperator || r == RoleViewer || r == RoleProvisioning
}

// APIToken is an operator bearer token. The secret is stored as a hash and
// looked up by its public ID prefix.
type APIToken struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Role      Role      `json:"role"`
	Hash      []byte    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at,omitzero"` // zero: never
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// APITokens is the contract for operators' API bearer tokens. A device's
// enrollment token is not one of these: it belongs to Devices.
type APITokens interface {
	// PutAPIToken stores a new token: ErrConflict when the ID exists.
	PutAPIToken(ctx context.Context, t APIToken) error
	// GetAPIToken returns a token by ID (revoked ones too), ErrNotFound
	// when it is unknown.
	GetAPIToken(ctx context.Context, id string) (APIToken, error)
	// ListAPITokens returns every token, revoked ones too, oldest first
	// (then by ID);
	// hashes are included: callers must not expose them.
	ListAPITokens(ctx context.Context) ([]APIToken, error)
	// RevokeAPIToken revokes a token at at: ErrNotFound when it is
	// unknown; revoking again keeps the first revocation time.
	RevokeAPIToken(ctx context.Context, id string, at time.Time) error
}
