// Package api is Ward's operator HTTPS API (/api/v1/..., JSON), with bearer
// token authentication and role-based authorisation (admin, operator,
// viewer) on every route, plus the public endpoints that need none: the
// EST front-end (mounted from package est), /crl and /healthz.
//
// Errors are JSON objects {"status", "message", "request_id"}; internal
// detail is logged with the request ID and never sent. A panic in a handler
// becomes a 500, is logged with its stack and counted in
// ward_api_panics_total.
package api

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"golang.org/x/sync/singleflight"

	"github.com/wardproject/ward/internal/buildinfo"
	"github.com/wardproject/ward/internal/fleet"
	"github.com/wardproject/ward/internal/password"
	"github.com/wardproject/ward/internal/pki"
	"github.com/wardproject/ward/internal/ratelimit"
	"github.com/wardproject/ward/internal/secret"
	"github.com/wardproject/ward/internal/store"
)

// Registry is the device registry the API drives. *fleet.Registry implements it.
type Registry interface {
	Add(ctx context.Context, nd fleet.NewDevice) (store.Device, fleet.Enrollment, error)
	NewToken(ctx context.Context, id string, ttl time.Duration) (fleet.Enrollment, error)
	Get(ctx context.Context, id string, events int) (fleet.View, error)
	List(ctx context.Context) ([]fleet.View, error)
	Query(ctx context.Context, q fleet.Query) ([]fleet.View, string, error)
	Revoke(ctx context.Context, id, reason string) (store.Device, []string, error)
	Retire(ctx context.Context, id, reason string) (store.Device, []string, error)
	Quarantine(ctx context.Context, id, reason string, mode store.QuarantineMode) (store.Device, error)
	Release(ctx context.Context, id string) (store.Device, error)
	SetPolicy(ctx context.Context, id string, p store.Policy) (store.Device, error)
	SetModelPolicy(ctx context.Context, p store.ModelPolicy) error
	PatchPolicy(ctx context.Context, id string, pp fleet.PolicyPatch, dryRun bool) (fleet.PolicyChange, error)
	PatchModelPolicy(ctx context.Context, model string, pp fleet.PolicyPatch, dryRun bool) (fleet.PolicyChange, error)
	Import(ctx context.Context, nds []fleet.NewDevice) ([]fleet.Imported, error)
	Delete(ctx context.Context, id string) error
}

// Store is the read access the API needs besides the registry, and the
// accounts and sessions it keeps.
type Store interface {
	TokenStore
	UserStore
	ListCertificates(ctx context.Context, deviceID string) ([]store.Certificate, error)
	ListEvents(ctx context.Context, deviceID string, limit int) ([]store.Event, error)
	ListModelPolicies(ctx context.Context) ([]store.ModelPolicy, error)
	// CountDevices and CountAlerts feed GET /api/v1/overview.
	CountDevices(ctx context.Context) (map[store.DeviceStatus]int, error)
	CountAlerts(ctx context.Context) (map[string]map[string]int, error)
}

// CA is what the API shows and serves of the certificate authority.
type CA interface {
	Root() *x509.Certificate
	Issuer() *x509.Certificate
	RootPEM() []byte
	ChainPEM() []byte
	CRL() []byte
	CRLPEM() []byte
}

// Options configure the API. Registry, Store and CA are required.
type Options struct {
	Registry Registry
	Store    Store
	CA       CA
	// EST serves /.well-known/est/ (nil: not mounted).
	EST http.Handler
	// Metrics serves /metrics to authenticated viewers (nil: not mounted).
	Metrics http.Handler
	// Alerts, Mitigator, Detection and DetectStore enable the detection
	// routes (nil: not mounted).
	Alerts      Alerts
	Mitigator   Mitigator
	Detection   Detection
	DetectStore DetectStore
	Addresses   AddressBook
	Compliance  Compliance
	// ConnectedCount, when set, counts the connected devices for the
	// overview (a cluster's session directory); nil: Addresses, this
	// node's sessions.
	ConnectedCount func(ctx context.Context) (int, error)
	// ConnectedAddresses, when set, maps every connected device to its
	// sessions' addresses for GET /api/v1/network/devices (a cluster's
	// session directory: the devices on every gateway node); nil:
	// Addresses, this node's sessions.
	ConnectedAddresses func(ctx context.Context) (map[string][]string, error)
	// AuditVerifier enables GET /api/v1/audit-log/verify (nil: not mounted).
	AuditVerifier AuditVerifier
	// TUF serves the firmware repository under /tuf/ to devices holding a
	// Ward certificate, checked by Devices, and to any API token (nil: not
	// mounted; Devices is then required).
	TUF     http.Handler
	Devices DeviceChecker
	// Rollouts enables the /api/v1/rollouts routes (nil: not mounted).
	Rollouts Rollouts
	// Firmware enables /api/v1/firmware (nil: not mounted).
	Firmware Firmware
	// Console is the web console (package web), served at the patterns it
	// lists with its own Content-Security-Policy (nil: not mounted; / then
	// answers the JSON 404).
	Console Console
	// Stream enables GET /api/v1/stream, the live feed (nil: not mounted).
	Stream Stream
	// MQTTPort reports this node's gateway port for /api/v1/info (nil,
	// or 0: the node runs no gateway, and the field is left out).
	MQTTPort func() int
	// Ready reports whether every listener is up, for /healthz.
	Ready func() bool
	// Problems lists what an operator must fix that does not stop the
	// server (a TUF timestamp that could not be re-signed): /healthz then
	// answers 200 {"status": "degraded", "problems": [...]} (nil: none).
	Problems func() []string
	// Limits bound the unauthenticated requests of one source.
	Limits Limits
	// Sessions configure sign-in, lockout and session expiry.
	Sessions Sessions
	// Passwords hashes and verifies users' passwords (nil: a Hasher with
	// password.DefaultParams, two hashes at once).
	Passwords *password.Hasher
	// AdminTokenTTL is the lifetime of the admin token that POST
	// /api/v1/tokens/rotate-admin issues (0: DefaultTokenTTL).
	AdminTokenTTL time.Duration
	Logger        *slog.Logger
	Registerer    prometheus.Registerer
	Now           func() time.Time
}

// Limits bound what one source (an IPv4 address or an IPv6 /64) may ask
// without a valid token; zero fields take the defaults, which are
// config's (api.publicrate, api.publicburst,
// api.auth_failures_per_minute). A refused request gets 429 with
// Retry-After and the API's JSON error.
type Limits struct {
	// PublicRate and PublicBurst: /crl and /healthz requests per second,
	// and at once.
	PublicRate  float64
	PublicBurst int
	// AuthFailuresPerMinute: failed bearer-token authentications, at once
	// and per minute. Past it, every authenticated route answers the source
	// 429 without looking at its token.
	AuthFailuresPerMinute int
}

// Default limits (see Limits).
const (
	DefaultPublicRate            = 20
	DefaultPublicBurst           = 100
	DefaultAuthFailuresPerMinute = 30
)

// MaxBodyBytes bounds API request bodies.
const MaxBodyBytes = 1 << 20

// Server is the HTTPS handler for the API, EST, CRL and health endpoints.
type Server struct {
	opts     Options
	log      *slog.Logger
	now      func() time.Time
	mux      *routeMux
	panics   prometheus.Counter
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	limited  *prometheus.CounterVec
	// tufRefused counts device certificates /tuf/ refused, by reason.
	tufRefused *prometheus.CounterVec
	bySource   *ratelimit.Limiter // /crl, /healthz per source
	authFail   *ratelimit.Limiter // failed token authentications and sign-ins per source
	// logins counts sign-ins by result.
	logins *prometheus.CounterVec
	hasher *password.Hasher
	// handler is the mux behind cross-origin protection.
	handler http.Handler
	// verifying runs one audit-log verification at a time: concurrent
	// requests share its result, so viewers cannot make the server walk
	// the whole chain many times at once.
	verifying singleflight.Group
}

// New returns the API server handler.
func New(opts Options) (*Server, error) {
	if opts.Registry == nil || opts.Store == nil || opts.CA == nil {
		return nil, errors.New("api: Options.Registry, Options.Store and Options.CA are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.TUF != nil && opts.Devices == nil {
		return nil, errors.New("api: Options.Devices is required with Options.TUF")
	}
	if opts.Ready == nil {
		opts.Ready = func() bool { return true }
	}
	if opts.AdminTokenTTL == 0 {
		opts.AdminTokenTTL = DefaultTokenTTL
	}
	if err := CheckTokenTTL(opts.AdminTokenTTL); err != nil {
		return nil, fmt.Errorf("api: Options.AdminTokenTTL: %w", err)
	}
	if opts.Limits.PublicRate == 0 {
		opts.Limits.PublicRate = DefaultPublicRate
	}
	if opts.Limits.PublicBurst == 0 {
		opts.Limits.PublicBurst = DefaultPublicBurst
	}
	if opts.Limits.AuthFailuresPerMinute == 0 {
		opts.Limits.AuthFailuresPerMinute = DefaultAuthFailuresPerMinute
	}
	if opts.Sessions.IdleTimeout == 0 {
		opts.Sessions.IdleTimeout = DefaultSessionIdleTimeout
	}
	if opts.Sessions.Lifetime == 0 {
		opts.Sessions.Lifetime = DefaultSessionLifetime
	}
	if opts.Sessions.MaxFailures == 0 {
		opts.Sessions.MaxFailures = DefaultLoginMaxFailures
	}
	if opts.Sessions.Lockout == 0 {
		opts.Sessions.Lockout = DefaultLoginLockout
	}
	if opts.Sessions.IdleTimeout < 0 || opts.Sessions.Lifetime < 0 || opts.Sessions.MaxFailures < 0 || opts.Sessions.Lockout < 0 {
		return nil, fmt.Errorf("api: Options.Sessions %+v: negative values", opts.Sessions)
	}
	if opts.Passwords == nil {
		h, err := password.NewHasher(password.DefaultParams, 0)
		if err != nil {
			return nil, fmt.Errorf("api: %w", err)
		}
		opts.Passwords = h
	}
	pub, err := ratelimit.New(ratelimit.Options{Rate: opts.Limits.PublicRate, Burst: opts.Limits.PublicBurst, Now: opts.Now})
	if err != nil {
		return nil, fmt.Errorf("api public limit: %w", err)
	}
	n := opts.Limits.AuthFailuresPerMinute
	authFail, err := ratelimit.New(ratelimit.Options{Rate: float64(n) / 60, Burst: n, Now: opts.Now})
	if err != nil {
		return nil, fmt.Errorf("api authentication failure limit: %w", err)
	}
	f := promauto.With(opts.Registerer)
	s := &Server{opts: opts, log: opts.Logger.With("component", "api"), now: opts.Now, mux: &routeMux{ServeMux: http.NewServeMux()},
		panics: f.NewCounter(prometheus.CounterOpts{Name: "ward_api_panics_total", Help: "Handler panics turned into 500 responses."}),
		requests: f.NewCounterVec(prometheus.CounterOpts{Name: "ward_api_requests_total", Help: "API requests by route and status class."},
			[]string{"route", "code"}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{Name: "ward_api_request_duration_seconds",
			Help:    "API request latency, from the handler's start to its return, by route (the registered pattern, never the raw path) and status class.",
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2.5, 5, 10}}, []string{"route", "code"}),
		limited: f.NewCounterVec(prometheus.CounterOpts{Name: "ward_api_rate_limited_total",
			Help: "API requests refused with 429, by route and the limit hit (public or auth_failure)."}, []string{"route", "limit"}),
		tufRefused: f.NewCounterVec(prometheus.CounterOpts{Name: "ward_api_tuf_refused_total",
			Help: "Device certificates refused by /tuf/ (403), by reason."}, []string{"reason"}),
		logins: f.NewCounterVec(prometheus.CounterOpts{Name: "ward_api_logins_total",
			Help: "Sign-ins (POST /api/v1/session) by result: ok, bad_credentials (unknown user or wrong password), locked, disabled."}, []string{"result"}),
		bySource: pub, authFail: authFail, hasher: opts.Passwords,
	}
	for _, r := range []string{"ok", "bad_credentials", "locked", "disabled"} {
		s.logins.WithLabelValues(r)
	}
	s.routes()
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(s.wrap("cross-origin", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, &Error{Status: http.StatusForbidden, Public: "cross-origin request refused: unsafe requests must come from this server's own pages or from a non-browser client"})
	}))
	s.handler = cop.Handler(s.mux)
	return s, nil
}

// routeMux is the server's ServeMux. It records every pattern registered
// on it, with the least role of its handler, for the OpenAPI document and
// the tests that hold the document to the routes.
type routeMux struct {
	*http.ServeMux
	routes []registeredRoute
}

// registeredRoute is a pattern registered on the mux, its least role
// ("" for public routes) and whether the provisioning role may call it.
type registeredRoute struct {
	pattern      string
	role         store.Role
	provisioning bool
}

// handle registers and records a pattern whose handler needs role ("":
// public).
func (m *routeMux) handle(pattern string, role store.Role, h http.Handler) {
	m.ServeMux.Handle(pattern, h)
	m.routes = append(m.routes, registeredRoute{pattern: pattern, role: role, provisioning: provisioningRoutes[pattern]})
}

// public registers a route anyone may call, within its source's budget.
func (s *Server) public(pattern string, h http.HandlerFunc) {
	s.mux.handle(pattern, "", s.wrap(pattern, func(w http.ResponseWriter, r *http.Request) {
		if ok, wait := s.bySource.Allow(ratelimit.SourceKey(r.RemoteAddr)); !ok {
			s.tooMany(w, r, pattern, "public", wait)
			return
		}
		h(w, r)
	}))
}

// tooMany answers 429 with Retry-After and the JSON error. It is counted,
// not logged: a flood would flood the log.
func (s *Server) tooMany(w http.ResponseWriter, r *http.Request, route, limit string, wait time.Duration) {
	s.limited.WithLabelValues(route, limit).Inc()
	after := ratelimit.RetryAfter(wait)
	w.Header().Set("Retry-After", after)
	s.writeError(w, r, &Error{Status: http.StatusTooManyRequests,
		Public: "too many requests from this address; retry after " + after + " seconds"})
}

// auth registers a route that needs an API token or a session of at
// least role min (or of the provisioning role, for the routes in
// provisioningRoutes).
func (s *Server) auth(pattern string, min store.Role, h handler) {
	perm := permission{min: min, provisioning: provisioningRoutes[pattern]}
	s.mux.handle(pattern, min, s.wrap(pattern, s.authenticated(pattern, perm, h)))
}

type ctxKey int

const (
	keyPrincipal ctxKey = iota
	keyRequestID
	keySession
)

// handler is an API handler that returns an error to render.
type handler func(w http.ResponseWriter, r *http.Request) error

// urgent runs h with its writes marked store.Urgent: a containment
// request (revoke, retire, quarantine) and its audit entry go ahead of
// the routine writes an attack may be flooding the store with.
func urgent(h handler) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		return h(w, r.WithContext(store.Urgent(r.Context())))
	}
}

func (s *Server) routes() {
	pub, auth := s.public, s.auth
	pub("GET /healthz", s.healthz)
	pub("GET /crl", s.crl)
	if s.opts.EST != nil {
		s.mux.handle("/.well-known/est/", "", s.wrap("/.well-known/est/", s.opts.EST.ServeHTTP))
	}
	if s.opts.Metrics != nil {
		auth("GET /metrics", store.RoleViewer, func(w http.ResponseWriter, r *http.Request) error {
			s.opts.Metrics.ServeHTTP(w, r)
			return nil
		})
	}
	s.sessionRoutes()
	auth("GET /api/v1/whoami", store.RoleViewer, s.whoami)
	auth("GET /api/v1/info", store.RoleViewer, s.info)
	auth("GET /api/v1/openapi.json", store.RoleViewer, s.serveOpenAPI)
	auth("GET /api/v1/overview", store.RoleViewer, s.overview)
	auth("GET /api/v1/devices", store.RoleViewer, s.listDevices)
	auth("POST /api/v1/devices", store.RoleOperator, s.addDevice)
	auth("GET /api/v1/devices/{id}", store.RoleViewer, s.getDevice)
	auth("GET /api/v1/devices/{id}/events", store.RoleViewer, s.deviceEvents)
	auth("POST /api/v1/devices/{id}/token", store.RoleOperator, s.deviceToken)
	auth("POST /api/v1/devices/{id}/revoke", store.RoleOperator, urgent(s.revokeDevice))
	auth("POST /api/v1/devices/{id}/retire", store.RoleOperator, urgent(s.retireDevice))
	auth("POST /api/v1/devices/{id}/quarantine", store.RoleOperator, urgent(s.quarantineDevice))
	auth("POST /api/v1/devices/{id}/release", store.RoleOperator, s.releaseDevice)
	auth("PUT /api/v1/devices/{id}/policy", store.RoleOperator, s.setPolicy)
	auth("PATCH /api/v1/devices/{id}/policy", store.RoleOperator, s.patchPolicy)
	auth("DELETE /api/v1/devices/{id}", store.RoleOperator, s.deleteDevice)
	auth("POST /api/v1/devices/import", store.RoleOperator, s.importDevices)
	auth("GET /api/v1/models", store.RoleViewer, s.listModels)
	auth("GET /api/v1/models/{model}", store.RoleViewer, s.getModel)
	auth("PUT /api/v1/models/{model}/policy", store.RoleOperator, s.setModelPolicy)
	auth("PATCH /api/v1/models/{model}/policy", store.RoleOperator, s.patchModelPolicy)
	auth("GET /api/v1/events", store.RoleViewer, s.listEvents)
	auth("GET /api/v1/ca", store.RoleViewer, s.caInfo)
	auth("GET /api/v1/certificates", store.RoleViewer, s.listCerts)
	auth("GET /api/v1/tokens", store.RoleAdmin, s.listTokens)
	auth("POST /api/v1/tokens", store.RoleAdmin, s.createToken)
	auth("DELETE /api/v1/tokens/{id}", store.RoleAdmin, s.revokeToken)
	auth("POST /api/v1/tokens/rotate-admin", store.RoleAdmin, s.rotateAdmin)
	s.userRoutes()
	s.detectRoutes()
	s.complianceRoutes()
	s.firmwareRoutes()
	s.tufRoute()
	s.rolloutRoutes()
	s.streamRoute()
	if s.opts.Console != nil {
		// Not API routes: not recorded for the OpenAPI document.
		h := s.wrap("console", s.opts.Console.ServeHTTP)
		for _, p := range s.opts.Console.Patterns() {
			s.mux.ServeMux.Handle(p, h)
		}
	}
	s.mux.handle("/", "", s.wrap("other", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, &Error{Status: http.StatusNotFound, Public: "no such route: " + r.Method + " " + r.URL.Path})
	}))
}

// Console is the web console: a handler for the ServeMux patterns it
// lists (GET of its pages and assets). *web.Console implements it. It sets
// its own Content-Security-Policy over the API's.
type Console interface {
	http.Handler
	Patterns() []string
}

// ServeHTTP implements http.Handler. Every response, whatever the route
// (API, EST, /crl, /healthz, /metrics, a 404), carries the security
// headers; API responses are never cached (they may carry tokens). A
// cross-site unsafe request (a browser's Sec-Fetch-Site, or an Origin
// that is not this host) is refused with 403 before any route sees it
// (http.CrossOriginProtection): a page elsewhere cannot make a signed-in
// operator's browser act, whatever its cookies.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	SecurityHeaders(w.Header())
	if strings.HasPrefix(r.URL.Path, "/api/") {
		w.Header().Set("Cache-Control", "no-store")
	}
	s.handler.ServeHTTP(w, r)
}

// SecurityHeaders sets the headers every HTTPS response of Ward carries:
// HSTS for a year, no MIME sniffing, a Content-Security-Policy that loads
// nothing and may not be framed (the API and EST serve no pages), and no
// Referer. The web console (package web) replaces the policy with its
// own, wider one on its own routes.
func SecurityHeaders(h http.Header) {
	h.Set("Strict-Transport-Security", "max-age=31536000")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	h.Set("Referrer-Policy", "no-referrer")
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection (flushes and
// deadlines of the live stream).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func newRequestID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// wrap adds request ID, panic recovery and metrics around a handler.
func (s *Server) wrap(route string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		began := time.Now() // wall time for a latency metric, not logic
		rid := newRequestID()
		w.Header().Set("X-Request-Id", rid)
		r = r.WithContext(context.WithValue(r.Context(), keyRequestID, rid))
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.panics.Inc()
				s.log.Error("handler panic", "request_id", rid, "route", route, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				if sw.status == 0 {
					s.writeError(sw, r, &Error{Status: http.StatusInternalServerError, Public: "internal error"})
				}
			}
			code := sw.status
			if code == 0 {
				code = http.StatusOK
			}
			class := strconv.Itoa(code/100) + "xx"
			s.requests.WithLabelValues(route, class).Inc()
			s.duration.WithLabelValues(route, class).Observe(time.Since(began).Seconds())
		}()
		h(sw, r)
	})
}

// authenticated checks the request's credential: an API token or a CLI
// session's token in Authorization: Bearer, or the console's session
// cookie. A source that has failed authentication too often gets 429
// before its credential is even looked at, so that guessing tokens (or
// flooding the store with lookups) stops. A cookie is sent by the browser
// on its own, so an unsafe request authenticated by one must also carry
// the session's CSRF token in X-CSRF-Token.
func (s *Server) authenticated(route string, perm permission, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		raw, bearer := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		var cookie string
		if !bearer {
			if c, err := r.Cookie(SessionCookie); err == nil {
				cookie = c.Value
			}
		}
		if !bearer && cookie == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="ward"`)
			s.writeError(w, r, &Error{Status: http.StatusUnauthorized, Public: "missing bearer token: set WARD_TOKEN or --token, or sign in (ward login)"})
			return
		}
		src := ratelimit.SourceKey(r.RemoteAddr)
		if ok, wait := s.authFail.Check(src); !ok {
			s.tooMany(w, r, route, "auth_failure", wait)
			return
		}
		p, sess, err := s.identify(r.Context(), strings.TrimSpace(raw), cookie)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="ward", error="invalid_token"`)
			switch {
			case errors.Is(err, errSessionEnded):
				// A genuine session that ended (its secret matched): not a
				// guess, so it spends no failure budget (a console left open
				// past its session would otherwise lock its own address out
				// of signing in again); the browser is told to drop it.
				if cookie != "" {
					http.SetCookie(w, s.sessionCookie("", -1))
				}
				s.writeError(w, r, &Error{Status: http.StatusUnauthorized, Public: "session ended (signed out, expired or idle, or the account changed): sign in again"})
			case errors.Is(err, ErrUnauthenticated):
				s.authFail.Allow(src)
				s.log.Warn("API authentication failed", "remote_addr", r.RemoteAddr, "request_id", requestID(r), "credential", credentialKind(bearer, raw))
				s.writeError(w, r, &Error{Status: http.StatusUnauthorized, Public: unauthenticatedMessage(bearer, raw)})
			default:
				s.writeError(w, r, &Error{Status: http.StatusInternalServerError, Public: "internal error", Err: err})
			}
			return
		}
		if cookie != "" && !safeMethod(r.Method) && !secret.EqualText(r.Header.Get(CSRFHeader), sess.CSRFToken) {
			s.log.Warn("request without the session's CSRF token refused", "remote_addr", r.RemoteAddr, "request_id", requestID(r), "actor", p.Actor())
			s.writeError(w, r, &Error{Status: http.StatusForbidden, Public: "missing or wrong CSRF token: send the session's csrf_token in " + CSRFHeader})
			return
		}
		if !perm.allows(p.Role) {
			s.writeError(w, r, &Error{Status: http.StatusForbidden, Public: fmt.Sprintf("role %s may not do this (needs %s)", p.Role, perm)})
			return
		}
		ctx := context.WithValue(r.Context(), keyPrincipal, p)
		if sess.ID != "" {
			ctx = context.WithValue(ctx, keySession, sess)
		}
		r = r.WithContext(ctx)
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	}
}

// identify authenticates a bearer credential (an API token or a session
// token) or, without one, a session cookie. It returns the session too
// when the credential is one.
func (s *Server) identify(ctx context.Context, bearer, cookie string) (Principal, store.Session, error) {
	if cookie != "" {
		return s.authenticateSession(ctx, cookie)
	}
	if strings.HasPrefix(bearer, sessionPrefix) {
		return s.authenticateSession(ctx, bearer)
	}
	tok, err := Authenticate(ctx, s.opts.Store, bearer, s.now())
	if err != nil {
		return Principal{}, store.Session{}, err
	}
	return Principal{Kind: PrincipalToken, ID: tok.ID, Name: tok.Name, Role: tok.Role}, store.Session{}, nil
}

// credentialKind names the kind of credential for the log (never the
// credential).
func credentialKind(bearer bool, raw string) string {
	switch {
	case !bearer:
		return "cookie"
	case strings.HasPrefix(strings.TrimSpace(raw), sessionPrefix):
		return "session"
	}
	return "token"
}

// unauthenticatedMessage says what was refused, for the caller.
func unauthenticatedMessage(bearer bool, raw string) string {
	if credentialKind(bearer, raw) == "token" {
		return "invalid, revoked or expired API token"
	}
	return "invalid, expired or signed-out session: sign in again"
}

// safeMethod reports whether a method only reads (RFC 9110 section 9.2.1).
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

func requestID(r *http.Request) string {
	v, _ := r.Context().Value(keyRequestID).(string)
	return v
}

// Error is an API error: Public is rendered, Err is logged with the request ID.
type Error struct {
	Status int
	Public string
	Err    error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Public + ": " + e.Err.Error()
	}
	return e.Public
}

func (e *Error) Unwrap() error { return e.Err }

// toError maps domain errors to API errors.
func toError(err error) *Error {
	var ae *Error
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.Is(err, store.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Public: err.Error(), Err: err}
	case errors.Is(err, store.ErrConflict):
		return &Error{Status: http.StatusConflict, Public: err.Error() + " (already exists)", Err: err}
	case errors.Is(err, fleet.ErrQuarantined), errors.Is(err, fleet.ErrWrongState), errors.Is(err, fleet.ErrEnrolled):
		return &Error{Status: http.StatusConflict, Public: err.Error(), Err: err}
	case errors.Is(err, fleet.ErrBadRequest), errors.Is(err, pki.ErrBadDeviceID):
		return &Error{Status: http.StatusBadRequest, Public: err.Error(), Err: err}
	}
	return &Error{Status: http.StatusInternalServerError, Public: "internal error", Err: err}
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := toError(err)
	rid := requestID(r)
	if e.Status >= 500 {
		s.log.Error("request failed", "request_id", rid, "method", r.Method, "path", r.URL.Path, "err", e.Err)
	}
	writeJSON(w, e.Status, map[string]any{"status": e.Status, "message": e.Public, "request_id": rid})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// decode reads a JSON body strictly: bounded size, unknown fields refused.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	return decodeN(w, r, v, MaxBodyBytes)
}

// decodeN is decode with a body of at most limit bytes.
func decodeN(w http.ResponseWriter, r *http.Request, v any, limit int64) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return &Error{Status: http.StatusBadRequest, Public: "empty request body: send a JSON object"}
		}
		return &Error{Status: http.StatusBadRequest, Public: "invalid JSON body: " + err.Error()}
	}
	if dec.More() {
		return &Error{Status: http.StatusBadRequest, Public: "invalid JSON body: more than one value"}
	}
	return nil
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if !s.opts.Ready() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "starting"})
		return
	}
	if s.opts.Problems != nil {
		if ps := s.opts.Problems(); len(ps) > 0 {
			writeJSON(w, http.StatusOK, HealthResponse{Status: "degraded", Problems: ps})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) crl(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Query().Get("format") {
	case "pem":
		w.Header().Set("Content-Type", "application/x-pem-file")
		w.Write(s.opts.CA.CRLPEM())
	case "", "der":
		w.Header().Set("Content-Type", "application/pkix-crl")
		w.Write(s.opts.CA.CRL())
	default:
		s.writeError(w, r, &Error{Status: http.StatusBadRequest, Public: "format must be der or pem"})
	}
}

// Whoami answers GET /api/v1/whoami: the calling principal. For an API
// token it keeps the token's fields (id, name, role, created_at,
// expires_at); for a user, the session's expiry.
type Whoami struct {
	Kind      string     `json:"kind"`
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Role      store.Role `json:"role"`
	CreatedAt time.Time  `json:"created_at,omitzero"`
	ExpiresAt time.Time  `json:"expires_at,omitzero"`
}

func (s *Server) whoami(w http.ResponseWriter, r *http.Request) error {
	p := principalOf(r)
	out := Whoami{Kind: p.Kind, ID: p.ID, Name: p.Name, Role: p.Role}
	if sess, ok := r.Context().Value(keySession).(store.Session); ok {
		out.CreatedAt, out.ExpiresAt = sess.CreatedAt, sess.ExpiresAt
	} else if p.Kind == PrincipalToken {
		t, err := s.opts.Store.GetAPIToken(r.Context(), p.ID)
		if err != nil {
			return err
		}
		out.CreatedAt, out.ExpiresAt = t.CreatedAt, t.ExpiresAt
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) info(w http.ResponseWriter, r *http.Request) error {
	in := Info{Version: Version, DetectWindow: "1m0s", Build: buildinfo.Read()}
	if s.opts.MQTTPort != nil {
		in.MQTTPort = s.opts.MQTTPort()
	}
	if s.opts.Detection != nil {
		in.DetectWindow = s.opts.Detection.Window().String()
	}
	writeJSON(w, http.StatusOK, in)
	return nil
}

// Version is Ward's version, reported by /api/v1/info (package buildinfo
// holds it; this name stays for callers).
var Version = buildinfo.Version

func parseCRL(der []byte) (*x509.RevocationList, error) { return x509.ParseRevocationList(der) }
