package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/wardproject/ward/internal/store"
)

// TestAPITokens is the conformance suite of store.APITokens.
func TestAPITokens(t *testing.T, open func(t *testing.T) store.Store) {
	runAll(t, open, []subtest{
		{"put-get-revoke", testAPITokens},
		{"list-and-conflicts", testAPITokenList},
	})
}

func testAPITokens(t *testing.T, s store.Store) {
	ctx := context.Background()
	tok := store.APIToken{ID: "0011223344556677", Name: "ops", Role: store.RoleOperator, Hash: []byte("h"), CreatedAt: t0}
	if err := s.PutAPIToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetAPIToken(ctx, tok.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tok, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("GetAPIToken (-want +got):\n%s", diff)
	}
	if _, err := s.GetAPIToken(ctx, "ffffffffffffffff"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetAPIToken of an unknown ID: %v, want ErrNotFound", err)
	}
	if err := s.RevokeAPIToken(ctx, tok.ID, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeAPIToken(ctx, tok.ID, t0.Add(time.Hour)); err != nil {
		t.Fatalf("second revocation: %v", err)
	}
	if got, _ := s.GetAPIToken(ctx, tok.ID); !got.RevokedAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("revoked token: RevokedAt %v, want the first revocation %v", got.RevokedAt, t0.Add(time.Minute))
	}
	if err := s.RevokeAPIToken(ctx, "ffffffffffffffff", t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoke unknown token: %v", err)
	}
	ts, _ := s.ListAPITokens(ctx)
	if len(ts) != 1 {
		t.Errorf("ListAPITokens = %d tokens", len(ts))
	}
}

// testAPITokenList: a duplicate ID is ErrConflict and keeps the first
// token (its hash above all); the list is oldest first, revoked tokens
// included, every field as stored.
func testAPITokenList(t *testing.T, s store.Store) {
	ctx := context.Background()
	if ts, err := s.ListAPITokens(ctx); err != nil || len(ts) != 0 {
		t.Fatalf("ListAPITokens on an empty store = %v, %v", ts, err)
	}
	admin := store.APIToken{ID: "a1", Name: "root", Role: store.RoleAdmin, Hash: []byte{0, 1, 0xfe, 0xff}, CreatedAt: t0.Add(2 * time.Hour), ExpiresAt: t0.Add(48 * time.Hour)}
	viewer := store.APIToken{ID: "v1", Name: "dashboard", Role: store.RoleViewer, Hash: []byte("v"), CreatedAt: t0}
	ops := store.APIToken{ID: "o1", Name: "ops", Role: store.RoleOperator, Hash: []byte("o"), CreatedAt: t0.Add(time.Hour)}
	for _, tok := range []store.APIToken{admin, viewer, ops} {
		if err := s.PutAPIToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	attacker := store.APIToken{ID: "a1", Name: "root", Role: store.RoleAdmin, Hash: []byte("attacker's secret"), CreatedAt: t0}
	if err := s.PutAPIToken(ctx, attacker); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("PutAPIToken with a taken ID: %v, want ErrConflict", err)
	}
	if got, _ := s.GetAPIToken(ctx, "a1"); !cmp.Equal(got.Hash, admin.Hash) {
		t.Fatalf("a refused duplicate replaced the token's hash: %x", got.Hash)
	}
	if err := s.RevokeAPIToken(ctx, "v1", t0.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	viewer.RevokedAt = t0.Add(3 * time.Hour)
	ts, err := s.ListAPITokens(ctx)
	if diff := cmp.Diff([]store.APIToken{viewer, ops, admin}, ts, cmpopts.EquateEmpty()); err != nil || diff != "" {
		t.Errorf("ListAPITokens (-want +got), %v:\n%s", err, diff)
	}
}
