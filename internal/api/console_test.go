package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/store/sqlite"
	"github.com/wardproject/ward/web"
)

// TestConsoleMounted: with the console, its pages and assets answer with
// the console's CSP, while every /api/ path keeps the API's JSON answers
// and CSP (an unknown /api/ path is still the JSON 404, never the shell
// page), an unknown page path is a 404, a POST to a page is not served,
// and the console routes stay out of the OpenAPI document.
func TestConsoleMounted(t *testing.T) {
	console, err := web.New()
	if err != nil {
		t.Fatal(err)
	}
	e, _ := newEnvWith(t, func(_ *sqlite.DB, o *Options) { o.Console = console })
	viewer := e.tokens[store.RoleViewer]
	tests := []struct {
		name, method, path, token string
		status                    int
		csp, ctype                string
	}{
		{"root", "GET", "/", "", 200, web.CSP, "text/html; charset=utf-8"},
		{"device page", "GET", "/devices/sensor-17", "", 200, web.CSP, "text/html; charset=utf-8"},
		{"head", "HEAD", "/alerts", "", 200, web.CSP, "text/html; charset=utf-8"},
		{"asset", "GET", "/assets/js/app.js", "", 200, web.CSP, "text/javascript; charset=utf-8"},
		{"unknown page", "GET", "/nope", "", 404, wantHeaders["Content-Security-Policy"], "application/json"},
		{"post to a page", "POST", "/login", "", 404, wantHeaders["Content-Security-Policy"], "application/json"},
		{"api route", "GET", "/api/v1/info", viewer, 200, wantHeaders["Content-Security-Policy"], "application/json"},
		{"unknown api route", "GET", "/api/v1/devices-x", viewer, 404, wantHeaders["Content-Security-Policy"], "application/json"},
		{"api without token", "GET", "/api/v1/devices", "", 401, wantHeaders["Content-Security-Policy"], "application/json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, e.srv.URL+tt.path, nil)
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			resp, err := e.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status || resp.Header.Get("Content-Security-Policy") != tt.csp || resp.Header.Get("Content-Type") != tt.ctype {
				t.Errorf("%s %s: %d, CSP %q, Content-Type %q; want %d, %q, %q", tt.method, tt.path, resp.StatusCode,
					resp.Header.Get("Content-Security-Policy"), resp.Header.Get("Content-Type"), tt.status, tt.csp, tt.ctype)
			}
			if resp.Header.Get("Strict-Transport-Security") == "" {
				t.Errorf("%s: no HSTS", tt.path)
			}
		})
	}
	code, body := e.do(t, "GET", "/api/v1/openapi.json", viewer, "")
	var doc struct {
		Paths map[string]any `json:"paths"`
	}
	if code != 200 || json.Unmarshal(body, &doc) != nil {
		t.Fatalf("openapi: %d", code)
	}
	for p := range doc.Paths {
		if !strings.HasPrefix(p, "/api/") && !strings.HasPrefix(p, "/crl") && !strings.HasPrefix(p, "/healthz") && !strings.HasPrefix(p, "/.well-known") && p != "/metrics" {
			t.Errorf("non-API path %s in the OpenAPI document", p)
		}
	}
}
