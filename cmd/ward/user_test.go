package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wardproject/ward/internal/client"
	"github.com/wardproject/ward/internal/wardtest"
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
	if out, err := run("a long enough password\n", "user", "add", "bob", "--role", "superuser", "--password-stdin"); !refused(out, err, `--role: unknown value "superuser"`) {
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

	// A password is kept as typed: set from the CLI with spaces around it,
	// it signs in as the browser sends it (every character), and the
	// trimmed form is wrong.
	const spaced = "  carol's spaced password  "
	if out, err := run(spaced+"\r\n", "user", "add", "carol", "--role", "viewer", "--password-stdin"); err != nil {
		t.Fatalf("add carol: %v\n%s", err, out)
	}
	anon, err := client.New(client.Options{Server: server, CAFile: ca})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := anon.CreateSession(t.Context(), "carol", spaced); err != nil {
		t.Errorf("sign in with the password as typed: %v", err)
	}
	if _, err := anon.CreateSession(t.Context(), "carol", strings.TrimSpace(spaced)); err == nil {
		t.Error("the trimmed password signs in: the CLI stored another password than the one typed")
	}
}

// TestUserAddPromptsWithoutEcho runs the ward binary in a real terminal
// (tmux): ward user add asks for the password twice without echoing it,
// refuses two different entries, and never shows the password.
func TestUserAddPromptsWithoutEcho(t *testing.T) {
	wardtest.RequireTool(t, "tmux")
	w := startForCLI(t)
	bin := wardBinary(t)
	sock := filepath.Join(t.TempDir(), "tmux.sock")
	tmux := func(args ...string) string {
		out, err := exec.Command("tmux", append([]string{"-S", sock}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	t.Cleanup(func() { exec.Command("tmux", "-S", sock, "kill-server").Run() })
	// screen waits until the pane shows want (the prompt is an event on
	// the terminal, with nothing else to wait on) and returns the pane.
	screen := func(want string) string {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			pane := tmux("capture-pane", "-p", "-t", "ward")
			if strings.Contains(pane, want) {
				return pane
			}
			if time.Now().After(deadline) {
				t.Fatalf("the terminal never showed %q:\n%s", want, pane)
			}
			time.Sleep(50 * time.Millisecond) // polling a terminal: no event to wait on
		}
	}
	run := func(name, first, second string) string {
		argv := append([]string{bin, "user", "add", name, "--role", "viewer"}, w.env...)
		start := []string{"-S", sock, "new-session", "-d", "-s", "ward", "-x", "200", "-y", "50", strings.Join(append(argv, ";", "echo", "EXIT=$?", ";", "sleep", "60"), " ")}
		if out, err := exec.Command("tmux", start...).CombinedOutput(); err != nil {
			// Seen once on a loaded machine: the tmux server died while
			// starting ("server exited unexpectedly"); start it again.
			t.Logf("tmux new-session: %v %s; once more", err, out)
			tmux(start[2:]...)
		}
		defer tmux("kill-session", "-t", "ward")
		screen("New password")
		tmux("send-keys", "-t", "ward", "-l", first)
		tmux("send-keys", "-t", "ward", "Enter")
		screen("Again:")
		tmux("send-keys", "-t", "ward", "-l", second)
		tmux("send-keys", "-t", "ward", "Enter")
		return screen("EXIT=")
	}
	pane := run("carol", "carol's typed password", "carol's other password")
	if !strings.Contains(pane, "two passwords differ") || !strings.Contains(pane, "EXIT=1") {
		t.Errorf("different entries:\n%s", pane)
	}
	pane = run("carol", "carol's typed password", "carol's typed password")
	if !strings.Contains(pane, "user carol created") || !strings.Contains(pane, "EXIT=0") {
		t.Errorf("matching entries:\n%s", pane)
	}
	if strings.Contains(pane, "typed password") {
		t.Errorf("the password was echoed:\n%s", pane)
	}
	if _, err := runWard("carol's typed password\n", "login", "--server", w.env[1], "--ca", w.env[5], "--user", "carol", "--password-stdin"); err != nil {
		t.Errorf("sign in with the typed password: %v", err)
	}
}
