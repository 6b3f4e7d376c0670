package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestUserCLI drives ward user the way an admin and a user do: add with
// the password on standard input (the policy's refusal is clear and
// exits non-zero), list (never a hash), sign in as the user, change one's
// own password with the current one, disable (the user's saved session is
// refused at once) and enable; and a provisioning API token that may
// register a device but not list them.
func TestUserCLI(t *testing.T) {
	w := startForCLI(t)
	freshCLIConfig(t)
	admin := w.env
	run := func(stdin string, args ...string) (string, error) { return runWard(stdin, append(args, admin...)...) }
	// refused reports whether a command failed with want in its output or error.
	refused := func(out string, err error, want string) bool {
		return err != nil && strings.Contains(out+err.Error(), want)
	}

	if out, err := run("short\n", "user", "add", "bob", "--role", "viewer", "--password-stdin"); !refused(out, err, "at least 12 characters") {
		t.Errorf("add with a short password: %v\n%s", err, out)
	}
	if out, err := run("a long enough password\n", "user", "add", "bob", "--role", "superuser", "--password-stdin"); !refused(out, err, "role must be") {
		t.Errorf("add with an unknown role: %v\n%s", err, out)
	}
	if out, err := run("", "user", "add", "bob", "--role", "viewer", "--password-stdin"); !refused(out, err, "standard input is empty") {
		t.Errorf("add with no password: %v\n%s", err, out)
	}
	if out, err := run("alice's first password\n", "user", "add", "Alice", "--role", "operator", "--password-stdin"); err != nil || !strings.Contains(out, "user alice created (role operator)") {
		t.Fatalf("add: %v\n%s", err, out)
	}
	out, err := run("", "user", "list", "-o", "json")
	var us []map[string]any
	if err != nil || json.Unmarshal([]byte(out), &us) != nil || len(us) != 1 || us[0]["name"] != "alice" || strings.Contains(out, "argon2") {
		t.Fatalf("list -o json: %v\n%s", err, out)
	}
	if out, err := run("", "user", "list"); err != nil || !strings.Contains(out, "alice") || !strings.Contains(out, "enabled") {
		t.Errorf("list: %v\n%s", err, out)
	}

	// alice signs in and changes her own password.
	server, ca := admin[1], admin[5]
	if out, err := runWard("alice's first password\n", "login", "--server", server, "--ca", ca, "--user", "alice", "--password-stdin"); err != nil {
		t.Fatalf("login as alice: %v\n%s", err, out)
	}
	if out, err := runWard("", "whoami"); err != nil || !strings.Contains(out, "alice") {
		t.Fatalf("whoami as alice: %v\n%s", err, out)
	}
	if out, err := runWard("wrong current password\nalice's second password\n", "user", "passwd", "alice", "--password-stdin"); !refused(out, err, "current_password is wrong") {
		t.Errorf("passwd with a wrong current password: %v\n%s", err, out)
	}
	if out, err := runWard("alice's first password\nalice's second password\n", "user", "passwd", "alice", "--password-stdin"); err != nil {
		t.Fatalf("passwd: %v\n%s", err, out)
	}
	if out, err := runWard("", "whoami"); err != nil {
		t.Errorf("the session that changed the password is signed out: %v\n%s", err, out)
	}
	if out, err := runWard("alice's first password\nx\n", "user", "passwd", "bob", "--password-stdin"); err == nil {
		t.Errorf("an operator set another user's password: %s", out)
	}

	// Disabled: the saved session is refused at once; enabled: sign in again.
	if out, err := run("", "user", "disable", "alice"); err != nil || !strings.Contains(out, "disabled") {
		t.Fatalf("disable: %v\n%s", err, out)
	}
	if out, err := runWard("", "whoami"); err == nil {
		t.Errorf("whoami after disable: %s", out)
	}
	if out, err := run("", "user", "enable", "alice"); err != nil {
		t.Fatalf("enable: %v\n%s", err, out)
	}
	if out, err := runWard("alice's second password\n", "login", "--server", server, "--ca", ca, "--user", "alice", "--password-stdin"); err != nil {
		t.Errorf("login after enable: %v\n%s", err, out)
	}

	// A factory line's provisioning token.
	out, err = run("", "token", "create", "--role", "provisioning", "--name", "line-3", "-o", "json")
	var tok struct{ Token string }
	if err != nil || json.Unmarshal([]byte(out), &tok) != nil || tok.Token == "" {
		t.Fatalf("token create --role provisioning: %v\n%s", err, out)
	}
	prov := []string{"--server", server, "--token", tok.Token, "--ca", ca}
	if out, err := runWard("", append([]string{"device", "add", "--id", "line3-0001", "--model", "acme-cam2"}, prov...)...); err != nil {
		t.Errorf("provisioning token adds a device: %v\n%s", err, out)
	}
	if out, err := runWard("", append([]string{"device", "list"}, prov...)...); !refused(out, err, "403") {
		t.Errorf("provisioning token lists devices: %v\n%s", err, out)
	}
}
