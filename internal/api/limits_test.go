package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/store/sqlite"
)

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newLimitedEnv(t *testing.T, l Limits) (*env, *testClock) {
	t.Helper()
	c := &testClock{t: time.Now()}
	e, _ := newEnvWith(t, func(db *sqlite.DB, o *Options) {
		o.Limits, o.Now = l, c.now
	})
	return e, c
}

// serve sends one request from remote straight to the handler.
func serve(e *env, method, path, remote, token string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	req.RemoteAddr = remote
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	e.api.ServeHTTP(rec, req)
	return rec
}

// TestWrongTokenFloodGets429 is the token-guessing flood: past the
// default budget of failed authentications one source gets 429 with
// Retry-After and the JSON error, even with a valid token, until the
// budget refills; another source is not affected.
func TestWrongTokenFloodGets429(t *testing.T) {
	e, clock := newLimitedEnv(t, Limits{})
	const attacker = "192.0.2.66:5000"
	for i := range DefaultAuthFailuresPerMinute {
		if rec := serve(e, "GET", "/api/v1/devices", attacker, "ward_0011223344556677_guess"); rec.Code != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d, want 401", i+1, rec.Code)
		}
	}
	rec := serve(e, "GET", "/api/v1/devices", attacker, "ward_0011223344556677_guess")
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("guess %d: %d, want 429", DefaultAuthFailuresPerMinute+1, rec.Code)
	}
	var er ErrorResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &er); err != nil || er.Status != 429 || !strings.Contains(er.Message, "retry after") || er.RequestID == "" {
		t.Errorf("429 body %s: want the API's JSON error", rec.Body)
	}
	if ra := rec.Header().Get("Retry-After"); ra != "2" {
		t.Errorf("Retry-After = %q, want 2 (one failure refills every 2 s at 30 a minute)", ra)
	}
	if rec := serve(e, "GET", "/api/v1/devices", attacker, e.tokens[store.RoleViewer]); rec.Code != http.StatusTooManyRequests {
		t.Errorf("a valid token from the flooding source: %d, want 429 (its token is not even looked up)", rec.Code)
	}
	if rec := serve(e, "GET", "/api/v1/devices", "192.0.2.67:5000", e.tokens[store.RoleViewer]); rec.Code != http.StatusOK {
		t.Errorf("another source: %d, want 200", rec.Code)
	}
	if got := testutil.ToFloat64(e.api.limited.WithLabelValues("GET /api/v1/devices", "auth_failure")); got != 2 {
		t.Errorf("ward_api_rate_limited_total = %v, want 2", got)
	}
	clock.add(time.Minute)
	if rec := serve(e, "GET", "/api/v1/devices", attacker, e.tokens[store.RoleViewer]); rec.Code != http.StatusOK {
		t.Errorf("a minute later, a valid token: %d, want 200", rec.Code)
	}
}

// TestValidTokensAreNotLimited: authenticated work is not counted against
// the failure budget (a busy operator script is not throttled).
func TestValidTokensAreNotLimited(t *testing.T) {
	e, _ := newLimitedEnv(t, Limits{AuthFailuresPerMinute: 1})
	for i := range 200 {
		if rec := serve(e, "GET", "/api/v1/whoami", "192.0.2.1:1", e.tokens[store.RoleViewer]); rec.Code != http.StatusOK {
			t.Fatalf("request %d with a valid token: %d", i+1, rec.Code)
		}
	}
}

// TestPublicRoutesLimited: /healthz and /crl are limited per source.
func TestPublicRoutesLimited(t *testing.T) {
	e, clock := newLimitedEnv(t, Limits{})
	for _, path := range []string{"/healthz", "/crl"} {
		src := "198.51.100.7:1"
		if path == "/crl" {
			src = "[2001:db8:5:6::1]:1"
		}
		for i := range DefaultPublicBurst {
			if rec := serve(e, "GET", path, src, ""); rec.Code != http.StatusOK {
				t.Fatalf("GET %s %d: %d", path, i+1, rec.Code)
			}
		}
		rec := serve(e, "GET", path, src, "")
		if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
			t.Errorf("GET %s past the burst: %d Retry-After %q, want 429", path, rec.Code, rec.Header().Get("Retry-After"))
		}
	}
	clock.add(time.Second)
	if rec := serve(e, "GET", "/healthz", "198.51.100.7:1", ""); rec.Code != http.StatusOK {
		t.Errorf("a second later: %d, want 200", rec.Code)
	}
}
