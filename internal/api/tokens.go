package api

import (
	"context"
	"errors"
	"fmt"
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

// ErrUnauthenticated is returned for a missing, malformed, unknown,
// revoked or expired token.
var ErrUnauthenticated = errors.New("invalid or missing API token")

// CreateToken makes a new operator token with a role and returns its text,
// which is shown once and stored only as a hash.
func CreateToken(ctx context.Context, ts TokenStore, name string, role store.Role, ttl time.Duration, now time.Time) (secret.Value, store.APIToken, error) {
	if !role.Valid() {
		return "", store.APIToken{}, fmt.Errorf("unknown role %q: use admin, operator or viewer", role)
	}
	if len(name) > 128 {
		return "", store.APIToken{}, errors.New("token name longer than 128 characters")
	}
	id, err := secret.NewID(8)
	if err != nil {
		return "", store.APIToken{}, err
	}
	s, err := secret.New()
	if err != nil {
		return "", store.APIToken{}, err
	}
	t := store.APIToken{ID: id, Name: name, Role: role, Hash: secret.Hash(s.Reveal()), CreatedAt: now.UTC()}
	if ttl > 0 {
		t.ExpiresAt = now.Add(ttl).UTC()
	}
	if err := ts.PutAPIToken(ctx, t); err != nil {
		return "", store.APIToken{}, fmt.Errorf("store API token: %w", err)
	}
	return secret.Value(tokenPrefix + id + "_" + s.Reveal()), t, nil
}

// Authenticate checks a presented bearer token: the ID part selects the
// record, the secret part is compared against its hash in constant time.
func Authenticate(ctx context.Context, ts TokenStore, presented string, now time.Time) (store.APIToken, error) {
	rest, ok := strings.CutPrefix(presented, tokenPrefix)
	if !ok {
		return store.APIToken{}, ErrUnauthenticated
	}
	id, sec, ok := strings.Cut(rest, "_")
	if !ok || len(id) != 16 || sec == "" {
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
