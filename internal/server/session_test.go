package server

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/wardproject/ward/internal/client"
)

// signIn creates a user through node w's admin token and signs it in on
// node on, returning a client that carries the session's token, and the
// token.
func signIn(t *testing.T, w, on *ward, name, role string) (*client.Client, string) {
	t.Helper()
	ctx := context.Background()
	if _, err := w.api.CreateUser(ctx, name, role, name+"'s long password"); err != nil {
		t.Fatal(err)
	}
	url := "https://localhost:" + port(on.srv.HTTPSAddr())
	anon, err := client.New(client.Options{Server: url, CAFile: filepath.Join(w.dir, CAFile)})
	if err != nil {
		t.Fatal(err)
	}
	s, err := anon.CreateSession(ctx, name, name+"'s long password")
	if err != nil {
		t.Fatal(err)
	}
	return sessionClient(t, on, w.dir, s.Token), s.Token
}

// sessionClient is a client of node on that sends token; caDir holds ca.pem.
func sessionClient(t *testing.T, on *ward, caDir, token string) *client.Client {
	t.Helper()
	c, err := client.New(client.Options{Server: "https://localhost:" + port(on.srv.HTTPSAddr()), Token: token, CAFile: filepath.Join(caDir, CAFile)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// whoamiKind is the kind and name GET /api/v1/whoami answers, or the
// error's status.
func whoamiKind(c *client.Client) (string, int) {
	var who struct{ Kind, Name string }
	err := c.Get(context.Background(), "/api/v1/whoami", &who)
	var ce *client.Error
	if errors.As(err, &ce) {
		return "", ce.Status
	}
	if err != nil {
		return err.Error(), 0
	}
	return who.Kind + ":" + who.Name, http.StatusOK
}

// TestSessionThroughServe: on the real server, a user signed in with
// client.CreateSession acts as a user (the audit trail names user:NAME),
// and signing out ends the session.
func TestSessionThroughServe(t *testing.T) {
	w := start(t, t.TempDir())
	c, _ := signIn(t, w, w, "alice", "operator")
	if who, code := whoamiKind(c); who != "user:alice" {
		t.Fatalf("whoami with the session: %q %d", who, code)
	}
	ctx := context.Background()
	if err := c.Post(ctx, "/api/v1/devices", map[string]string{"id": "cam-9", "model": "m", "firmware": "1"}, nil); err != nil {
		t.Fatal(err)
	}
	var log []struct{ Actor, Action, Target string }
	if err := w.api.Get(ctx, "/api/v1/audit-log", &log); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range log {
		found = found || (e.Action == "session.create" && e.Actor == "user:alice")
	}
	if !found {
		t.Errorf("no session.create by user:alice in the audit trail: %+v", log)
	}
	if err := c.DeleteSession(ctx); err != nil {
		t.Fatal(err)
	}
	if who, code := whoamiKind(c); code != http.StatusUnauthorized {
		t.Errorf("after sign-out: %q %d, want 401", who, code)
	}
}

// TestSessionSharedByClusterNodes: sessions live in the shared PostgreSQL
// store, so a session made on node A is accepted by node B, and one
// signed out on node B (or whose user is disabled through node A) is
// refused by both at once.
func TestSessionSharedByClusterNodes(t *testing.T) {
	a, b, _ := startCluster(t)
	onB, _ := signIn(t, a, b, "alice", "viewer")
	if who, code := whoamiKind(onB); who != "user:alice" {
		t.Fatalf("node B with a session made on node B for a user made on node A: %q %d", who, code)
	}
	// The same token on node A.
	bob, token := signIn(t, a, a, "bob", "viewer")
	bobOnB := sessionClient(t, b, a.dir, token)
	if who, code := whoamiKind(bobOnB); who != "user:bob" {
		t.Fatalf("node B with node A's session: %q %d", who, code)
	}
	if err := bobOnB.DeleteSession(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, code := whoamiKind(bob); code != http.StatusUnauthorized {
		t.Errorf("node A after sign-out on node B: %d, want 401", code)
	}
	if _, err := a.api.SetUserDisabled(context.Background(), "alice", true); err != nil {
		t.Fatal(err)
	}
	if _, code := whoamiKind(onB); code != http.StatusUnauthorized {
		t.Errorf("node B after alice was disabled on node A: %d, want 401", code)
	}
}
