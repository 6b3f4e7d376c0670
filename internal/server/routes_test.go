package server

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wardproject/ward/internal/api"
	"github.com/wardproject/ward/internal/pki"
	"github.com/wardproject/ward/internal/store"
)

// routeRe finds every authenticated route the API registers, with its
// minimum role, in the API's own source, so that a new route cannot escape
// this test.
var routeRe = regexp.MustCompile(`auth\("(GET|POST|PUT|DELETE) ([^"]+)", store\.Role(Admin|Operator|Viewer)`)

type route struct{ method, path, role string }

func apiRoutes(t *testing.T) []route {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "api", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var out []route
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range routeRe.FindAllStringSubmatch(string(b), -1) {
			p := strings.NewReplacer("{id}", "x", "{model}", "m").Replace(m[2])
			out = append(out, route{m[1], p, strings.ToLower(m[3])})
		}
	}
	if len(out) < 40 {
		t.Fatalf("found only %d routes in the API source", len(out))
	}
	return out
}

// TestEveryRouteAuthenticatedAndAuthorised runs against the whole server:
// every route refuses a request without a valid token (401), and a role
// below the route's refuses (403).
func TestEveryRouteAuthenticatedAndAuthorised(t *testing.T) {
	// Many forged tokens from one address: lift the failure budget here
	// (TestAuthFailureBudget tests it).
	w := startManual(t, "log:\n  level: error\napi:\n  auth_failures_per_minute: 100000\n")
	ctx := context.Background()
	tokens := map[store.Role]string{}
	for _, r := range []store.Role{store.RoleViewer, store.RoleOperator} {
		var res api.CreateTokenResponse
		if err := w.api.Post(ctx, "/api/v1/tokens", api.CreateTokenRequest{Name: string(r), Role: r}, &res); err != nil {
			t.Fatal(err)
		}
		tokens[r] = res.Token
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: pki.ClientConfig(w.srv.CA().RootPool(), nil)}}
	base := "https://localhost:" + port(w.srv.HTTPSAddr())
	do := func(r route, token string) int {
		req, _ := http.NewRequest(r.method, base+r.path, strings.NewReader("{}"))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		checkSecurityHeaders(t, r.method+" "+r.path, resp)
		// Read to EOF so the connection is reused: a fresh TLS handshake
		// (ML-KEM, ECDSA, under -race) for each of ~200 requests is what
		// made one of them exceed the timeouts under load.
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, r := range apiRoutes(t) {
		for _, tok := range []string{"", "ward_0011223344556677_forged", tokens[store.RoleViewer] + "x"} {
			if code := do(r, tok); code != http.StatusUnauthorized {
				t.Errorf("%s %s with token %q: %d, want 401", r.method, r.path, tok, code)
			}
		}
		if r.role != "viewer" {
			if code := do(r, tokens[store.RoleViewer]); code != http.StatusForbidden {
				t.Errorf("%s %s as viewer: %d, want 403", r.method, r.path, code)
			}
		}
		if r.role == "admin" {
			if code := do(r, tokens[store.RoleOperator]); code != http.StatusForbidden {
				t.Errorf("%s %s as operator: %d, want 403", r.method, r.path, code)
			}
		}
	}
}

// checkSecurityHeaders fails the test when a response lacks one of the
// headers every HTTPS response of Ward carries.
func checkSecurityHeaders(t *testing.T, what string, resp *http.Response) {
	t.Helper()
	for h, want := range map[string]string{
		"Strict-Transport-Security": "max-age=31536000",
		"X-Content-Type-Options":    "nosniff",
		"Content-Security-Policy":   "default-src 'none'; frame-ancestors 'none'",
		"Referrer-Policy":           "no-referrer",
	} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s (%d): %s = %q, want %q", what, resp.StatusCode, h, got, want)
		}
	}
	if strings.Contains(what, " /api/") && resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("%s (%d): Cache-Control %q, want no-store", what, resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
}

// TestSecurityHeadersOnPublicRoutes: the routes without a token (EST,
// /crl, /healthz) and /metrics carry the headers on the real server too.
func TestSecurityHeadersOnPublicRoutes(t *testing.T) {
	w := startManual(t, "log:\n  level: error\n")
	hc := &http.Client{Timeout: wait, Transport: &http.Transport{TLSClientConfig: pki.ClientConfig(w.srv.CA().RootPool(), nil)}}
	base := "https://localhost:" + port(w.srv.HTTPSAddr())
	tok, _ := os.ReadFile(filepath.Join(w.dir, AdminTokenFile))
	for _, r := range []struct{ method, path string }{
		{"GET", "/healthz"}, {"GET", "/crl"}, {"GET", "/crl?format=pem"}, {"GET", "/metrics"},
		{"GET", "/.well-known/est/cacerts"}, {"GET", "/.well-known/est/csrattrs"},
		{"POST", "/.well-known/est/simpleenroll"}, {"POST", "/.well-known/est/simplereenroll"}, {"GET", "/nowhere"},
	} {
		req, _ := http.NewRequest(r.method, base+r.path, strings.NewReader("x"))
		if r.path == "/metrics" {
			req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		checkSecurityHeaders(t, r.method+" "+r.path, resp)
	}
}
