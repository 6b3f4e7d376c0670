package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wardproject/ward/internal/api"
	"github.com/wardproject/ward/internal/config"
	"github.com/wardproject/ward/internal/pki"
	"github.com/wardproject/ward/internal/store"
)

// newOn builds (without running) a server on dir; the caller closes it.
func newOn(t *testing.T, dir string) (*Server, error) {
	t.Helper()
	env := append(os.Environ(), "WARD_DATA_DIR="+dir, "WARD_HTTPS_ADDR=127.0.0.1:0", "WARD_MQTT_ADDR=127.0.0.1:0")
	cfg, err := config.Load(nil, env)
	if err != nil {
		t.Fatal(err)
	}
	return New(context.Background(), Options{Config: cfg})
}

// TestTwoServersOneDataDir is the attack of issue 9: a second server on
// the data directory of a running one (it would admit a device the first
// revoked and serve a stale CRL) fails at once, naming the holder's PID;
// once the first stops, a server starts there again.
func TestTwoServersOneDataDir(t *testing.T) {
	dir := t.TempDir()
	w := start(t, dir)
	done := make(chan error, 1)
	go func() {
		_, err := newOn(t, dir)
		done <- err
	}()
	var err error
	select {
	case err = <-done:
	case <-time.After(wait):
		t.Fatal("the second server waited for the lock instead of failing at once")
	}
	if !errors.Is(err, ErrDataDirLocked) {
		t.Fatalf("second server on one data directory: %v, want ErrDataDirLocked", err)
	}
	if want := "pid " + strconv.Itoa(os.Getpid()); !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), LockFile) {
		t.Errorf("error %q does not name the holder (%s) and the lock file", err, want)
	}
	w.stop()
	s2, err := newOn(t, dir)
	if err != nil {
		t.Fatalf("start after the first server stopped: %v", err)
	}
	s2.close()
}

// TestAdminTokenReadableRefused: an admin.token that group or others can
// read stops the server at start, with the chmod that fixes it.
func TestAdminTokenReadableRefused(t *testing.T) {
	dir := t.TempDir()
	s, err := newOn(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	s.close()
	path := filepath.Join(dir, AdminTokenFile)
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := newOn(t, dir)
		if err == nil || !strings.Contains(err.Error(), "chmod 600 "+path) {
			t.Errorf("admin.token mode %#o: %v, want a refusal with the chmod fix", mode, err)
		}
	}
	os.Chmod(path, 0o600)
	s, err = newOn(t, dir)
	if err != nil {
		t.Fatalf("admin.token 0600: %v", err)
	}
	s.close()
}

// TestFirstAdminTokenExpires: the admin token of first start expires after
// api.admin_token_ttl (90 days by default).
func TestFirstAdminTokenExpires(t *testing.T) {
	w := start(t, t.TempDir())
	var tok store.APIToken
	if err := w.api.Get(context.Background(), "/api/v1/whoami", &tok); err != nil {
		t.Fatal(err)
	}
	if tok.Role != store.RoleAdmin || tok.ExpiresAt.IsZero() {
		t.Fatalf("first admin token %+v: want an admin token that expires", tok)
	}
	if d := tok.ExpiresAt.Sub(tok.CreatedAt); d != 90*24*time.Hour {
		t.Errorf("first admin token lives %v, want 2160h", d)
	}
	if api.DefaultTokenTTL != 90*24*time.Hour {
		t.Errorf("DefaultTokenTTL %v", api.DefaultTokenTTL)
	}
}

// TestAuthFailureBudget runs the two floods of issue 9 against the real
// server with its default limits: wrong API tokens and wrong EST
// enrollment tokens from one client get 429 quickly, and the refusals are
// counted in /metrics.
func TestAuthFailureBudget(t *testing.T) {
	w := start(t, t.TempDir())
	hc := &http.Client{Timeout: wait, Transport: &http.Transport{TLSClientConfig: pki.ClientConfig(w.srv.CA().RootPool(), nil)}}
	base := "https://localhost:" + port(w.srv.HTTPSAddr())
	send := func(method, path string, set func(*http.Request)) *http.Response {
		req, _ := http.NewRequest(method, base+path, strings.NewReader("MIIB"))
		set(req)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	firstAPI := 0
	for i := 1; i <= 100 && firstAPI == 0; i++ {
		resp := send("GET", "/api/v1/devices", func(r *http.Request) { r.Header.Set("Authorization", "Bearer ward_0011223344556677_guess") })
		if resp.StatusCode == http.StatusTooManyRequests {
			firstAPI = i
		}
	}
	if firstAPI != api.DefaultAuthFailuresPerMinute+1 {
		t.Errorf("API token guessing: first 429 at request %d, want %d", firstAPI, api.DefaultAuthFailuresPerMinute+1)
	}
	firstEST := 0
	began := time.Now()
	for i := 1; i <= 1000 && firstEST == 0; i++ {
		resp := send("POST", "/.well-known/est/simpleenroll", func(r *http.Request) {
			r.Header.Set("Content-Type", "application/pkcs10")
			r.SetBasicAuth(fmt.Sprintf("ghost-%d", i), "wrong")
		})
		if resp.StatusCode == http.StatusTooManyRequests {
			firstEST = i
			if resp.Header.Get("Retry-After") == "" {
				t.Error("EST 429 without Retry-After")
			}
		}
	}
	// The budget is a burst of 200 and 20 a second: what refilled while
	// the flood ran (on a loaded machine) counts too.
	if limit := 201 + int(20*time.Since(began).Seconds()+1); firstEST == 0 || firstEST > limit {
		t.Errorf("EST wrong-token flood: first 429 at request %d, want by the %dth", firstEST, limit)
	}
	// /metrics with the admin token from another "source" is not possible
	// on loopback; the flood's budget is per minute, so read the registry.
	mfs, err := w.srv.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, mf := range mfs {
		seen[mf.GetName()] = true
	}
	for _, m := range []string{"ward_api_rate_limited_total", "ward_est_rate_limited_total"} {
		if !seen[m] {
			t.Errorf("metric %s not exported", m)
		}
	}
}
