package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/wardproject/ward/internal/secret"
	"github.com/wardproject/ward/internal/store"
)

// TokenStore is what operator-token handling needs from storage.
type TokenStore interface {
	PutAPIToken(ctx context.Context, t store.APIToken) error
	GetAPIToken(ctx context.Context, id string) (store.APIToken, error)
	ListAPITokens(ctx context.Context) ([]store.APIToken, error)
	RevokeAPIToken(ctx context.Context, id string, at time.Time) error
}

// tokenPrefix marks Ward operator tokens so that secret scanners can find
// leaked ones: "ward_<id>_<secret>".
const tokenPrefix = "ward_"

// Bounds of an API token's lifetime. Every token expires: a TTL of zero
// means DefaultTokenTTL.
const (
	MinTokenTTL     = time.Minute
	MaxTokenTTL     = 365 * 24 * time.Hour
	DefaultTokenTTL = 90 * 24 * time.Hour
)

// ErrTokenTTL is returned for an API token lifetime outside
// [MinTokenTTL, MaxTokenTTL].
var ErrTokenTTL = errors.New("API token ttl must be between 1m and 8760h (one year)")

// CheckTokenTTL refuses a lifetime outside [MinTokenTTL, MaxTokenTTL].
func CheckTokenTTL(ttl time.Duration) error {
	if ttl < MinTokenTTL || ttl > MaxTokenTTL {
		return fmt.Errorf("%w, not %s", ErrTokenTTL, ttl)
	}
	return nil
}

// ErrUnauthenticated is returned for a missing, malformed, unknown,
// revoked or expired token.
var ErrUnauthenticated = errors.New("invalid or missing API token")

// CreateToken makes a new operator token with a role and returns its text,
// which is shown once and stored only as a hash. It expires after ttl
// (0: DefaultTokenTTL; otherwise within [MinTokenTTL, MaxTokenTTL]).
func CreateToken(ctx context.Context, ts TokenStore, name string, role store.Role, ttl time.Duration, now time.Time) (secret.Value, store.APIToken, error) {
	if ttl == 0 {
		ttl = DefaultTokenTTL
	}
	if err := CheckTokenTTL(ttl); err != nil {
		return "", store.APIToken{}, err
	}
	if !role.Valid() {
		return "", store.APIToken{}, fmt.Errorf("unknown role %q: use admin, operator, viewer or provisioning", role)
	}
	if len(name) > 128 {
		return "", store.APIToken{}, errors.New("token name longer than 128 characters")
	}
	id, text, err := newSecretToken(tokenPrefix)
	if err != nil {
		return "", store.APIToken{}, err
	}
	_, sec, _ := cutToken(tokenPrefix, text.Reveal())
	t := store.APIToken{ID: id, Name: name, Role: role, Hash: secret.Hash(sec), CreatedAt: now.UTC(), ExpiresAt: now.Add(ttl).UTC()}
	if err := ts.PutAPIToken(ctx, t); err != nil {
		return "", store.APIToken{}, fmt.Errorf("store API token: %w", err)
	}
	return text, t, nil
}

// TokenID returns the ID part of a token's text ("ward_<id>_<secret>").
func TokenID(presented string) (string, bool) {
	id, _, ok := cutToken(tokenPrefix, presented)
	return id, ok
}

// newSecretToken makes the text of a bearer secret looked up by a public
// ID: prefix, 16 hex characters of ID, "_", 32 random bytes base64url. API
// tokens and session tokens share the scheme; only the SHA-256 of the
// secret part is stored.
func newSecretToken(prefix string) (id string, text secret.Value, err error) {
	if id, err = secret.NewID(8); err != nil {
		return "", "", err
	}
	sec, err := secret.New()
	if err != nil {
		return "", "", err
	}
	return id, secret.Value(prefix + id + "_" + sec.Reveal()), nil
}

// cutToken splits a token's text ("<prefix><id>_<secret>") into its ID
// and secret parts.
func cutToken(prefix, presented string) (id, sec string, ok bool) {
	rest, ok := strings.CutPrefix(presented, prefix)
	if !ok {
		return "", "", false
	}
	id, sec, ok = strings.Cut(rest, "_")
	if !ok || len(id) != 16 || sec == "" {
		return "", "", false
	}
	return id, sec, true
}

// Authenticate checks a presented bearer token: the ID part selects the
// record, the secret part is compared against its hash in constant time.
func Authenticate(ctx context.Context, ts TokenStore, presented string, now time.Time) (store.APIToken, error) {
	id, sec, ok := cutToken(tokenPrefix, presented)
	if !ok {
		return store.APIToken{}, ErrUnauthenticated
	}
	t, err := ts.GetAPIToken(ctx, id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			secret.Equal(sec, make([]byte, 32)) // same work as a real compare
			return store.APIToken{}, ErrUnauthenticated
		}
		return store.APIToken{}, err
	}
	if !secret.Equal(sec, t.Hash) || !t.RevokedAt.IsZero() || (!t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt)) {
		return store.APIToken{}, ErrUnauthenticated
	}
	return t, nil
}

// RotateAdminResponse answers POST /api/v1/tokens/rotate-admin: the new
// admin token (its text in token, shown once) and the ID of the calling
// token, now revoked.
type RotateAdminResponse struct {
	CreateTokenResponse
	RevokedID string `json:"revoked_id"`
}

// rotateAdmin replaces the calling admin token: a new admin token with the
// same name and the configured admin lifetime, then the caller's revoked.
// If the revocation fails the new token is revoked too and the old one
// stays in use: the caller is never left with two or with none.
func (s *Server) rotateAdmin(w http.ResponseWriter, r *http.Request) error {
	p := principalOf(r)
	if p.Kind != PrincipalToken {
		return &Error{Status: http.StatusBadRequest, Public: "rotate-admin replaces the calling API token; this request is signed in as " + p.Actor() + ", not made with a token"}
	}
	ctx := context.WithoutCancel(r.Context())
	now := s.now()
	tok, t, err := CreateToken(ctx, s.opts.Store, p.Name, store.RoleAdmin, s.opts.AdminTokenTTL, now)
	if err != nil {
		return err
	}
	if err := s.opts.Store.RevokeAPIToken(ctx, p.ID, now.UTC()); err != nil {
		if rerr := s.opts.Store.RevokeAPIToken(ctx, t.ID, now.UTC()); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return fmt.Errorf("revoke the old admin token %s: %w", p.ID, err)
	}
	s.log.Info("admin token rotated", "token_id", t.ID, "revoked", p.ID, "expires_at", t.ExpiresAt)
	s.audit(r, "token.rotate-admin", t.ID, map[string]string{"revoked": p.ID})
	s.endStreams(p.Actor())
	writeJSON(w, http.StatusCreated, RotateAdminResponse{CreateTokenResponse: CreateTokenResponse{APIToken: t, Token: tok.Reveal()}, RevokedID: p.ID})
	return nil
}
