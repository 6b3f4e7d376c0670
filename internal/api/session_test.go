package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wardproject/ward/internal/password"
	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/wardtest"
)

// sessionEnv is a real HTTPS API server over a real SQLite store, with
// every optional route mounted, a clock the test moves and its log
// captured.
type sessionEnv struct {
	*fullEnv
	clock *testClock
	logs  *wardtest.SyncBuffer
}

// cheapParams keep most tests fast under the race detector: real
// argon2id, less memory. TestSignInDefaultParams uses the defaults.
var cheapParams = password.Params{Memory: 1024, Time: 1, Threads: 1}

func newSessionEnv(t *testing.T, extra ...func(o *Options)) *sessionEnv {
	t.Helper()
	c := &testClock{t: time.Now().UTC()}
	logs := &wardtest.SyncBuffer{}
	h, err := password.NewHasher(cheapParams, 0)
	if err != nil {
		t.Fatal(err)
	}
	fe := newFullEnv(t, append([]func(o *Options){func(o *Options) {
		o.Now = c.now
		o.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		o.Passwords = h
	}}, extra...)...)
	return &sessionEnv{fullEnv: fe, clock: c, logs: logs}
}

// addUser creates a user through the API with the admin token.
func (e *sessionEnv) addUser(t *testing.T, name string, role store.Role, pw string) {
	t.Helper()
	body, _ := json.Marshal(CreateUserRequest{Name: name, Role: role, Password: pw})
	if code, b := e.do(t, "POST", "/api/v1/users", e.tokens[store.RoleAdmin], string(body)); code != http.StatusCreated {
		t.Fatalf("create user %s: %d %s", name, code, b)
	}
}

// browser is a client with its own cookie jar, as a browser tab.
type browser struct {
	e    *sessionEnv
	c    *http.Client
	csrf string
}

func (e *sessionEnv) browser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{e: e, c: &http.Client{Transport: e.srv.Client().Transport, Jar: jar}}
}

// reply is an answer: status, headers and body.
type reply struct {
	code int
	h    http.Header
	body []byte
}

func (b *browser) send(t *testing.T, method, path, body string, hdr map[string]string) reply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, b.e.srv.URL+path, rd)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, data}
}

// signIn posts credentials; on 201 it keeps the CSRF token.
func (b *browser) signIn(t *testing.T, user, pw, client string) (reply, SessionResponse) {
	t.Helper()
	body, _ := json.Marshal(LoginRequest{Username: user, Password: pw, Client: client})
	r := b.send(t, "POST", "/api/v1/session", string(body), nil)
	var s SessionResponse
	if r.code == http.StatusCreated {
		if err := json.Unmarshal(r.body, &s); err != nil {
			t.Fatal(err)
		}
		b.csrf = s.CSRFToken
	}
	return r, s
}

// mustSignIn signs in as a browser or fails the test.
func (e *sessionEnv) mustSignIn(t *testing.T, user, pw string) *browser {
	t.Helper()
	b := e.browser(t)
	if r, _ := b.signIn(t, user, pw, ""); r.code != http.StatusCreated {
		t.Fatalf("sign in %s: %d %s", user, r.code, r.body)
	}
	return b
}

// act sends an unsafe request with the session's CSRF token.
func (b *browser) act(t *testing.T, method, path, body string) reply {
	t.Helper()
	return b.send(t, method, path, body, map[string]string{CSRFHeader: b.csrf})
}

const alicePW = "correct horse battery staple"

func TestSignInBrowserCookie(t *testing.T) {
	e := newSessionEnv(t)
	e.addUser(t, "alice", store.RoleOperator, alicePW)
	b := e.browser(t)
	r, s := b.signIn(t, "Alice", alicePW, "")
	if r.code != http.StatusCreated {
		t.Fatalf("sign in: %d %s", r.code, r.body)
	}
	if s.User != "alice" || s.Role != store.RoleOperator || s.IdleTimeout != "30m0s" || len(s.CSRFToken) < 40 || s.Token != "" ||
		!s.ExpiresAt.Equal(e.clock.now().Add(12*time.Hour)) {
		t.Errorf("answer %+v", s)
	}
	cookies := (&http.Response{Header: r.h}).Cookies()
	if len(cookies) != 1 {
		t.Fatalf("Set-Cookie: %v", r.h.Values("Set-Cookie"))
	}
	c := cookies[0]
	if c.Name != SessionCookie || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Domain != "" || c.MaxAge != 12*3600 {
		t.Errorf("cookie %s, want ward_session HttpOnly Secure SameSite=Strict Path=/ no Domain Max-Age=43200", r.h.Get("Set-Cookie"))
	}
	if strings.Contains(string(r.body), c.Value) {
		t.Error("a browser sign-in's answer holds the session secret")
	}
	// The cookie authenticates reads without anything else.
	r = b.send(t, "GET", "/api/v1/whoami", "", nil)
	var who Whoami
	json.Unmarshal(r.body, &who)
	if r.code != 200 || who.Kind != PrincipalUser || who.Name != "alice" || who.Role != store.RoleOperator {
		t.Errorf("whoami with the cookie: %d %s", r.code, r.body)
	}
	r = b.send(t, "GET", "/api/v1/session", "", nil)
	var got SessionResponse
	json.Unmarshal(r.body, &got)
	if r.code != 200 || got.CSRFToken != s.CSRFToken || got.User != "alice" || !got.ExpiresAt.Equal(s.ExpiresAt) {
		t.Errorf("GET /api/v1/session: %d %s", r.code, r.body)
	}
	if code, _ := e.do(t, "GET", "/api/v1/session", e.tokens[store.RoleAdmin], ""); code != http.StatusUnauthorized {
		t.Errorf("GET /api/v1/session with an API token: %d, want 401 (no session)", code)
	}
	// A user's action is attributed to the user in the audit log.
	if r := b.act(t, "POST", "/api/v1/devices", `{"id":"cam-1","model":"m","firmware":"1"}`); r.code != http.StatusCreated {
		t.Fatalf("add device with cookie and CSRF token: %d %s", r.code, r.body)
	}
	if r := b.act(t, "POST", "/api/v1/alerts", `{"device":"cam-1","rule":"r","severity":"low"}`); r.code != http.StatusCreated {
		t.Fatalf("raise alert: %d %s", r.code, r.body)
	}
	entries, err := e.db.ListAudit(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	actors := map[string]string{}
	for _, en := range entries {
		actors[en.Action] = en.Actor
	}
	if actors["session.create"] != "user:alice" || actors["user.create"] == "" || !strings.HasPrefix(actors["user.create"], "token:") {
		t.Errorf("audit actors %v, want session.create by user:alice and user.create by the admin token", actors)
	}
}

func TestSignInCLIToken(t *testing.T) {
	e := newSessionEnv(t)
	e.addUser(t, "bob", store.RoleOperator, alicePW)
	b := e.browser(t)
	r, s := b.signIn(t, "bob", alicePW, ClientCLI)
	if r.code != http.StatusCreated || !strings.HasPrefix(s.Token, sessionPrefix) {
		t.Fatalf("cli sign in: %d %s", r.code, r.body)
	}
	if sc := r.h.Values("Set-Cookie"); len(sc) != 0 {
		t.Errorf("a cli sign-in set a cookie: %v", sc)
	}
	// A bearer session needs no CSRF token: nothing sends it on its own.
	if code, body := e.do(t, "POST", "/api/v1/devices", s.Token, `{"id":"cam-2","model":"m","firmware":"1"}`); code != http.StatusCreated {
		t.Errorf("add device with the session token: %d %s", code, body)
	}
	if code, body := e.do(t, "GET", "/api/v1/session", s.Token, ""); code != 200 || !strings.Contains(string(body), s.CSRFToken) {
		t.Errorf("GET /api/v1/session with the token: %d %s", code, body)
	}
	if code, _ := e.do(t, "DELETE", "/api/v1/session", s.Token, ""); code != http.StatusNoContent {
		t.Errorf("sign out: %d", code)
	}
	if code, _ := e.do(t, "GET", "/api/v1/whoami", s.Token, ""); code != http.StatusUnauthorized {
		t.Errorf("token after sign-out: %d, want 401", code)
	}
	for _, bad := range []string{`{"username":"bob","password":"x","client":"curl"}`, `{"username":"bob"`, `{"username":"bob","password":"x","extra":1}`} {
		if r := b.send(t, "POST", "/api/v1/session", bad, nil); r.code != http.StatusBadRequest {
			t.Errorf("sign in with %s: %d %s, want 400", bad, r.code, r.body)
		}
	}
}

// TestCSRFForgedRequestRefused: a request that carries the victim's valid
// cookie but not the session's CSRF token (a form on another site, say)
// is refused, and nothing changes.
func TestCSRFForgedRequestRefused(t *testing.T) {
	e := newSessionEnv(t)
	e.addUser(t, "alice", store.RoleAdmin, alicePW)
	b := e.mustSignIn(t, "alice", alicePW)
	if code, _ := e.do(t, "POST", "/api/v1/devices", e.tokens[store.RoleOperator], `{"id":"cam-1","model":"m","firmware":"1"}`); code != 201 {
		t.Fatal(code)
	}
	forged := []struct {
		name, method, path, body string
		hdr                      map[string]string
	}{
		{"no-token-register", "POST", "/api/v1/devices", `{"id":"evil-1","model":"m","firmware":"1"}`, nil},
		{"wrong-token-register", "POST", "/api/v1/devices", `{"id":"evil-2","model":"m","firmware":"1"}`, map[string]string{CSRFHeader: "guess"}},
		{"other-sessions-token", "POST", "/api/v1/devices", `{"id":"evil-3","model":"m","firmware":"1"}`, map[string]string{CSRFHeader: "x" + b.csrf[1:]}},
		{"no-token-quarantine", "POST", "/api/v1/devices/cam-1/quarantine", `{}`, nil},
		{"no-token-create-user", "POST", "/api/v1/users", `{"name":"mallory","role":"admin","password":"mallory's password"}`, nil},
		{"no-token-sign-out", "DELETE", "/api/v1/session", "", nil},
		{"no-token-token", "POST", "/api/v1/tokens", `{"name":"x","role":"admin"}`, nil},
	}
	for _, f := range forged {
		t.Run(f.name, func(t *testing.T) {
			r := b.send(t, f.method, f.path, f.body, f.hdr)
			if r.code != http.StatusForbidden || !strings.Contains(string(r.body), "missing or wrong CSRF token") {
				t.Errorf("%s %s: %d %s, want 403 missing or wrong CSRF token", f.method, f.path, r.code, r.body)
			}
		})
	}
	for _, id := range []string{"evil-1", "evil-2", "evil-3"} {
		if code, _ := e.do(t, "GET", "/api/v1/devices/"+id, e.tokens[store.RoleAdmin], ""); code != http.StatusNotFound {
			t.Errorf("forged request registered %s: %d", id, code)
		}
	}
	if code, body := e.do(t, "GET", "/api/v1/devices/cam-1", e.tokens[store.RoleAdmin], ""); code != 200 || strings.Contains(string(body), "quarantined") {
		t.Errorf("forged quarantine changed the device: %s", body)
	}
	if us, _ := e.db.ListUsers(context.Background()); len(us) != 1 {
		t.Errorf("forged request created a user: %d users", len(us))
	}
	if r := b.send(t, "GET", "/api/v1/whoami", "", nil); r.code != 200 {
		t.Errorf("the forged sign-out ended the session: %d", r.code)
	}
	// The same requests with the token succeed.
	if r := b.act(t, "POST", "/api/v1/devices", `{"id":"ok-1","model":"m","firmware":"1"}`); r.code != http.StatusCreated {
		t.Errorf("with the CSRF token: %d %s", r.code, r.body)
	}
}

// TestCrossSiteRequestRefused: http.CrossOriginProtection refuses a
// browser's cross-site unsafe request before authentication, even with
// the cookie and the right CSRF token; reads and non-browser clients pass.
func TestCrossSiteRequestRefused(t *testing.T) {
	e := newSessionEnv(t)
	e.addUser(t, "alice", store.RoleOperator, alicePW)
	b := e.mustSignIn(t, "alice", alicePW)
	host := strings.TrimPrefix(e.srv.URL, "https://")
	tests := []struct {
		name string
		hdr  map[string]string
		path string
		want int
	}{
		{"sec-fetch-site-cross-site", map[string]string{"Sec-Fetch-Site": "cross-site", CSRFHeader: b.csrf}, "/api/v1/devices", http.StatusForbidden},
		{"sec-fetch-site-same-site", map[string]string{"Sec-Fetch-Site": "same-site", CSRFHeader: b.csrf}, "/api/v1/devices", http.StatusForbidden},
		{"foreign-origin", map[string]string{"Origin": "https://evil.example", CSRFHeader: b.csrf}, "/api/v1/devices", http.StatusForbidden},
		{"cross-site-sign-in", map[string]string{"Sec-Fetch-Site": "cross-site"}, "/api/v1/session", http.StatusForbidden},
		{"same-origin", map[string]string{"Sec-Fetch-Site": "same-origin", CSRFHeader: b.csrf}, "/api/v1/devices", http.StatusCreated},
		{"own-origin", map[string]string{"Origin": "https://" + host, CSRFHeader: b.csrf}, "/api/v1/devices", http.StatusCreated},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"id":"dev-` + string(rune('a'+i)) + `","model":"m","firmware":"1"}`
			if tt.path == "/api/v1/session" {
				body = `{"username":"alice","password":"` + alicePW + `"}`
			}
			r := b.send(t, "POST", tt.path, body, tt.hdr)
			if r.code != tt.want {
				t.Errorf("%d %s, want %d", r.code, r.body, tt.want)
			}
			if tt.want == http.StatusForbidden {
				if code, _ := e.do(t, "GET", "/api/v1/devices/dev-"+string(rune('a'+i)), e.tokens[store.RoleAdmin], ""); code != http.StatusNotFound {
					t.Errorf("the refused request registered its device: %d", code)
				}
			}
		})
	}
	if r := b.send(t, "GET", "/api/v1/whoami", "", map[string]string{"Sec-Fetch-Site": "cross-site"}); r.code != 200 {
		t.Errorf("cross-site GET: %d, want 200 (reads are not refused; SameSite=Strict keeps the cookie home)", r.code)
	}
}

// TestSessionEnds: a session is refused after sign-out, a password
// change, the user's disabling, its idle timeout and its lifetime, and
// only then.
func TestSessionEnds(t *testing.T) {
	tests := []struct {
		name string
		end  func(t *testing.T, e *sessionEnv, b *browser)
	}{
		{"sign-out", func(t *testing.T, e *sessionEnv, b *browser) {
			r := b.act(t, "DELETE", "/api/v1/session", "")
			if r.code != http.StatusNoContent {
				t.Fatalf("sign out: %d %s", r.code, r.body)
			}
			if c := (&http.Response{Header: r.h}).Cookies(); len(c) != 1 || c[0].MaxAge >= 0 {
				t.Errorf("sign-out does not expire the cookie: %v", r.h.Values("Set-Cookie"))
			}
		}},
		{"password-changed-by-admin", func(t *testing.T, e *sessionEnv, b *browser) {
			if code, body := e.do(t, "POST", "/api/v1/users/alice/password", e.tokens[store.RoleAdmin], `{"password":"a brand new password"}`); code != http.StatusNoContent {
				t.Fatalf("set password: %d %s", code, body)
			}
		}},
		{"disabled", func(t *testing.T, e *sessionEnv, b *browser) {
			if code, body := e.do(t, "POST", "/api/v1/users/alice/disable", e.tokens[store.RoleAdmin], ""); code != 200 {
				t.Fatalf("disable: %d %s", code, body)
			}
		}},
		{"idle", func(t *testing.T, e *sessionEnv, b *browser) {
			e.clock.add(29 * time.Minute)
			if r := b.send(t, "GET", "/api/v1/whoami", "", nil); r.code != 200 {
				t.Fatalf("29 minutes idle: %d, want 200", r.code)
			}
			e.clock.add(30 * time.Minute)
		}},
		{"absolute", func(t *testing.T, e *sessionEnv, b *browser) {
			for range 35 { // 35 x 20 minutes = 11h40m, used all along
				e.clock.add(20 * time.Minute)
				if r := b.send(t, "GET", "/api/v1/whoami", "", nil); r.code != 200 {
					t.Fatalf("at %v: %d, want 200", e.clock.now(), r.code)
				}
			}
			e.clock.add(20 * time.Minute)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newSessionEnv(t)
			e.addUser(t, "alice", store.RoleOperator, alicePW)
			b := e.mustSignIn(t, "alice", alicePW)
			stolen := b.c.Jar.Cookies(&url.URL{Scheme: "https", Host: strings.TrimPrefix(e.srv.URL, "https://")})
			tt.end(t, e, b)
			// The cookie replayed as it was before the end (a stolen copy).
			replay := e.browser(t)
			replay.c.Jar.SetCookies(&url.URL{Scheme: "https", Host: strings.TrimPrefix(e.srv.URL, "https://")}, stolen)
			if r := replay.send(t, "GET", "/api/v1/whoami", "", nil); r.code != http.StatusUnauthorized {
				t.Errorf("session after %s: %d %s, want 401", tt.name, r.code, r.body)
			}
			if r := replay.send(t, "POST", "/api/v1/devices", `{"id":"x","model":"m","firmware":"1"}`, map[string]string{CSRFHeader: b.csrf}); r.code != http.StatusUnauthorized {
				t.Errorf("unsafe request after %s: %d, want 401", tt.name, r.code)
			}
		})
	}
}

// TestSessionTouchedOncePerMinute: requests within a minute do not write
// the session's last use; the idle timeout counts from the last write.
func TestSessionTouchedOncePerMinute(t *testing.T) {
	e := newSessionEnv(t)
	e.addUser(t, "alice", store.RoleViewer, alicePW)
	b := e.browser(t)
	r, _ := b.signIn(t, "alice", alicePW, ClientCLI)
	var s SessionResponse
	json.Unmarshal(r.body, &s)
	id, _, _ := cutToken(sessionPrefix, s.Token)
	start := e.clock.now()
	e.clock.add(30 * time.Second)
	e.do(t, "GET", "/api/v1/whoami", s.Token, "")
	if ss, _ := e.db.GetSession(context.Background(), id); !ss.LastSeenAt.Equal(start) {
		t.Errorf("LastSeenAt %v after 30 s, want unchanged %v", ss.LastSeenAt, start)
	}
	e.clock.add(31 * time.Second)
	e.do(t, "GET", "/api/v1/whoami", s.Token, "")
	if ss, _ := e.db.GetSession(context.Background(), id); !ss.LastSeenAt.Equal(e.clock.now()) {
		t.Errorf("LastSeenAt %v after 61 s, want %v", ss.LastSeenAt, e.clock.now())
	}
}

// TestLockout: after 5 wrong passwords the right one is refused, with
// the answer of a wrong password and without being checked, until the
// lockout ends; the log, the metric and the audit log say it is a lockout.
func TestLockout(t *testing.T) {
	e := newSessionEnv(t)
	e.addUser(t, "alice", store.RoleOperator, alicePW)
	b := e.browser(t)
	var wrong reply
	for i := range 5 {
		r, _ := b.signIn(t, "alice", "wrong password "+string(rune('a'+i)), "")
		if r.code != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d %s", i+1, r.code, r.body)
		}
		wrong = r
	}
	unlock := e.clock.now().Add(15 * time.Minute)
	r, _ := b.signIn(t, "alice", alicePW, "")
	if r.code != http.StatusUnauthorized || string(requestIDRe.ReplaceAll(r.body, nil)) != string(requestIDRe.ReplaceAll(wrong.body, nil)) || r.h.Get("Retry-After") != "" {
		t.Fatalf("right password while locked: %d %s Retry-After %q; want a wrong password's 401 %s", r.code, r.body, r.h.Get("Retry-After"), wrong.body)
	}
	e.clock.add(15*time.Minute - time.Second)
	if r, _ := b.signIn(t, "alice", alicePW, ""); r.code != http.StatusUnauthorized {
		t.Fatalf("a second before the end: %d", r.code)
	}
	if got := testutil.ToFloat64(e.api.logins.WithLabelValues("locked")); got != 2 {
		t.Errorf("logins{locked} = %v, want 2", got)
	}
	if n := strings.Count(e.logs.String(), `"msg":"sign-in to a locked account refused","component":"api","user":"alice"`); n != 2 {
		t.Errorf("%d log lines of a locked sign-in, want 2:\n%s", n, e.logs.String())
	}
	if !strings.Contains(e.logs.String(), `"msg":"account locked after too many failed sign-ins","component":"api","user":"alice"`) {
		t.Errorf("the lockout is not logged:\n%s", e.logs.String())
	}
	entries, err := e.db.ListAudit(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	var locks []store.AuditEntry
	for _, a := range entries {
		if a.Action == "user.lock" {
			locks = append(locks, a)
		}
	}
	if len(locks) != 1 || locks[0].Target != "user:alice" || locks[0].Detail["locked_until"] != unlock.UTC().Format(time.RFC3339) {
		t.Errorf("audit user.lock entries %+v, want one for user:alice until %s", locks, unlock.UTC().Format(time.RFC3339))
	}
	e.clock.add(time.Second)
	if r, _ := b.signIn(t, "alice", alicePW, ""); r.code != http.StatusCreated {
		t.Fatalf("after the lockout: %d %s", r.code, r.body)
	}
	if u, _ := e.db.GetUser(context.Background(), "alice"); u.FailedLogins != 0 || !u.LockedUntil.IsZero() {
		t.Errorf("a success leaves %+v", u)
	}
	// An admin unlocks by setting a new password.
	for range 5 {
		b.signIn(t, "alice", "wrong password", "")
	}
	if code, _ := e.do(t, "POST", "/api/v1/users/alice/password", e.tokens[store.RoleAdmin], `{"password":"the admin's new one"}`); code != http.StatusNoContent {
		t.Fatal(code)
	}
	if r, _ := b.signIn(t, "alice", "the admin's new one", ""); r.code != http.StatusCreated {
		t.Errorf("after an admin reset: %d %s", r.code, r.body)
	}
}

// TestLockoutUnderParallelGuessing: 50 concurrent wrong guesses get 5
// passwords checked, not 50: the others are refused as locked, with the
// same 401 as the rest.
func TestLockoutUnderParallelGuessing(t *testing.T) {
	e := newSessionEnv(t)
	e.addUser(t, "alice", store.RoleOperator, alicePW)
	var wg sync.WaitGroup
	codes := make([]int, 50)
	for i := range codes {
		wg.Go(func() {
			b := e.browser(t)
			r, _ := b.signIn(t, "alice", "guess number "+string(rune('A'+i)), "")
			codes[i] = r.code
		})
	}
	wg.Wait()
	count := map[int]int{}
	for _, c := range codes {
		count[c]++
	}
	if count[http.StatusUnauthorized] != 50 {
		t.Errorf("answers %v, want 50 x 401", count)
	}
	if got := testutil.ToFloat64(e.api.logins.WithLabelValues("bad_credentials")); got != 5 {
		t.Errorf("passwords checked (logins{bad_credentials}) = %v, want 5", got)
	}
	if got := testutil.ToFloat64(e.api.logins.WithLabelValues("locked")); got != 45 {
		t.Errorf("refused as locked (logins{locked}) = %v, want 45", got)
	}
	if r, _ := e.browser(t).signIn(t, "alice", alicePW, ""); r.code != http.StatusUnauthorized {
		t.Errorf("right password after the guessing: %d, want 401", r.code)
	}
}

var requestIDRe = regexp.MustCompile(`"request_id": "[0-9a-f]+"`)

// TestNoUserEnumeration: an unknown user, a wrong password, a disabled
// account and a locked one (wrong or right password) get the same status,
// body (but the request ID) and headers (but the request ID and date),
// whatever the attacker tries: the log and the metric still tell them
// apart.
func TestNoUserEnumeration(t *testing.T) {
	e := newSessionEnv(t)
	e.addUser(t, "alice", store.RoleOperator, alicePW)
	e.addUser(t, "dave", store.RoleOperator, alicePW)
	e.addUser(t, "carol", store.RoleOperator, alicePW)
	if code, _ := e.do(t, "POST", "/api/v1/users/dave/disable", e.tokens[store.RoleAdmin], ""); code != 200 {
		t.Fatal(code)
	}
	// The attacker locks carol by guessing.
	for i := range 5 {
		if r, _ := e.browser(t).signIn(t, "carol", "guess "+string(rune('a'+i)), ""); r.code != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d", i, r.code)
		}
	}
	// comparable drops what differs between any two answers.
	comparable := func(r reply) reply {
		h := r.h.Clone()
		h.Del("Date")
		h.Del("X-Request-Id")
		return reply{r.code, h, requestIDRe.ReplaceAll(r.body, nil)}
	}
	var first reply
	for i, c := range []struct{ user, pw string }{
		{"alice", "not alice's password"},
		{"nobody", "not alice's password"},
		{"dave", alicePW}, // right password, disabled
		{"not a valid name!", "whatever it is"},
		{"carol", "not carol's password"}, // locked
		{"carol", alicePW},                // locked, right password
		{"nobody", "not alice's password"},
	} {
		r, _ := e.browser(t).signIn(t, c.user, c.pw, "")
		r = comparable(r)
		if i == 0 {
			first = r
			if r.code != http.StatusUnauthorized {
				t.Fatalf("wrong password: %d", r.code)
			}
			continue
		}
		if r.code != first.code || string(r.body) != string(first.body) {
			t.Errorf("%s: %d %s, differs from a wrong password's %d %s", c.user, r.code, r.body, first.code, first.body)
		}
		if diff := cmp.Diff(first.h, r.h); diff != "" {
			t.Errorf("%s: headers differ from a wrong password's (-want +got):\n%s", c.user, diff)
		}
	}
	if got := testutil.ToFloat64(e.api.logins.WithLabelValues("disabled")); got != 1 {
		t.Errorf("logins{disabled} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(e.api.logins.WithLabelValues("locked")); got != 2 {
		t.Errorf("logins{locked} = %v, want 2", got)
	}
	if strings.Contains(e.logs.String(), "not carol's password") || strings.Contains(e.logs.String(), alicePW) {
		t.Errorf("a password reached the log:\n%s", e.logs.String())
	}
}

// TestSignInDefaultParams: with the production argon2id parameters, an
// unknown user costs a hash like a known one (the dummy verification).
func TestSignInDefaultParams(t *testing.T) {
	e := newSessionEnv(t, func(o *Options) { o.Passwords = nil })
	e.addUser(t, "alice", store.RoleViewer, alicePW)
	u, _ := e.db.GetUser(context.Background(), "alice")
	if !strings.HasPrefix(u.PasswordHash, "$argon2id$v=19$m=65536,t=1,p=1$") {
		t.Errorf("stored hash %q is not argon2id with the default parameters", u.PasswordHash)
	}
	b := e.browser(t)
	if r, _ := b.signIn(t, "alice", alicePW, ""); r.code != http.StatusCreated {
		t.Fatalf("sign in: %d %s", r.code, r.body)
	}
	// The fastest of three answers of each kind, alternated: a load spike
	// on a shared machine slows one answer, not the fastest of three.
	// Without the dummy hash an unknown user answers in well under a
	// tenth of a 64 MiB hash.
	var known, unknown time.Duration
	for i := range 3 {
		start := time.Now()
		b.signIn(t, "alice", "wrong password here", "")
		if d := time.Since(start); i == 0 || d < known {
			known = d
		}
		start = time.Now()
		b.signIn(t, "nobody", "wrong password here", "")
		if d := time.Since(start); i == 0 || d < unknown {
			unknown = d
		}
	}
	if unknown < known/4 {
		t.Errorf("unknown user answered in %v at best, a known one in %v: the hash is skipped", unknown, known)
	}
	// A locked account costs a hash too: without it, its answer comes
	// faster than a wrong password's and shows that it exists.
	e.addUser(t, "carol", store.RoleViewer, alicePW)
	for range 5 {
		b.signIn(t, "carol", "wrong password here", "")
	}
	var locked time.Duration
	for i := range 3 {
		start := time.Now()
		r, _ := b.signIn(t, "carol", "wrong password here", "")
		if d := time.Since(start); i == 0 || d < locked {
			locked = d
		}
		if r.code != http.StatusUnauthorized {
			t.Fatalf("locked account: %d %s", r.code, r.body)
		}
	}
	if got := testutil.ToFloat64(e.api.logins.WithLabelValues("locked")); got != 3 {
		t.Fatalf("logins{locked} = %v, want 3: carol is not locked", got)
	}
	if locked < known/4 {
		t.Errorf("a locked account answered in %v at best, a wrong password in %v: the hash is skipped", locked, known)
	}
}

// TestProvisioningRole: a provisioning user or API token may register a
// device and issue its enrollment token, and see who it is; every other
// route answers 403.
func TestProvisioningRole(t *testing.T) {
	e := newSessionEnv(t)
	e.addUser(t, "factory", store.RoleProvisioning, "factory line password")
	r, s := e.browser(t).signIn(t, "factory", "factory line password", ClientCLI)
	if r.code != http.StatusCreated {
		t.Fatalf("sign in: %d %s", r.code, r.body)
	}
	if code, body := e.do(t, "POST", "/api/v1/tokens", e.tokens[store.RoleAdmin], `{"name":"line-3","role":"provisioning"}`); code != http.StatusCreated {
		t.Fatalf("create a provisioning token: %d %s", code, body)
	} else {
		var tr CreateTokenResponse
		json.Unmarshal(body, &tr)
		e.tokens[store.RoleProvisioning] = tr.Token
	}
	for name, cred := range map[string]string{"user": s.Token, "token": e.tokens[store.RoleProvisioning]} {
		t.Run(name, func(t *testing.T) {
			id := "line-" + name
			if code, body := e.do(t, "POST", "/api/v1/devices", cred, `{"id":"`+id+`","model":"m","firmware":"1"}`); code != http.StatusCreated {
				t.Errorf("register: %d %s", code, body)
			}
			if code, body := e.do(t, "POST", "/api/v1/devices/"+id+"/token", cred, `{}`); code != http.StatusCreated && code != http.StatusOK {
				t.Errorf("enrollment token: %d %s", code, body)
			}
			if code, body := e.do(t, "POST", "/api/v1/devices/import", cred, `{"devices":[{"id":"`+id+`-b","model":"m"}]}`); code != http.StatusCreated {
				t.Errorf("import: %d %s", code, body)
			}
			for _, p := range []string{"/api/v1/whoami", "/api/v1/info"} {
				if code, body := e.do(t, "GET", p, cred, ""); code != 200 {
					t.Errorf("GET %s: %d %s", p, code, body)
				}
			}
			for _, rt := range e.api.mux.routes {
				method, path, ok := strings.Cut(rt.pattern, " ")
				if !ok || rt.role == "" || provisioningRoutes[rt.pattern] {
					continue
				}
				path = strings.NewReplacer("{id}", id, "{name}", "factory", "{model}", "m", "{serial}", "01").Replace(path)
				if code, body := e.do(t, method, path, cred, `{}`); code != http.StatusForbidden {
					t.Errorf("%s %s: %d %s, want 403", method, path, code, body)
				}
			}
			if code, body := e.do(t, "GET", "/api/v1/devices/"+id, e.tokens[store.RoleAdmin], ""); code != 200 || strings.Contains(string(body), "quarantined") {
				t.Errorf("device after the refused calls: %d %s", code, body)
			}
		})
	}
}

// TestProvisioningRoutesRegistered: every route provisioning may call is
// registered on the mux (a typo would silently grant nothing).
func TestProvisioningRoutesRegistered(t *testing.T) {
	e := newEnv(t)
	registered := map[string]bool{}
	for _, r := range e.api.mux.routes {
		registered[r.pattern] = r.provisioning
	}
	for p := range provisioningRoutes {
		if !registered[p] {
			t.Errorf("provisioningRoutes names %q, which is not registered as such", p)
		}
	}
}

// TestViewerUserCannotAct: a viewer's session is refused every unsafe
// route but its own password and sign-out, CSRF token or not.
func TestViewerUserCannotAct(t *testing.T) {
	e := newSessionEnv(t)
	e.addUser(t, "vera", store.RoleViewer, alicePW)
	b := e.mustSignIn(t, "vera", alicePW)
	for _, rt := range e.api.mux.routes {
		method, path, ok := strings.Cut(rt.pattern, " ")
		if !ok || rt.role == "" || safeMethod(method) || rt.role == store.RoleViewer {
			continue
		}
		path = strings.NewReplacer("{id}", "x", "{name}", "vera", "{model}", "m").Replace(path)
		if r := b.act(t, method, path, `{}`); r.code != http.StatusForbidden {
			t.Errorf("viewer %s %s: %d %s, want 403", method, path, r.code, r.body)
		}
	}
	if r := b.send(t, "GET", "/api/v1/devices", "", nil); r.code != 200 {
		t.Errorf("viewer read: %d", r.code)
	}
}

// TestPasswordChange: users change their own password with the current
// one, keep their session and lose the others; they cannot change
// another's; the policy is enforced with a clear message and nothing
// changes when it refuses.
func TestPasswordChange(t *testing.T) {
	e := newSessionEnv(t)
	e.addUser(t, "alice", store.RoleViewer, alicePW)
	e.addUser(t, "bob", store.RoleViewer, alicePW)
	here := e.mustSignIn(t, "alice", alicePW)
	elsewhere := e.mustSignIn(t, "alice", alicePW)
	if r := here.act(t, "POST", "/api/v1/users/alice/password", `{"password":"a new password here"}`); r.code != http.StatusForbidden {
		t.Errorf("without current_password: %d %s", r.code, r.body)
	}
	if r := here.act(t, "POST", "/api/v1/users/bob/password", `{"password":"a new password here","current_password":"`+alicePW+`"}`); r.code != http.StatusForbidden {
		t.Errorf("another user's password: %d %s", r.code, r.body)
	}
	for _, tt := range []struct{ pw, want string }{
		{"short", "at least 12 characters"},
		{strings.Repeat("x", 1025), "at most 1024 bytes"},
		{"ALICE", "at least 12"},
	} {
		body, _ := json.Marshal(PasswordRequest{Password: tt.pw, CurrentPassword: alicePW})
		if r := here.act(t, "POST", "/api/v1/users/alice/password", string(body)); r.code != http.StatusBadRequest || !strings.Contains(string(r.body), tt.want) {
			t.Errorf("password %.20q: %d %s, want 400 %q", tt.pw, r.code, r.body, tt.want)
		}
	}
	body, _ := json.Marshal(PasswordRequest{Password: "a new password here", CurrentPassword: alicePW})
	if r := here.act(t, "POST", "/api/v1/users/alice/password", string(body)); r.code != http.StatusNoContent {
		t.Fatalf("change own password: %d %s", r.code, r.body)
	}
	if r := here.send(t, "GET", "/api/v1/whoami", "", nil); r.code != 200 {
		t.Errorf("the changing session: %d, want kept", r.code)
	}
	if r := elsewhere.send(t, "GET", "/api/v1/whoami", "", nil); r.code != http.StatusUnauthorized {
		t.Errorf("the other session: %d, want 401", r.code)
	}
	if r, _ := e.browser(t).signIn(t, "alice", "a new password here", ""); r.code != http.StatusCreated {
		t.Errorf("sign in with the new password: %d", r.code)
	}
	if r, _ := e.browser(t).signIn(t, "alice", alicePW, ""); r.code != http.StatusUnauthorized {
		t.Errorf("sign in with the old password: %d", r.code)
	}
}

// TestUsersAdmin: creating users checks name, role and password with
// clear messages and writes nothing when it refuses; only admins list,
// create, disable and enable; admins cannot disable themselves.
func TestUsersAdmin(t *testing.T) {
	e := newSessionEnv(t)
	admin := e.tokens[store.RoleAdmin]
	for _, tt := range []struct{ body, want string }{
		{`{"name":"Bad Name","role":"viewer","password":"long enough password"}`, "only a-z"},
		{`{"name":"","role":"viewer","password":"long enough password"}`, "1 to 64"},
		{`{"name":"carol","role":"root","password":"long enough password"}`, "role must be"},
		{`{"name":"carol","role":"viewer","password":"short"}`, "at least 12"},
		{`{"name":"carol.longname","role":"viewer","password":"Carol.Longname"}`, "user name"},
		{`{"name":"carol","role":"viewer","password":"long enough password","admin":true}`, "unknown field"},
	} {
		if code, body := e.do(t, "POST", "/api/v1/users", admin, tt.body); code != http.StatusBadRequest || !strings.Contains(string(body), tt.want) {
			t.Errorf("%s: %d %s, want 400 %q", tt.body, code, body, tt.want)
		}
	}
	if us, _ := e.db.ListUsers(context.Background()); len(us) != 0 {
		t.Fatalf("refused creations wrote %d users", len(us))
	}
	e.addUser(t, "Carol", store.RoleAdmin, alicePW)
	if code, body := e.do(t, "POST", "/api/v1/users", admin, `{"name":"carol","role":"viewer","password":"long enough password"}`); code != http.StatusConflict {
		t.Errorf("duplicate: %d %s", code, body)
	}
	for _, role := range []store.Role{store.RoleOperator, store.RoleViewer} {
		if code, _ := e.do(t, "GET", "/api/v1/users", e.tokens[role], ""); code != http.StatusForbidden {
			t.Errorf("%s lists users: %d", role, code)
		}
	}
	code, body := e.do(t, "GET", "/api/v1/users", admin, "")
	var us []User
	json.Unmarshal(body, &us)
	if code != 200 || len(us) != 1 || us[0].Name != "carol" || us[0].Role != store.RoleAdmin {
		t.Errorf("list: %d %s", code, body)
	}
	carol := e.mustSignIn(t, "carol", alicePW)
	if r := carol.act(t, "POST", "/api/v1/users/carol/disable", ""); r.code != http.StatusConflict {
		t.Errorf("self-disable: %d %s", r.code, r.body)
	}
	if code, _ := e.do(t, "POST", "/api/v1/users/nobody/disable", admin, ""); code != http.StatusNotFound {
		t.Errorf("disable unknown: %d", code)
	}
	e.do(t, "POST", "/api/v1/users/carol/disable", admin, "")
	if code, body := e.do(t, "POST", "/api/v1/users/carol/enable", admin, ""); code != 200 || strings.Contains(string(body), "disabled_at") {
		t.Errorf("enable: %d %s", code, body)
	}
	if r := carol.send(t, "GET", "/api/v1/whoami", "", nil); r.code != http.StatusUnauthorized {
		t.Errorf("enable revived a session: %d", r.code)
	}
	e.mustSignIn(t, "carol", alicePW)
}

// TestSecretsNeverShown: no password hash in any answer or log line, and
// no password or session secret in the log.
func TestSecretsNeverShown(t *testing.T) {
	e := newSessionEnv(t)
	e.addUser(t, "alice", store.RoleAdmin, alicePW)
	b := e.browser(t)
	var answers []string
	r, s := b.signIn(t, "alice", alicePW, "")
	answers = append(answers, string(r.body))
	b.signIn(t, "alice", "a wrong password!", "")
	e.browser(t).signIn(t, alicePW, alicePW, "") // a password typed as the user name
	rc, cli := e.browser(t).signIn(t, "alice", alicePW, ClientCLI)
	answers = append(answers, string(rc.body))
	for _, p := range []string{"/api/v1/users", "/api/v1/session", "/api/v1/whoami"} {
		answers = append(answers, string(b.send(t, "GET", p, "", nil).body))
	}
	answers = append(answers, string(b.act(t, "POST", "/api/v1/users/alice/enable", "").body))
	u, _ := e.db.GetUser(context.Background(), "alice")
	cookie := b.c.Jar.Cookies(&url.URL{Scheme: "https", Host: strings.TrimPrefix(e.srv.URL, "https://")})[0].Value
	for _, a := range answers {
		if strings.Contains(a, "argon2") || strings.Contains(a, u.PasswordHash) {
			t.Errorf("an answer holds the password hash: %s", a)
		}
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "signed in") {
		t.Fatal("nothing logged: the capture is not wired")
	}
	for what, secretText := range map[string]string{"hash": u.PasswordHash, "argon2": "$argon2id", "password": alicePW, "cookie": cookie,
		"cli token": cli.Token, "csrf": s.CSRFToken} {
		if strings.Contains(logs, secretText) {
			t.Errorf("the log holds the %s", what)
		}
	}
}

// TestSignInSourceLimit: failed sign-ins count against the source's
// authentication-failure budget: past it, even the right password gets
// 429 from that source.
func TestSignInSourceLimit(t *testing.T) {
	e := newSessionEnv(t, func(o *Options) { o.Limits.AuthFailuresPerMinute = 3 })
	e.addUser(t, "alice", store.RoleViewer, alicePW)
	b := e.browser(t)
	for _, u := range []string{"x1", "x2", "x3"} {
		if r, _ := b.signIn(t, u, "not a password!", ""); r.code != http.StatusUnauthorized {
			t.Fatalf("%s: %d", u, r.code)
		}
	}
	if r, _ := b.signIn(t, "alice", alicePW, ""); r.code != http.StatusTooManyRequests || r.h.Get("Retry-After") == "" {
		t.Errorf("over the budget: %d %s, want 429 with Retry-After", r.code, r.body)
	}
	if u, _ := e.db.GetUser(context.Background(), "alice"); u.FailedLogins != 0 {
		t.Errorf("a refused source's attempt counted against the account: %d", u.FailedLogins)
	}
}

// TestPruneSessions: a session is deleted a day after it ended (signed
// out or expired), not before; a live one stays.
func TestPruneSessions(t *testing.T) {
	e := newSessionEnv(t)
	e.addUser(t, "alice", store.RoleViewer, alicePW)
	out := e.mustSignIn(t, "alice", alicePW)
	out.act(t, "DELETE", "/api/v1/session", "")
	e.clock.add(11 * time.Hour)
	e.mustSignIn(t, "alice", alicePW) // ends at 23 h: kept at 25 h
	ctx := context.Background()
	if n, err := e.api.PruneSessions(ctx); err != nil || n != 0 {
		t.Errorf("11 h after sign-out: pruned %d, %v; want 0", n, err)
	}
	e.clock.add(14 * time.Hour)
	if n, err := e.api.PruneSessions(ctx); err != nil || n != 1 {
		t.Errorf("25 h after sign-out: pruned %d, %v; want 1 (the signed-out one, not the one that ends at 23 h)", n, err)
	}
}

// TestEndedSessionSpendsNoFailureBudget: a console left open past its
// session keeps sending the ended cookie; those requests are refused
// (401, the cookie expired) but are not guesses, so the address can
// still sign in; a forged session secret does spend the budget.
func TestEndedSessionSpendsNoFailureBudget(t *testing.T) {
	e := newSessionEnv(t, func(o *Options) { o.Limits.AuthFailuresPerMinute = 3 })
	e.addUser(t, "alice", store.RoleViewer, alicePW)
	b := e.mustSignIn(t, "alice", alicePW)
	e.clock.add(31 * time.Minute)
	stale := b.c.Jar.Cookies(&url.URL{Scheme: "https", Host: strings.TrimPrefix(e.srv.URL, "https://")})
	replay := e.browser(t)
	for range 10 {
		replay.c.Jar.SetCookies(&url.URL{Scheme: "https", Host: strings.TrimPrefix(e.srv.URL, "https://")}, stale)
		r := replay.send(t, "GET", "/api/v1/overview", "", nil)
		if r.code != http.StatusUnauthorized || !strings.Contains(string(r.body), "session ended") {
			t.Fatalf("ended session: %d %s", r.code, r.body)
		}
		if c := (&http.Response{Header: r.h}).Cookies(); len(c) != 1 || c[0].MaxAge >= 0 {
			t.Errorf("the ended cookie is not expired: %v", r.h.Values("Set-Cookie"))
		}
	}
	if r, _ := e.browser(t).signIn(t, "alice", alicePW, ""); r.code != http.StatusCreated {
		t.Fatalf("sign in after 10 requests with the ended cookie: %d %s", r.code, r.body)
	}
	forged := strings.SplitN(stale[0].Value, "_", 3)
	for range 3 {
		e.do(t, "GET", "/api/v1/whoami", forged[0]+"_"+forged[1]+"_forgedsecret", "")
	}
	if code, _ := e.do(t, "GET", "/api/v1/whoami", forged[0]+"_"+forged[1]+"_forgedsecret", ""); code != http.StatusTooManyRequests {
		t.Errorf("forged session secrets past the budget: %d, want 429", code)
	}
}

// TestRehashOnSignIn: a hash made with older argon2id parameters still
// signs in, and is then replaced by one with the current parameters,
// without signing out the user's other sessions or moving the password's
// change time.
func TestRehashOnSignIn(t *testing.T) {
	e := newSessionEnv(t)
	old, err := password.NewHasher(password.Params{Memory: 512, Time: 2, Threads: 1}, 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	h, err := old.Hash(ctx, alicePW)
	if err != nil {
		t.Fatal(err)
	}
	changed := e.clock.now().Add(-time.Hour).UTC()
	if err := e.db.CreateUser(ctx, store.User{Name: "alice", Role: store.RoleViewer, PasswordHash: h, CreatedAt: changed, PasswordChangedAt: changed}); err != nil {
		t.Fatal(err)
	}
	first := e.mustSignIn(t, "alice", alicePW)
	u, _ := e.db.GetUser(ctx, "alice")
	if !strings.HasPrefix(u.PasswordHash, "$argon2id$v=19$m=1024,t=1,p=1$") || !u.PasswordChangedAt.Equal(changed) {
		t.Errorf("after sign-in: hash %q changed at %v; want the current parameters, change time %v kept", u.PasswordHash, u.PasswordChangedAt, changed)
	}
	e.mustSignIn(t, "alice", alicePW)
	if r := first.send(t, "GET", "/api/v1/whoami", "", nil); r.code != 200 {
		t.Errorf("the rehash signed out a session: %d", r.code)
	}
}
