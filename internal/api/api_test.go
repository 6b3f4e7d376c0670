package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wardproject/ward/internal/fleet"
	"github.com/wardproject/ward/internal/pki"
	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/store/sqlite"
	"github.com/wardproject/ward/internal/wardtest"
)

type env struct {
	srv    *httptest.Server
	api    *Server
	reg    *prometheus.Registry
	tokens map[store.Role]string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e, _ := newEnvWith(t, nil)
	return e
}

// newEnvWith is newEnv; more, when set, adds to the server's Options
// (optional services) before it is built. It also returns the store.
func newEnvWith(t *testing.T, more func(db *sqlite.DB, o *Options)) (*env, *sqlite.DB) {
	t.Helper()
	ctx := context.Background()
	db := wardtest.SQLite(t)
	ca, err := pki.Open(ctx, pki.Options{Dir: t.TempDir(), Store: db})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := fleet.New(fleet.Options{Store: db, CA: ca})
	if err != nil {
		t.Fatal(err)
	}
	preg := prometheus.NewPedanticRegistry()
	opts := Options{Registry: reg, Store: db, CA: ca, Registerer: preg,
		EST: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(299) }),
		// The tests send many forged tokens from one address; limits_test.go tests the limits.
		Limits: Limits{AuthFailuresPerMinute: 1 << 20, PublicRate: 1 << 20, PublicBurst: 1 << 20}}
	if more != nil {
		more(db, &opts)
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{srv: httptest.NewTLSServer(s), api: s, reg: preg, tokens: map[store.Role]string{}}
	t.Cleanup(e.srv.Close)
	for _, r := range []store.Role{store.RoleAdmin, store.RoleOperator, store.RoleViewer} {
		tok, _, err := CreateToken(ctx, db, string(r), r, 0, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		e.tokens[r] = tok.Reveal()
	}
	return e, db
}

func (e *env) do(t *testing.T, method, path, token, body string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

var routes = []struct{ method, path string }{
	{"GET", "/api/v1/whoami"}, {"GET", "/api/v1/devices"}, {"POST", "/api/v1/devices"},
	{"GET", "/api/v1/devices/x"}, {"GET", "/api/v1/devices/x/events"}, {"POST", "/api/v1/devices/x/token"},
	{"POST", "/api/v1/devices/x/revoke"}, {"POST", "/api/v1/devices/x/retire"}, {"POST", "/api/v1/devices/x/quarantine"}, {"POST", "/api/v1/devices/x/release"},
	{"PUT", "/api/v1/devices/x/policy"}, {"PATCH", "/api/v1/devices/x/policy"}, {"DELETE", "/api/v1/devices/x"}, {"POST", "/api/v1/devices/import"},
	{"GET", "/api/v1/models"}, {"PUT", "/api/v1/models/m/policy"}, {"PATCH", "/api/v1/models/m/policy"},
	{"GET", "/api/v1/events"}, {"GET", "/api/v1/ca"}, {"GET", "/api/v1/certificates"},
	{"GET", "/api/v1/tokens"}, {"POST", "/api/v1/tokens"}, {"DELETE", "/api/v1/tokens/0011223344556677"},
}

func TestEveryRouteNeedsAToken(t *testing.T) {
	e := newEnv(t)
	for _, r := range routes {
		for _, tok := range []string{"", "ward_0011223344556677_forged", "garbage", e.tokens[store.RoleAdmin] + "x"} {
			if code, body := e.do(t, r.method, r.path, tok, ""); code != http.StatusUnauthorized {
				t.Errorf("%s %s with token %q: %d %s, want 401", r.method, r.path, tok, code, body)
			}
		}
	}
	// The public endpoints answer without one.
	for _, p := range []string{"/healthz", "/crl", "/crl?format=pem", "/.well-known/est/cacerts"} {
		if code, _ := e.do(t, "GET", p, "", ""); code >= 400 {
			t.Errorf("GET %s without token: %d", p, code)
		}
	}
}

func TestRoles(t *testing.T) {
	e := newEnv(t)
	mutating := 0
	for _, r := range routes {
		if r.method == "GET" {
			continue
		}
		mutating++
		if code, _ := e.do(t, r.method, r.path, e.tokens[store.RoleViewer], "{}"); code != http.StatusForbidden {
			t.Errorf("viewer %s %s: %d, want 403", r.method, r.path, code)
		}
	}
	if mutating == 0 {
		t.Fatal("no mutating routes tested")
	}
	for _, r := range []struct{ method, path string }{{"GET", "/api/v1/tokens"}, {"POST", "/api/v1/tokens"}} {
		if code, _ := e.do(t, r.method, r.path, e.tokens[store.RoleOperator], `{"role":"admin"}`); code != http.StatusForbidden {
			t.Errorf("operator %s %s: %d, want 403", r.method, r.path, code)
		}
	}
	if code, _ := e.do(t, "GET", "/api/v1/devices", e.tokens[store.RoleViewer], ""); code != 200 {
		t.Errorf("viewer list devices: %d", code)
	}
}

func TestDeviceLifecycleOverAPI(t *testing.T) {
	e := newEnv(t)
	op := e.tokens[store.RoleOperator]
	code, body := e.do(t, "POST", "/api/v1/devices", op, `{"id":"sensor-17","model":"acme-th1","firmware":"1.4.2"}`)
	if code != http.StatusCreated {
		t.Fatalf("add: %d %s", code, body)
	}
	var en EnrollmentResponse
	json.Unmarshal(body, &en)
	if en.Token == "" || en.Status != store.StatusPending || en.TokenExpiresAt.Before(time.Now().Add(23*time.Hour)) {
		t.Errorf("add answered %+v", en)
	}
	if code, _ := e.do(t, "POST", "/api/v1/devices", op, `{"id":"sensor-17","model":"acme-th1"}`); code != http.StatusConflict {
		t.Errorf("duplicate add: %d, want 409", code)
	}
	for _, bad := range []string{`{"id":"a b","model":"m"}`, `{"id":"x","model":""}`, `{"id":"x","model":"m","bogus":1}`, `{"id":`, ``,
		`{"id":"x","model":"m","policy":{"publish":["a/#/b"]}}`, `{"id":"x","model":"m","token_ttl":"forever"}`} {
		if code, body := e.do(t, "POST", "/api/v1/devices", op, bad); code != http.StatusBadRequest {
			t.Errorf("add %s: %d %s, want 400", bad, code, body)
		}
	}
	if code, body := e.do(t, "POST", "/api/v1/devices/sensor-17/quarantine", op, `{"reason":"test","mode":"sideways"}`); code != http.StatusBadRequest {
		t.Errorf("quarantine with an unknown mode: %d %s, want 400", code, body)
	}
	if code, body := e.do(t, "POST", "/api/v1/devices/sensor-17/quarantine", op, `{"reason":"test","mode":"restrict"}`); code != 200 || !strings.Contains(string(body), `"quarantine": "restrict"`) {
		t.Errorf("quarantine in restrict mode: %d %s", code, body)
	}
	if code, body := e.do(t, "POST", "/api/v1/devices/sensor-17/quarantine", op, `{"reason":"test"}`); code != 200 || !strings.Contains(string(body), `"quarantine": "refuse"`) {
		t.Errorf("quarantine: %d %s", code, body)
	}
	if code, _ := e.do(t, "POST", "/api/v1/devices/sensor-17/token", op, ""); code != http.StatusConflict {
		t.Errorf("new token for a quarantined device: %d, want 409", code)
	}
	if code, body := e.do(t, "POST", "/api/v1/devices/sensor-17/release", op, ""); code != 200 || !strings.Contains(string(body), `"pending"`) {
		t.Errorf("release: %d %s", code, body)
	}
	code, body = e.do(t, "GET", "/api/v1/devices/sensor-17", e.tokens[store.RoleViewer], "")
	var v fleet.View
	json.Unmarshal(body, &v)
	if code != 200 || len(v.Events) < 3 {
		t.Errorf("show: %d, %d events (want registered, quarantined, released)", code, len(v.Events))
	}
	if code, _ := e.do(t, "GET", "/api/v1/devices/ghost", op, ""); code != 404 {
		t.Errorf("unknown device: %d", code)
	}
	if got := testutil.ToFloat64(e.api.requests.WithLabelValues("POST /api/v1/devices", "4xx")); got < 7 {
		t.Errorf("ward_api_requests_total{4xx} = %v", got)
	}
}

func TestTokensShownOnce(t *testing.T) {
	e := newEnv(t)
	admin := e.tokens[store.RoleAdmin]
	code, body := e.do(t, "POST", "/api/v1/tokens", admin, `{"name":"ci","role":"viewer"}`)
	if code != http.StatusCreated {
		t.Fatalf("create token: %d %s", code, body)
	}
	var res CreateTokenResponse
	json.Unmarshal(body, &res)
	if code, _ := e.do(t, "GET", "/api/v1/devices", res.Token, ""); code != 200 {
		t.Errorf("new viewer token rejected: %d", code)
	}
	_, list := e.do(t, "GET", "/api/v1/tokens", admin, "")
	secretPart := res.Token[strings.LastIndex(res.Token, "_")+1:]
	if bytes.Contains(list, []byte(secretPart)) || bytes.Contains(list, []byte(`"hash"`)) {
		t.Errorf("token list leaks a secret: %s", list)
	}
	if code, _ := e.do(t, "DELETE", "/api/v1/tokens/"+res.ID, admin, ""); code != http.StatusNoContent {
		t.Errorf("revoke token: %d", code)
	}
	if code, _ := e.do(t, "GET", "/api/v1/devices", res.Token, ""); code != 401 {
		t.Errorf("revoked token accepted: %d", code)
	}
	if code, _ := e.do(t, "POST", "/api/v1/tokens", admin, `{"role":"root"}`); code != 400 {
		t.Errorf("unknown role: %d", code)
	}
}
