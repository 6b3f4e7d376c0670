package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wardproject/ward/internal/api"
	"github.com/wardproject/ward/internal/client"
	"github.com/wardproject/ward/internal/config"
	"github.com/wardproject/ward/internal/pki"
	"github.com/wardproject/ward/internal/store"
)

// freshCLIConfig gives the test its own empty user configuration
// directory and no WARD_* connection variables, and returns the path of
// the CLI configuration file.
func freshCLIConfig(t *testing.T) string {
	t.Helper()
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	for _, k := range []string{"WARD_SERVER", "WARD_TOKEN", "WARD_CA"} {
		t.Setenv(k, "")
	}
	path, err := config.ContextsPath()
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// runWard runs the ward command in-process with stdin and returns stdout
// (with stderr on error).
func runWard(stdin string, args ...string) (string, error) {
	cmd := newRootCmd()
	var out, errb bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	if err != nil {
		return out.String() + errb.String(), err
	}
	return out.String(), nil
}

// rootFingerprint is the SHA-256 of the root in a server's ca.pem, as
// ward ca show prints it.
func rootFingerprint(t *testing.T, caFile string) string {
	t.Helper()
	b, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := pki.ParseCertificatesPEM(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range certs {
		if c.IsCA && c.Subject.String() == c.Issuer.String() {
			return pki.Fingerprint(c)
		}
	}
	t.Fatal("no root in " + caFile)
	return ""
}

// TestLoginToken: ward login with the admin token on stdin saves a 0600
// context, later commands need no flags, no token is ever printed, and
// ward logout removes the secret so the next command is refused.
func TestLoginToken(t *testing.T) {
	w := startForCLI(t)
	path := freshCLIConfig(t)
	server, token, ca := w.env[1], w.env[3], w.env[5]

	out, err := runWard(token+"\n", "login", "--server", server, "--ca", ca, "--token-stdin", "--name", "lab")
	if err != nil {
		t.Fatalf("login: %v\n%s", err, out)
	}
	if strings.Contains(out, token) {
		t.Errorf("login printed the token: %s", out)
	}
	for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700} {
		st, err := os.Stat(p)
		if err != nil || st.Mode().Perm() != want {
			t.Errorf("%s: %v, %v; want mode %04o", p, st.Mode(), err, want)
		}
	}
	w.must("device", "add", "--id", "cam-1", "--model", "acme-cam2")
	out, err = runWard("", "device", "list")
	if err != nil || !strings.Contains(out, "cam-1") {
		t.Fatalf("device list with the saved context and no flags: %v\n%s", err, out)
	}
	var who map[string]any
	out, err = runWard("", "whoami", "-o", "json")
	if err != nil || json.Unmarshal([]byte(out), &who) != nil || who["role"] != "admin" {
		t.Fatalf("whoami -o json: %v\n%s", err, out)
	}
	if out, err = runWard("", "whoami"); err != nil || !strings.Contains(out, "admin") {
		t.Errorf("whoami: %v\n%s", err, out)
	}
	out, err = runWard("", "context", "list")
	if err != nil || !strings.Contains(out, "\n*  ") || !strings.Contains(out, "lab") {
		t.Errorf("context list: %v\n%s", err, out)
	}
	if strings.Contains(out, token) {
		t.Errorf("context list printed the token: %s", out)
	}

	// Logged out: the secret is gone from the file and the API refuses.
	if out, err := runWard("", "logout"); err != nil {
		t.Fatalf("logout: %v\n%s", err, out)
	}
	b, _ := os.ReadFile(path)
	if bytes.Contains(b, []byte(token)) {
		t.Error("the token is still in the configuration after logout")
	}
	if out, err := runWard("", "device", "list"); err == nil || !strings.Contains(err.Error(), "logged out") {
		t.Errorf("device list after logout: %v\n%s", err, out)
	}
	// Flags still win over the (logged-out) context.
	if _, err := runWard("", append([]string{"device", "list"}, w.env...)...); err != nil {
		t.Errorf("device list with flags after logout: %v", err)
	}
}

// TestLoginRefusesBadToken: a token the server does not know is refused
// by GET /api/v1/whoami and nothing is stored.
func TestLoginRefusesBadToken(t *testing.T) {
	w := startForCLI(t)
	path := freshCLIConfig(t)
	out, err := runWard("not-a-token\n", "login", "--server", w.env[1], "--ca", w.env[5], "--token-stdin")
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("login with a bad token: %v\n%s", err, out)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("a refused login wrote %s (%v)", path, err)
	}
	if _, err := runWard("", "login", "--server", w.env[1], "--ca", w.env[5]); err == nil || !strings.Contains(err.Error(), "not a terminal") {
		t.Errorf("login without a terminal or --token-stdin: %v", err)
	}
}

// TestLoginFingerprint: --ca-fingerprint pins the server's root (found
// without trusting the server) and stores it; a server of another CA is
// refused with the same fingerprint and nothing is stored.
func TestLoginFingerprint(t *testing.T) {
	w := startForCLI(t)
	other := startForCLI(t)
	path := freshCLIConfig(t)
	fp := rootFingerprint(t, w.env[5])

	// Attack: another server (another CA) presented with our fingerprint.
	out, err := runWard(other.env[3]+"\n", "login", "--server", other.env[1], "--ca-fingerprint", fp, "--token-stdin")
	if err == nil || !strings.Contains(err.Error(), "refusing to trust") {
		t.Fatalf("login to a server of another CA: %v\n%s", err, out)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("a refused login wrote %s (%v)", path, err)
	}
	if _, err := runWard(w.env[3]+"\n", "login", "--server", w.env[1], "--ca-fingerprint", "12:34", "--token-stdin"); err == nil || !strings.Contains(err.Error(), "not a SHA-256 fingerprint") {
		t.Errorf("malformed fingerprint: %v", err)
	}

	// The right server, fingerprint without colons and in lower case.
	plain := strings.ToLower(strings.ReplaceAll(fp, ":", ""))
	if out, err := runWard(w.env[3]+"\n", "login", "--server", w.env[1], "--ca-fingerprint", plain, "--token-stdin"); err != nil {
		t.Fatalf("login with the fingerprint: %v\n%s", err, out)
	}
	all, err := config.ReadContexts(path)
	if err != nil {
		t.Fatal(err)
	}
	x, ok := all.Get(all.Current)
	if !ok || x.CAPEM == "" {
		t.Fatalf("no pinned CA in the saved context: %+v", all)
	}
	certs, err := pki.ParseCertificatesPEM([]byte(x.CAPEM))
	if err != nil || len(certs) != 1 || pki.Fingerprint(certs[0]) != fp {
		t.Fatalf("pinned %d certificates (%v), want the root %s", len(certs), err, fp)
	}
	if out, err := runWard("", "device", "list"); err != nil {
		t.Errorf("device list through the pinned CA: %v\n%s", err, out)
	}
	// The pinned CA does not trust the other server, even with its own token.
	if out, err := runWard("", "device", "list", "--server", other.env[1], "--token", other.env[3]); err == nil {
		t.Errorf("the context's pinned CA trusted another server: %s", out)
	}
}

// TestContextCommands: use switches the current context, --context picks
// one for a single command, delete removes it, and a configuration file
// others can read is refused with the fix.
func TestContextCommands(t *testing.T) {
	a, b := startForCLI(t), startForCLI(t)
	path := freshCLIConfig(t)
	for _, s := range []struct {
		name string
		w    wardCLI
	}{{"a", a}, {"b", b}} {
		if out, err := runWard(s.w.env[3]+"\n", "login", "--server", s.w.env[1], "--ca", s.w.env[5], "--token-stdin", "--name", s.name); err != nil {
			t.Fatalf("login %s: %v\n%s", s.name, err, out)
		}
	}
	a.must("device", "add", "--id", "only-on-a", "--model", "m")
	list := func(args ...string) string {
		t.Helper()
		out, err := runWard("", append([]string{"device", "list"}, args...)...)
		if err != nil {
			t.Fatalf("device list %v: %v\n%s", args, err, out)
		}
		return out
	}
	if strings.Contains(list(), "only-on-a") {
		t.Error("the last login (b) is not current")
	}
	if !strings.Contains(list("--context", "a"), "only-on-a") {
		t.Error("--context a did not reach server a")
	}
	if out, err := runWard("", "context", "use", "a"); err != nil {
		t.Fatalf("context use a: %v\n%s", err, out)
	}
	if !strings.Contains(list(), "only-on-a") {
		t.Error("context use a did not make a current")
	}
	var rows []contextRow
	out, _ := runWard("", "context", "list", "-o", "json")
	if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 2 || !rows[0].Current || rows[1].Current {
		t.Errorf("context list -o json: %v\n%s", err, out)
	}
	if _, err := runWard("", "context", "use", "nope"); err == nil {
		t.Error("context use of an unknown context succeeded")
	}
	if out, err := runWard("", "context", "delete", "a"); err != nil {
		t.Fatalf("context delete a: %v\n%s", err, out)
	}
	if _, err := runWard("", "device", "list"); err == nil || !strings.Contains(err.Error(), "no server given") {
		t.Errorf("device list after deleting the current context: %v", err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := runWard("", "context", "list"); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("a world-readable configuration was read: %v", err)
	}
}

// TestStatus: ward status reports health, version and counts, as text and
// JSON.
func TestStatus(t *testing.T) {
	w := startForCLI(t)
	w.must("device", "add", "--id", "s-1", "--model", "m")
	w.must("device", "add", "--id", "s-2", "--model", "m")
	var st Status
	out := w.must("status", "-o", "json")
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	if st.Health != "ok" || st.Version == "" || st.Devices != 2 || st.DevicesByStatus["pending"] != 2 || st.Server != w.env[1] {
		t.Errorf("status: %+v", st)
	}
	out = w.must("status")
	for _, want := range []string{"Health:       ok", "Devices:      2 (pending 2), 0 connected", "Open alerts:  none"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
}

// TestLoginUserSession: ward login --user exchanges a password for a
// session token that is stored with its expiry; a wrong password stores
// nothing; ward logout deletes the session on the server, so the old
// token is refused afterwards even when presented directly.
func TestLoginUserSession(t *testing.T) {
	w := startForCLI(t)
	path := freshCLIConfig(t)
	admin, err := client.New(client.Options{Server: w.env[1], Token: w.env[3], CAFile: w.env[5]})
	if err != nil {
		t.Fatal(err)
	}
	const password = "correct horse battery staple 42"
	if err := admin.Post(context.Background(), "/api/v1/users", api.CreateUserRequest{Name: "alice", Role: store.RoleOperator, Password: password}, nil); err != nil {
		t.Fatal(err)
	}

	out, err := runWard("wrong password\n", "login", "--server", w.env[1], "--ca", w.env[5], "--user", "alice", "--password-stdin")
	if err == nil || !strings.Contains(err.Error(), "log in as alice") {
		t.Fatalf("login with a wrong password: %v\n%s", err, out)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("a refused login wrote %s (%v)", path, err)
	}

	out, err = runWard(password+"\n", "login", "--server", w.env[1], "--ca", w.env[5], "--user", "alice", "--password-stdin", "--name", "alice@lab")
	if err != nil {
		t.Fatalf("login --user: %v\n%s", err, out)
	}
	if strings.Contains(out, password) {
		t.Errorf("login printed the password: %s", out)
	}
	all, err := config.ReadContexts(path)
	if err != nil {
		t.Fatal(err)
	}
	x, ok := all.Get("alice@lab")
	if !ok || x.Kind != config.KindSession || x.User != "alice" || x.Token == "" || x.ExpiresAt.IsZero() || all.Current != "alice@lab" {
		t.Fatalf("saved context: %+v (current %q)", x, all.Current)
	}
	if strings.Contains(out, string(x.Token)) {
		t.Errorf("login printed the session token: %s", out)
	}
	var who api.Whoami
	out, err = runWard("", "whoami", "-o", "json")
	if err != nil || json.Unmarshal([]byte(out), &who) != nil || who.Kind != api.PrincipalUser || who.Name != "alice" || who.Role != store.RoleOperator {
		t.Fatalf("whoami as alice: %v\n%s", err, out)
	}
	w.must("device", "add", "--id", "by-admin", "--model", "m")
	if out, err := runWard("", "device", "list"); err != nil || !strings.Contains(out, "by-admin") {
		t.Errorf("device list as alice: %v\n%s", err, out)
	}

	if out, err := runWard("", "logout"); err != nil {
		t.Fatalf("logout: %v\n%s", err, out)
	}
	// Attack: the session token after logout, presented directly.
	if out, err := runWard("", "whoami", "--server", w.env[1], "--ca", w.env[5], "--token", string(x.Token)); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("the session token after logout: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(path); bytes.Contains(b, []byte(x.Token)) {
		t.Error("the session token is still in the configuration after logout")
	}
}

// TestRefusedTokenHint: a 401 tells the reader to log in again; other
// errors are left as they are.
func TestRefusedTokenHint(t *testing.T) {
	refused := fmt.Errorf("list devices: %w", &client.Error{Status: 401, Message: "invalid or expired token"})
	if got := withHint(refused).Error(); !strings.Contains(got, "run ward login again") || !strings.Contains(got, "invalid or expired token") {
		t.Errorf("401: %s", got)
	}
	other := &client.Error{Status: 404, Message: "no such device"}
	if got := withHint(other); got != error(other) {
		t.Errorf("404 changed: %v", got)
	}
}
