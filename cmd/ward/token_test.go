package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wardproject/ward/internal/server"
)

// TestRotateAdminCLI: ward token rotate-admin --write replaces admin.token
// atomically with mode 0600 by a new admin token that works, and the old
// token stops working.
func TestRotateAdminCLI(t *testing.T) {
	c := startForCLI(t)
	old := c.env[3]
	dir := filepath.Dir(c.env[5])
	path := filepath.Join(dir, server.AdminTokenFile)
	out := c.must("token", "rotate-admin", "--write", path)
	if !strings.Contains(out, "written to "+path) {
		t.Errorf("output %q", out)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("admin.token after rotation: %v, %v (want mode 0600)", st, err)
	}
	b, _ := os.ReadFile(path)
	nu := strings.TrimSpace(string(b))
	if nu == old || !strings.HasPrefix(nu, "ward_") {
		t.Fatalf("admin.token holds %q after rotation", nu)
	}
	if out, err := c.run("token", "list"); err == nil {
		t.Errorf("the old admin token still works after rotation:\n%s", out)
	}
	c.env[3] = nu
	out = c.must("token", "list")
	if !strings.Contains(out, "revoked") || strings.Count(out, "admin (first start)") != 2 {
		t.Errorf("token list after rotation:\n%s", out)
	}
	// Without --write the new token is printed once.
	out = c.must("token", "rotate-admin")
	if !strings.Contains(out, "This is the only time the token is shown") {
		t.Errorf("rotate-admin without --write:\n%s", out)
	}
}

// TestTokenTTLBounds: a token that would live 1 ns or 290 years is refused
// with the allowed range in the error; one inside it is created.
func TestTokenTTLBounds(t *testing.T) {
	c := startForCLI(t)
	for _, ttl := range []string{"1ns", "59s", "8761h", "2540400h", "0", "-1h"} {
		out, err := c.run("token", "create", "--role", "viewer", "--ttl", ttl)
		if err == nil || !strings.Contains(out+err.Error(), "between 1m and 8760h") {
			t.Errorf("--ttl %s: %v\n%s, want a refusal naming the range", ttl, err, out)
		}
	}
	for _, ttl := range []string{"1m", "720h", "8760h", ""} {
		args := []string{"token", "create", "--role", "viewer", "-o", "json"}
		if ttl != "" {
			args = append(args, "--ttl", ttl)
		}
		if out := c.must(args...); !strings.Contains(out, `"expires_at"`) {
			t.Errorf("--ttl %q: %s", ttl, out)
		}
	}
}

// TestTwoServeProcessesOneDataDir runs the real binary twice on one data
// directory: the second exits at once with an error naming the first's
// PID and the lock file.
func TestTwoServeProcessesOneDataDir(t *testing.T) {
	bin := wardBinary(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := []string{"serve", "--data-dir", dir, "--https-addr", "127.0.0.1:0", "--mqtt-addr", "127.0.0.1:0", "--log-level", "error"}
	first := exec.CommandContext(ctx, bin, args...)
	first.Env = append(os.Environ(), "WARD_SERVER=", "WARD_TOKEN=", "WARD_CA=")
	stdout, err := first.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		first.Process.Signal(os.Interrupt)
		first.Wait()
	})
	// The first start prints where admin.token is once it holds the lock
	// and has written it.
	buf := make([]byte, 4096)
	var got string
	for !strings.Contains(got, "admin API token") {
		n, err := stdout.Read(buf)
		if err != nil {
			t.Fatalf("first ward serve: %v (output %q)", err, got)
		}
		got += string(buf[:n])
	}
	second := exec.CommandContext(ctx, bin, args...)
	second.Env = first.Env
	began := time.Now()
	out, err := second.CombinedOutput()
	if err == nil {
		t.Fatalf("a second ward serve on the same data directory started:\n%s", out)
	}
	if d := time.Since(began); d > 30*time.Second {
		t.Errorf("the second ward serve took %v to fail: it must fail at once", d)
	}
	want := fmt.Sprintf("pid %s", strconv.Itoa(first.Process.Pid))
	if !strings.Contains(string(out), want) || !strings.Contains(string(out), "ward.lock") {
		t.Errorf("second ward serve's error does not name the holder (%s) and the lock file:\n%s", want, out)
	}
}
