package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/wardproject/ward/internal/store"
)

// TestUsers is the conformance suite of store.Users.
func TestUsers(t *testing.T, open func(t *testing.T) store.Store) {
	runAll(t, open, []subtest{
		{"create-get-list", testUserCRUD},
		{"password-change-revokes-other-sessions", testUserPassword},
		{"disable-revokes-sessions", testUserDisable},
		{"rehash-only-if-unchanged", testUserRehash},
		{"lockout", testUserLockout},
		{"concurrent-attempts-counted-once-each", testUserLockoutRace},
		{"sessions", testSessions},
	})
}

var alice = store.User{Name: "alice", Role: store.RoleOperator, PasswordHash: "$argon2id$v=19$m=65536,t=1,p=1$c2FsdA$aGFzaA", CreatedAt: t0}

func mustCreateUser(t *testing.T, s store.Store, u store.User) {
	t.Helper()
	if err := s.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
}

func mustSession(t *testing.T, s store.Store, id, user string) store.Session {
	t.Helper()
	ss := store.Session{ID: id, Hash: []byte("h-" + id), User: user, Client: "browser", CSRFToken: "csrf-" + id,
		CreatedAt: t0, LastSeenAt: t0, ExpiresAt: t0.Add(12 * time.Hour), IdleTimeout: 30 * time.Minute}
	if err := s.CreateSession(context.Background(), ss); err != nil {
		t.Fatal(err)
	}
	return ss
}

func revokedAt(t *testing.T, s store.Store, id string) time.Time {
	t.Helper()
	ss, err := s.GetSession(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return ss.RevokedAt
}

// testUserCRUD: every field round-trips; a taken name is ErrConflict and
// keeps the first user's hash; unknown names are ErrNotFound; the list is
// ordered by name.
func testUserCRUD(t *testing.T, s store.Store) {
	ctx := context.Background()
	if us, err := s.ListUsers(ctx); err != nil || len(us) != 0 {
		t.Fatalf("ListUsers on an empty store = %v, %v", us, err)
	}
	full := store.User{Name: "zed", Role: store.RoleProvisioning, PasswordHash: "$argon2id$x", CreatedAt: t0, DisabledAt: t0.Add(time.Hour),
		FailedLogins: 3, LockedUntil: t0.Add(2 * time.Hour), PasswordChangedAt: t0.Add(time.Minute)}
	mustCreateUser(t, s, full)
	mustCreateUser(t, s, alice)
	got, err := s.GetUser(ctx, "zed")
	if diff := cmp.Diff(full, got); err != nil || diff != "" {
		t.Errorf("GetUser (-want +got), %v:\n%s", err, diff)
	}
	if err := s.CreateUser(ctx, store.User{Name: "alice", Role: store.RoleAdmin, PasswordHash: "attacker's", CreatedAt: t0}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateUser with a taken name: %v, want ErrConflict", err)
	}
	if got, _ := s.GetUser(ctx, "alice"); got.PasswordHash != alice.PasswordHash || got.Role != alice.Role {
		t.Errorf("a refused duplicate changed the user: %+v", got)
	}
	if _, err := s.GetUser(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetUser of an unknown name: %v, want ErrNotFound", err)
	}
	us, err := s.ListUsers(ctx)
	if diff := cmp.Diff([]string{"alice", "zed"}, keysOf(us, func(u store.User) string { return u.Name })); err != nil || diff != "" {
		t.Errorf("ListUsers (-want +got), %v:\n%s", err, diff)
	}
	for _, call := range []struct {
		name string
		err  error
	}{
		{"SetUserPassword", s.SetUserPassword(ctx, "nobody", "h", t0, "")},
		{"SetUserDisabled", s.SetUserDisabled(ctx, "nobody", t0)},
		{"enable", s.SetUserDisabled(ctx, "nobody", time.Time{})},
		{"LoginSucceeded", s.LoginSucceeded(ctx, "nobody")},
	} {
		if !errors.Is(call.err, store.ErrNotFound) {
			t.Errorf("%s of an unknown user: %v, want ErrNotFound", call.name, call.err)
		}
	}
	if _, _, err := s.AttemptLogin(ctx, "nobody", t0, 5, time.Minute); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AttemptLogin of an unknown user: %v, want ErrNotFound", err)
	}
}

// testUserPassword: a new password replaces the hash, records the time,
// ends a lockout and revokes every live session of the user but the one
// kept; other users' sessions are untouched.
func testUserPassword(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustCreateUser(t, s, alice)
	mustCreateUser(t, s, store.User{Name: "bob", Role: store.RoleViewer, PasswordHash: "b", CreatedAt: t0})
	mustSession(t, s, "s1", "alice")
	mustSession(t, s, "s2", "alice")
	mustSession(t, s, "s3", "bob")
	if _, _, err := s.AttemptLogin(ctx, "alice", t0, 1, time.Hour); err != nil {
		t.Fatal(err)
	}
	at := t0.Add(time.Minute)
	if err := s.SetUserPassword(ctx, "alice", "new-hash", at, "s2"); err != nil {
		t.Fatal(err)
	}
	u, _ := s.GetUser(ctx, "alice")
	if u.PasswordHash != "new-hash" || !u.PasswordChangedAt.Equal(at) || !u.LockedUntil.IsZero() || u.FailedLogins != 0 {
		t.Errorf("after SetUserPassword: %+v", u)
	}
	if !revokedAt(t, s, "s1").Equal(at) || !revokedAt(t, s, "s2").IsZero() || !revokedAt(t, s, "s3").IsZero() {
		t.Errorf("revoked: s1 %v (want %v), s2 %v and bob's s3 %v (want live)", revokedAt(t, s, "s1"), at, revokedAt(t, s, "s2"), revokedAt(t, s, "s3"))
	}
	if err := s.SetUserPassword(ctx, "alice", "newer", at.Add(time.Minute), ""); err != nil {
		t.Fatal(err)
	}
	if !revokedAt(t, s, "s2").Equal(at.Add(time.Minute)) || !revokedAt(t, s, "s1").Equal(at) {
		t.Errorf("keep \"\" must revoke every live session and keep earlier revocation times: s1 %v s2 %v", revokedAt(t, s, "s1"), revokedAt(t, s, "s2"))
	}
}

// testUserRehash: a rehash replaces the hash only while it is the one
// read, changes nothing else and revokes no session.
func testUserRehash(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustCreateUser(t, s, alice)
	mustSession(t, s, "s1", "alice")
	if err := s.RehashPassword(ctx, "alice", alice.PasswordHash, "rehashed"); err != nil {
		t.Fatal(err)
	}
	want := alice
	want.PasswordHash = "rehashed"
	if got, _ := s.GetUser(ctx, "alice"); !cmp.Equal(want, got) {
		t.Errorf("after RehashPassword (-want +got):\n%s", cmp.Diff(want, got))
	}
	if !revokedAt(t, s, "s1").IsZero() {
		t.Error("RehashPassword revoked a session")
	}
	if err := s.RehashPassword(ctx, "alice", alice.PasswordHash, "stale"); err != nil {
		t.Errorf("a rehash that lost to a change: %v, want nil (no-op)", err)
	}
	if got, _ := s.GetUser(ctx, "alice"); got.PasswordHash != "rehashed" {
		t.Errorf("a stale rehash overwrote the hash: %q", got.PasswordHash)
	}
	if err := s.RehashPassword(ctx, "nobody", "a", "b"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RehashPassword of an unknown user: %v, want ErrNotFound", err)
	}
}

// testUserDisable: disabling records the first time and revokes every
// session; enabling clears it and any lockout, and revives no session.
func testUserDisable(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustCreateUser(t, s, alice)
	mustSession(t, s, "s1", "alice")
	at := t0.Add(time.Hour)
	if err := s.SetUserDisabled(ctx, "alice", at); err != nil {
		t.Fatal(err)
	}
	if err := s.SetUserDisabled(ctx, "alice", at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if u, _ := s.GetUser(ctx, "alice"); !u.DisabledAt.Equal(at) {
		t.Errorf("DisabledAt %v, want the first disable %v", u.DisabledAt, at)
	}
	if !revokedAt(t, s, "s1").Equal(at) {
		t.Errorf("session of a disabled user: revoked at %v, want %v", revokedAt(t, s, "s1"), at)
	}
	if _, _, err := s.AttemptLogin(ctx, "alice", at, 1, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s.SetUserDisabled(ctx, "alice", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if u, _ := s.GetUser(ctx, "alice"); !u.DisabledAt.IsZero() || !u.LockedUntil.IsZero() || u.FailedLogins != 0 {
		t.Errorf("enabled user: %+v", u)
	}
	if !revokedAt(t, s, "s1").Equal(at) {
		t.Error("enabling revived a session")
	}
}

// testUserLockout: maxFailures attempts lock the user until now+lockout;
// a locked user's attempts are refused and not counted; at the end of the
// lockout attempts are allowed again; LoginSucceeded resets the count.
func testUserLockout(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustCreateUser(t, s, alice)
	for i := 1; i <= 4; i++ {
		u, ok, err := s.AttemptLogin(ctx, "alice", t0, 5, 15*time.Minute)
		if err != nil || !ok || u.FailedLogins != i || !u.LockedUntil.IsZero() {
			t.Fatalf("attempt %d: %+v allowed %v, %v", i, u, ok, err)
		}
	}
	u, ok, err := s.AttemptLogin(ctx, "alice", t0, 5, 15*time.Minute)
	if err != nil || !ok || !u.LockedUntil.Equal(t0.Add(15*time.Minute)) || u.FailedLogins != 0 {
		t.Fatalf("fifth attempt: %+v allowed %v, %v; want allowed, locked until %v", u, ok, err, t0.Add(15*time.Minute))
	}
	u, ok, err = s.AttemptLogin(ctx, "alice", t0.Add(15*time.Minute-time.Nanosecond), 5, 15*time.Minute)
	if err != nil || ok || !u.LockedUntil.Equal(t0.Add(15*time.Minute)) || u.FailedLogins != 0 {
		t.Fatalf("attempt while locked: %+v allowed %v, %v; want refused, nothing counted", u, ok, err)
	}
	u, ok, err = s.AttemptLogin(ctx, "alice", t0.Add(15*time.Minute), 5, 15*time.Minute)
	if err != nil || !ok || u.FailedLogins != 1 {
		t.Fatalf("attempt after the lockout: %+v allowed %v, %v", u, ok, err)
	}
	if err := s.LoginSucceeded(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if u, _ := s.GetUser(ctx, "alice"); u.FailedLogins != 0 || !u.LockedUntil.IsZero() {
		t.Errorf("after LoginSucceeded: %+v", u)
	}
	if _, _, err := s.AttemptLogin(ctx, "alice", t0, 0, time.Minute); err == nil {
		t.Error("AttemptLogin with maxFailures 0 succeeded")
	}
}

// testUserLockoutRace: 50 concurrent attempts against a limit of 5 are
// allowed exactly 5 times, whatever the interleaving.
func testUserLockoutRace(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustCreateUser(t, s, alice)
	var mu sync.Mutex
	allowed := 0
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			_, ok, err := s.AttemptLogin(ctx, "alice", t0, 5, time.Hour)
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if allowed != 5 {
		t.Errorf("%d of 50 concurrent attempts allowed, want 5", allowed)
	}
	if u, _ := s.GetUser(ctx, "alice"); !u.LockedUntil.Equal(t0.Add(time.Hour)) {
		t.Errorf("LockedUntil %v, want %v", u.LockedUntil, t0.Add(time.Hour))
	}
}

// testSessions: every field round-trips; duplicate IDs conflict; touch
// only moves forward; revocation keeps its first time; prune deletes only
// what ended before its time.
func testSessions(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustCreateUser(t, s, alice)
	ss := mustSession(t, s, "s1", "alice")
	got, err := s.GetSession(ctx, "s1")
	if diff := cmp.Diff(ss, got, cmpopts.EquateEmpty()); err != nil || diff != "" {
		t.Errorf("GetSession (-want +got), %v:\n%s", err, diff)
	}
	dup := ss
	dup.Hash = []byte("attacker's")
	if err := s.CreateSession(ctx, dup); !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateSession with a taken ID: %v, want ErrConflict", err)
	}
	if got, _ := s.GetSession(ctx, "s1"); !cmp.Equal(got.Hash, ss.Hash) {
		t.Error("a refused duplicate replaced the session's hash")
	}
	if _, err := s.GetSession(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetSession unknown: %v", err)
	}
	if err := s.TouchSession(ctx, "s1", t0.Add(5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.TouchSession(ctx, "s1", t0.Add(time.Minute)); err != nil {
		t.Fatalf("an older touch: %v, want nil (ignored)", err)
	}
	if got, _ := s.GetSession(ctx, "s1"); !got.LastSeenAt.Equal(t0.Add(5 * time.Minute)) {
		t.Errorf("LastSeenAt %v, want %v", got.LastSeenAt, t0.Add(5*time.Minute))
	}
	for name, err := range map[string]error{
		"TouchSession":  s.TouchSession(ctx, "nope", t0),
		"RevokeSession": s.RevokeSession(ctx, "nope", t0),
	} {
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s unknown: %v, want ErrNotFound", name, err)
		}
	}
	if err := s.RevokeSession(ctx, "s1", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeSession(ctx, "s1", t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if !revokedAt(t, s, "s1").Equal(t0.Add(time.Hour)) {
		t.Errorf("RevokedAt %v, want the first %v", revokedAt(t, s, "s1"), t0.Add(time.Hour))
	}
	mustSession(t, s, "s2", "alice") // expires t0+12h, live
	n, err := s.PruneSessions(ctx, t0.Add(time.Hour))
	if err != nil || n != 0 {
		t.Errorf("PruneSessions at the revocation time = %d, %v; want 0", n, err)
	}
	n, err = s.PruneSessions(ctx, t0.Add(2*time.Hour))
	if err != nil || n != 1 {
		t.Errorf("PruneSessions = %d, %v; want 1 (the revoked one)", n, err)
	}
	if _, err := s.GetSession(ctx, "s2"); err != nil {
		t.Errorf("live session pruned: %v", err)
	}
	if n, _ := s.PruneSessions(ctx, t0.Add(13*time.Hour)); n != 1 {
		t.Errorf("PruneSessions after expiry = %d, want 1", n)
	}
}
