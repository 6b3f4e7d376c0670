package api

import (
	"net/http"
	"strings"
	"testing"

	"github.com/wardproject/ward/internal/store"
)

// wantHeaders are the security headers every response carries.
var wantHeaders = map[string]string{
	"Strict-Transport-Security": "max-age=31536000",
	"X-Content-Type-Options":    "nosniff",
	"Content-Security-Policy":   "default-src 'none'; frame-ancestors 'none'",
	"Referrer-Policy":           "no-referrer",
}

// TestSecurityHeadersOnEveryRoute sends a request to every pattern
// registered on the mux (so a new route cannot escape it), with and
// without a token, plus EST and a 404, and checks every response for the
// security headers; API responses must not be cached.
func TestSecurityHeadersOnEveryRoute(t *testing.T) {
	e := newFullEnv(t)
	var paths []struct{ method, path string }
	for _, r := range e.api.mux.routes {
		method, path, ok := strings.Cut(r.pattern, " ")
		if !ok {
			method, path = "GET", r.pattern+"cacerts"
		}
		paths = append(paths, struct{ method, path string }{method, paramRe.ReplaceAllString(path, "x")})
	}
	paths = append(paths, struct{ method, path string }{"GET", "/no/such/route"})
	if len(paths) < 50 {
		t.Fatalf("only %d routes", len(paths))
	}
	for _, p := range paths {
		for _, tok := range []string{"", e.tokens[store.RoleAdmin]} {
			rec := serve(e.env, p.method, p.path, "192.0.2.1:1", tok)
			for h, want := range wantHeaders {
				if got := rec.Header().Get(h); got != want {
					t.Errorf("%s %s (%d): %s = %q, want %q", p.method, p.path, rec.Code, h, got, want)
				}
			}
			if strings.HasPrefix(p.path, "/api/") && rec.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("%s %s (%d): Cache-Control %q, want no-store", p.method, p.path, rec.Code, rec.Header().Get("Cache-Control"))
			}
		}
	}
	// A new token is in the body: never cached.
	rec := serve(e.env, http.MethodGet, "/api/v1/whoami", "192.0.2.1:1", e.tokens[store.RoleAdmin])
	if rec.Header().Get("Cache-Control") != "no-store" {
		t.Error("whoami may be cached")
	}
}
