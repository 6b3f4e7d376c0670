package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeJSONLog runs the real binary with --log-format json through a
// first start and a shutdown: every line on stderr is a JSON record, the
// first-start summary is among them with the admin token's file (the
// token itself appears nowhere), and stdout stays empty. A configuration
// error is reported as JSON too. It also runs the opt-in pprof listener
// (--pprof-addr): the heap profile is served on loopback while the server
// runs, and a non-loopback address stops the start with the setting named.
func TestServeJSONLog(t *testing.T) {
	bin := wardBinary(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve", "--log-format", "json", "--data-dir", dir, "--https-addr", "127.0.0.1:0", "--mqtt-addr", "127.0.0.1:0", "--pprof-addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "WARD_SERVER=", "WARD_TOKEN=", "WARD_CA=")
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var all []string
	var tokenPath, pprofAddr string
	ready := false
	for tokenPath == "" || !ready { // signal only once started: an interrupted start exits 1

		l, ok := <-lines
		if !ok {
			t.Fatalf("ward serve ended before its first-start and ready records:\n%s", strings.Join(all, "\n"))
		}
		all = append(all, l)
		var rec map[string]any
		if json.Unmarshal([]byte(l), &rec) == nil && rec["msg"] == "first start: admin API token written" {
			tokenPath, _ = rec["path"].(string)
		}
		ready = ready || rec["msg"] == "ward ready"
		if rec["msg"] == "pprof listener on loopback (no authentication)" {
			pprofAddr, _ = rec["addr"].(string)
		}
	}
	if pprofAddr == "" {
		t.Errorf("no pprof listener record:\n%s", strings.Join(all, "\n"))
	} else if resp, err := http.Get("http://" + pprofAddr + "/debug/pprof/heap?debug=1"); err != nil {
		t.Errorf("pprof heap: %v", err)
	} else {
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("heap profile:")) {
			t.Errorf("pprof heap: %d %.200s", resp.StatusCode, body)
		}
	}
	if want, _ := filepath.Abs(filepath.Join(dir, "admin.token")); tokenPath != want {
		t.Errorf("first-start record names %q, want %q", tokenPath, want)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	for l := range lines {
		all = append(all, l)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("ward serve after SIGINT: %v\n%s", err, strings.Join(all, "\n"))
	}
	tok, err := os.ReadFile(tokenPath)
	if err != nil {
		t.Fatal(err)
	}
	checkJSONLines(t, all, strings.TrimSpace(string(tok)))
	if stdout.Len() != 0 {
		t.Errorf("stdout with --log-format json: %q", stdout.String())
	}
	var sawCA bool
	for _, l := range all {
		sawCA = sawCA || strings.Contains(l, `"fingerprint_sha256"`)
	}
	if !sawCA {
		t.Error("no record with the CA fingerprint")
	}

	// A configuration that does not load: the error is a JSON record.
	bad := exec.CommandContext(ctx, bin, "serve", "--log-format", "json", "--data-dir", t.TempDir(), "--shutdown-grace", "soon")
	bad.Env = cmd.Env
	var errb bytes.Buffer
	bad.Stderr = &errb
	if err := bad.Run(); err == nil {
		t.Fatal("ward serve --shutdown-grace soon started")
	}
	badLines := strings.Split(strings.TrimSpace(errb.String()), "\n")
	checkJSONLines(t, badLines, "")
	if !strings.Contains(errb.String(), "shutdown") {
		t.Errorf("the error record does not name the setting: %s", errb.String())
	}

	// The pprof listener never binds a public address.
	for _, addr := range []string{"0.0.0.0:0", ":0"} {
		pub := exec.CommandContext(ctx, bin, "serve", "--data-dir", t.TempDir(), "--pprof-addr", addr)
		pub.Env = cmd.Env
		out, err := pub.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "pprof_addr") || !strings.Contains(string(out), "loopback") {
			t.Errorf("ward serve --pprof-addr %s: %v\n%s", addr, err, out)
		}
	}
}

// checkJSONLines fails for each line that is not one JSON object, or that
// holds secret.
func checkJSONLines(t *testing.T, lines []string, secret string) {
	t.Helper()
	if len(lines) == 0 {
		t.Error("no lines on stderr")
	}
	for i, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Errorf("stderr line %d is not JSON (%v): %s", i+1, err, l)
		}
		if secret != "" && strings.Contains(l, secret) {
			t.Errorf("stderr line %d holds the admin token", i+1)
		}
	}
}
