package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wardproject/ward/internal/alert"
	"github.com/wardproject/ward/internal/audit"
	"github.com/wardproject/ward/internal/auditlog"
	"github.com/wardproject/ward/internal/compliance"
	"github.com/wardproject/ward/internal/detect"
	"github.com/wardproject/ward/internal/fleet"
	"github.com/wardproject/ward/internal/rollout"
	"github.com/wardproject/ward/internal/secret"
	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/store/sqlite"
	"github.com/wardproject/ward/internal/stream"
	"github.com/wardproject/ward/internal/update"
	"github.com/wardproject/ward/internal/vuln"
	"github.com/wardproject/ward/internal/wardtest"
)

// Fakes for the optional services, so that every route is mounted.

type fakeMitigator struct{ alerts *alert.Manager }

func (m fakeMitigator) Mitigate(ctx context.Context, id, action, actor string) (alert.Alert, error) {
	return m.alerts.Get(ctx, id)
}

type fakeDetection struct{ profiles []detect.Profile }

func (d *fakeDetection) Profiles() []detect.Profile { return d.profiles }
func (d *fakeDetection) SetProfiles(ctx context.Context, ps []detect.Profile) error {
	d.profiles = ps
	return nil
}
func (d *fakeDetection) Baselines() []detect.BaselineStatus {
	return []detect.BaselineStatus{{Group: "acme-th1", Datapoints: 40, Windows: 4, Ready: true}}
}
func (d *fakeDetection) Window() time.Duration { return time.Minute }

type fakeAddresses map[string][]string

func (a fakeAddresses) DeviceAddresses() map[string][]string { return a }

type fakeCompliance struct{ now time.Time }

func (c fakeCompliance) ImportSBOM(ctx context.Context, model, firmware, source string, data []byte) (store.SBOMRecord, error) {
	return store.SBOMRecord{Model: model, Firmware: firmware, Format: "CycloneDX 1.5", Source: source, Components: 2, ImportedAt: c.now}, nil
}
func (c fakeCompliance) ImportOSV(ctx context.Context, source string, data []byte) (*vuln.ImportReport, error) {
	return &vuln.ImportReport{Source: source, Imported: 1, Rejected: []error{fmt.Errorf("b.json: no id")}}, nil
}
func (c fakeCompliance) ImportKEV(ctx context.Context, source string, data []byte) (*vuln.KEVCatalog, error) {
	return &vuln.KEVCatalog{CatalogVersion: "2025.06.01", DateReleased: c.now, Count: 1, Vulnerabilities: make([]vuln.KEVEntry, 1)}, nil
}
func (c fakeCompliance) SetModel(ctx context.Context, m audit.Model) error { return nil }
func (c fakeCompliance) Feeds() []vuln.Feed {
	return []vuln.Feed{{Name: "osv/Go", ImportedAt: c.now, Records: 3}, {Name: "kev", ImportedAt: c.now, Records: 1, Version: "2025.06.01", Released: c.now}}
}
func (c fakeCompliance) Exposure(ctx context.Context, id string) ([]compliance.DeviceExposure, error) {
	return []compliance.DeviceExposure{{Device: "sensor-17", Model: "acme-th1", Firmware: "1.4.2", SBOM: true,
		Vulnerabilities: []compliance.Vulnerability{{ID: "GHSA-xxxx", Package: "openssl", Installed: "1.1.1", Severity: "high", CVSS: 7.5}}}}, nil
}
func (c fakeCompliance) Run(ctx context.Context) ([]audit.Finding, error) {
	return c.Findings(ctx, false)
}
func (c fakeCompliance) Findings(ctx context.Context, includeResolved bool) ([]audit.Finding, error) {
	return []audit.Finding{{Check: "device-cert-expiring", Title: "t", Severity: audit.High, Resources: []string{"device:sensor-17"},
		ID: "k1", FirstSeen: c.now, LastSeen: c.now}}, nil
}
func (c fakeCompliance) Suppress(ctx context.Context, check, resource, reason string, expires time.Time, by string) (store.Suppression, error) {
	return store.Suppression{ID: "s1", Check: check, Resource: resource, Reason: reason, CreatedBy: by, CreatedAt: c.now, ExpiresAt: expires}, nil
}
func (c fakeCompliance) Summary(ctx context.Context) (compliance.Summary, error) {
	pct := 80.0
	return compliance.Summary{LastAudit: c.now,
		Standards: []compliance.StandardScore{{Standard: audit.StandardETSI, Name: "ETSI EN 303 645", Score: 92.3, Assessed: 13, Passed: 12, Failed: 1, DevicesPassingPct: &pct}},
		Vulnerabilities: compliance.Exposure{Devices: 5, WithoutSBOM: 1, VulnerableDevices: 2, KEVDevices: 1,
			Advisories: map[string]int{"critical": 1, "high": 2}, KEV: 1}}, nil
}
func (c fakeCompliance) Unsuppress(ctx context.Context, id string) error {
	if id != "s1" {
		return fmt.Errorf("suppression %s: %w", id, store.ErrNotFound)
	}
	return nil
}
func (c fakeCompliance) Suppressions(ctx context.Context) ([]store.Suppression, error) {
	return nil, nil
}
func (c fakeCompliance) Report(ctx context.Context, w io.Writer, standard, format string) (string, error) {
	ct, ok := map[string]string{"html": "text/html; charset=utf-8", "json": "application/json", "sarif": "application/sarif+json", "csv": "text/csv; charset=utf-8"}[format]
	if !ok {
		return "", fmt.Errorf("%w: format %q", compliance.ErrBadDocument, format)
	}
	if strings.HasSuffix(ct, "json") {
		io.WriteString(w, "{}\n")
	} else {
		io.WriteString(w, "report\n")
	}
	return ct, nil
}

// fakeRollouts answers canned rollouts.
type fakeRollouts struct{ now time.Time }

func (f fakeRollouts) view(id string) rollout.View {
	return rollout.View{ID: id, Model: "acme-th1", Version: "1.5.0", Waves: []float64{1, 10, 50, 100}, MaxFailure: 2, HaltOnAlerts: "high",
		Soak: "10m0s", Status: "running", Wave: 1, WaveStartedAt: f.now, CreatedBy: "token:x", CreatedAt: f.now, UpdatedAt: f.now,
		Devices: map[string]int{"pending": 1, "installed": 1}}
}
func (f fakeRollouts) get(id string) (store.Rollout, error) {
	if id != "ro-1" {
		return store.Rollout{}, fmt.Errorf("rollout %s: %w", id, store.ErrNotFound)
	}
	return store.Rollout{ID: id}, nil
}
func (f fakeRollouts) Create(ctx context.Context, spec rollout.Spec, actor string) (store.Rollout, error) {
	if spec.Model == "" {
		return store.Rollout{}, fmt.Errorf("%w: model is required", rollout.ErrBadSpec)
	}
	return store.Rollout{ID: "ro-1"}, nil
}
func (f fakeRollouts) Get(ctx context.Context, id string) (rollout.View, error) {
	_, err := f.get(id)
	return f.view(id), err
}
func (f fakeRollouts) List(ctx context.Context, limit int) ([]rollout.View, error) {
	return []rollout.View{f.view("ro-1")}, nil
}
func (f fakeRollouts) Detail(ctx context.Context, id string, q rollout.DeviceQuery) (rollout.Detail, error) {
	if _, err := f.get(id); err != nil {
		return rollout.Detail{}, err
	}
	return rollout.Detail{View: f.view(id),
		WaveCounts: []rollout.WaveView{{Wave: 1, Percent: 1, Total: 2, States: map[string]int{"pending": 1, "installed": 1}, LastInstalledAt: f.now}},
		History:    []rollout.HistoryView{{Time: f.now, Action: "create", Actor: "token:x", Status: "running", Wave: 1}},
		DeviceList: []rollout.DeviceView{{Device: "sensor-17", Wave: 1, State: "failed", Reason: "hash mismatch", FromVersion: "1.4.2", OrderedAt: f.now, UpdatedAt: f.now}},
		Next:       "sensor-17"}, nil
}
func (f fakeRollouts) Pause(ctx context.Context, id, actor string) (store.Rollout, error) {
	return f.get(id)
}
func (f fakeRollouts) Resume(ctx context.Context, id, actor string) (store.Rollout, error) {
	return f.get(id)
}
func (f fakeRollouts) Abort(ctx context.Context, id, actor string) (store.Rollout, error) {
	return f.get(id)
}
func (f fakeRollouts) Next(ctx context.Context, id, actor string) (store.Rollout, error) {
	if _, err := f.get(id); err != nil {
		return store.Rollout{}, err
	}
	return store.Rollout{}, fmt.Errorf("rollout %s: %w", id, rollout.ErrLastWave)
}

type fullEnv struct {
	*env
	db *sqlite.DB
}

// newFullEnv is newEnv with every optional service, so that every route
// of the API is mounted.
// newFullEnv is newEnv with every optional service mounted; each extra
// then changes the Options.
func newFullEnv(t *testing.T, extra ...func(o *Options)) *fullEnv {
	t.Helper()
	e, db := newEnvWith(t, func(db *sqlite.DB, o *Options) {
		alerts, err := alert.NewManager(context.Background(), alert.Options{Store: db})
		if err != nil {
			t.Fatal(err)
		}
		o.Metrics = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
			io.WriteString(w, "# HELP up Up.\n# TYPE up gauge\nup 1\n")
		})
		o.Alerts, o.Mitigator, o.Detection, o.DetectStore = alerts, fakeMitigator{alerts}, &fakeDetection{}, db
		o.Addresses = fakeAddresses{"sensor-17": {"192.0.2.7"}}
		o.Compliance = fakeCompliance{now: time.Now().UTC()}
		o.MQTTPort = func() int { return 8883 }
		anchor, err := auditlog.New(auditlog.Options{Dir: t.TempDir(), Store: db})
		if err != nil {
			t.Fatal(err)
		}
		o.AuditVerifier = anchor
		tuf, err := update.NewHandler(update.HandlerOptions{Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		o.TUF, o.Devices = tuf, o.Registry.(*fleet.Registry)
		o.Rollouts = fakeRollouts{now: time.Now().UTC()}
		o.Firmware = update.Site{DataDir: t.TempDir()}
		hub, err := stream.New(stream.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(hub.Close)
		o.Stream = hub
		for _, f := range extra {
			f(o)
		}
	})
	return &fullEnv{env: e, db: db}
}

// openAPIDocOf fetches the served document as generic JSON.
func openAPIDocOf(t *testing.T, e *env) (map[string]any, []byte) {
	t.Helper()
	code, body := e.do(t, "GET", "/api/v1/openapi.json", e.tokens[store.RoleViewer], "")
	if code != http.StatusOK {
		t.Fatalf("GET /api/v1/openapi.json as viewer: %d %s", code, body)
	}
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("the OpenAPI document is not valid JSON: %v", err)
	}
	return doc, body
}

// docOp is an operation of the document with its method and path.
type docOp struct {
	method, path string
	op           map[string]any
}

func docOps(t *testing.T, doc map[string]any) map[string]docOp {
	t.Helper()
	out := map[string]docOp{}
	paths, _ := doc["paths"].(map[string]any)
	for p, item := range paths {
		for m, op := range item.(map[string]any) {
			out[strings.ToUpper(m)+" "+p] = docOp{strings.ToUpper(m), p, op.(map[string]any)}
		}
	}
	return out
}

// undocumented are the mux patterns that are not API operations.
var undocumented = map[string]string{
	"/":                 "the catch-all that answers 404",
	"/.well-known/est/": "EST enrollment (RFC 7030), package est",
	"/tuf/":             "the TUF firmware repository (docs/updates.md), package update",
}

var paramRe = regexp.MustCompile(`\{([^}]+)\}`)

func TestOpenAPIServed(t *testing.T) {
	e := newFullEnv(t)
	if code, body := e.do(t, "GET", "/api/v1/openapi.json", "", ""); code != http.StatusUnauthorized {
		t.Errorf("GET /api/v1/openapi.json without a token: %d %s, want 401", code, body)
	}
	doc, _ := openAPIDocOf(t, e.env)
	if doc["openapi"] != "3.1.0" {
		t.Errorf("openapi = %v, want 3.1.0", doc["openapi"])
	}
}

// TestOpenAPIMatchesMux checks the document against the routes recorded
// as they were registered, on a server with every service and on one with
// none of the optional ones (whose document leaves their routes out).
func TestOpenAPIMatchesMux(t *testing.T) {
	full := newFullEnv(t)
	registered := matchMux(t, full.env)
	// With every service configured, every table entry is mounted: no stale entries.
	ids := map[string]bool{}
	for _, op := range apiOperations {
		if _, ok := registered[op.pattern]; !ok {
			t.Errorf("apiOperations has %s, which no server registers", op.pattern)
		}
		if ids[op.id] {
			t.Errorf("operationId %s used twice", op.id)
		}
		ids[op.id] = true
	}
	if n := len(registered); n < 49 {
		t.Errorf("only %d patterns registered", n)
	}
	if n := len(matchMux(t, newEnv(t))); n >= len(registered) {
		t.Errorf("a server without the optional services registers %d patterns, one with them %d", n, len(registered))
	}
}

// matchMux compares the document a server serves with the patterns
// registered on its mux and returns them with their roles.
func matchMux(t *testing.T, e *env) map[string]store.Role {
	t.Helper()
	doc, _ := openAPIDocOf(t, e)
	ops := docOps(t, doc)
	registered := map[string]store.Role{}
	for _, r := range e.api.mux.routes {
		if _, dup := registered[r.pattern]; dup {
			t.Errorf("pattern %q registered twice", r.pattern)
		}
		registered[r.pattern] = r.role
		if !strings.Contains(r.pattern, " ") {
			if undocumented[r.pattern] == "" {
				t.Errorf("pattern %q has no method: document it or explain it in undocumented", r.pattern)
			}
			continue
		}
		o, ok := ops[r.pattern]
		if !ok {
			t.Errorf("route %s is registered on the mux but missing from the OpenAPI document: add it to apiOperations", r.pattern)
			continue
		}
		role, _ := o.op["x-ward-role"].(string)
		if role != string(r.role) {
			t.Errorf("%s: x-ward-role %q, registered with role %q", r.pattern, role, r.role)
		}
		if prov, _ := o.op["x-ward-provisioning"].(bool); prov != r.provisioning {
			t.Errorf("%s: x-ward-provisioning %v, registered with provisioning %v", r.pattern, prov, r.provisioning)
		}
		sec, hasSec := o.op["security"].([]any)
		if public := r.role == ""; public != (hasSec && len(sec) == 0) {
			t.Errorf("%s: public %v but operation security %v", r.pattern, public, o.op["security"])
		}
	}
	for key, o := range ops {
		if _, ok := registered[key]; !ok {
			t.Errorf("%s is in the OpenAPI document but not registered on the mux", key)
		}
		// The mux routes a request for the documented path to the pattern.
		req := httptest.NewRequest(o.method, paramRe.ReplaceAllString(o.path, "x"), nil)
		if _, pattern := e.api.mux.Handler(req); pattern != key {
			t.Errorf("%s %s is routed to %q, want %q", o.method, req.URL.Path, pattern, key)
		}
	}
	return registered
}

func TestOpenAPIPathParameters(t *testing.T) {
	e := newFullEnv(t)
	doc, _ := openAPIDocOf(t, e.env)
	for key, o := range docOps(t, doc) {
		var want, got []string
		for _, m := range paramRe.FindAllStringSubmatch(o.path, -1) {
			want = append(want, m[1])
		}
		params, _ := o.op["parameters"].([]any)
		seen := map[string]bool{}
		for _, p := range params {
			p := p.(map[string]any)
			name := p["name"].(string)
			if seen[p["in"].(string)+" "+name] {
				t.Errorf("%s: parameter %s in %s twice", key, name, p["in"])
			}
			seen[p["in"].(string)+" "+name] = true
			if p["in"] == "path" {
				got = append(got, name)
				if p["required"] != true {
					t.Errorf("%s: path parameter %s not required", key, name)
				}
			}
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(want, got) {
			t.Errorf("%s: path parameters %v, the path has %v", key, got, want)
		}
	}
}

// TestOpenAPIRefsResolve checks that every $ref points into the document
// and that every component schema is used.
func TestOpenAPIRefsResolve(t *testing.T) {
	e := newFullEnv(t)
	doc, _ := openAPIDocOf(t, e.env)
	used := map[string]bool{}
	var walk func(at string, v any)
	walk = func(at string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				if _, err := resolveRef(doc, ref); err != nil {
					t.Errorf("%s: %v", at, err)
				}
				used[ref] = true
			}
			for k, c := range v {
				walk(at+"/"+k, c)
			}
		case []any:
			for i, c := range v {
				walk(fmt.Sprintf("%s/%d", at, i), c)
			}
		}
	}
	walk("#", doc)
	if len(used) < 20 {
		t.Errorf("only %d distinct $refs", len(used))
	}
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	for name := range schemas {
		if !used["#/components/schemas/"+name] {
			t.Errorf("component schema %s is never referenced", name)
		}
	}
}

func resolveRef(doc map[string]any, ref string) (map[string]any, error) {
	rest, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, fmt.Errorf("$ref %q is not local", ref)
	}
	var cur any = doc
	for _, part := range strings.Split(rest, "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("$ref %q: %s is not an object", ref, part)
		}
		if cur, ok = m[strings.NewReplacer("~1", "/", "~0", "~").Replace(part)]; !ok {
			return nil, fmt.Errorf("$ref %q does not resolve (no %s)", ref, part)
		}
	}
	m, ok := cur.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("$ref %q does not point to an object", ref)
	}
	return m, nil
}

// TestOpenAPIRolesEnforced checks x-ward-role against what the server
// enforces: a token with no known role is refused by every authenticated
// route with a message naming the role the route needs, before any
// handler runs.
func TestOpenAPIRolesEnforced(t *testing.T) {
	e := newFullEnv(t)
	doc, _ := openAPIDocOf(t, e.env)
	sec := "s3cret-for-a-roleless-token"
	if err := e.db.PutAPIToken(context.Background(), store.APIToken{ID: "00112233445566ff", Name: "roleless", Role: "nobody",
		Hash: secret.Hash(sec), CreatedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	roleless := "ward_00112233445566ff_" + sec
	for key, o := range docOps(t, doc) {
		path := paramRe.ReplaceAllString(o.path, "x")
		role, _ := o.op["x-ward-role"].(string)
		if role == "" {
			if code, body := e.do(t, o.method, path, "", ""); code == http.StatusUnauthorized || code == http.StatusForbidden {
				t.Errorf("public %s without a token: %d %s", key, code, body)
			}
			continue
		}
		if code, body := e.do(t, o.method, path, "", ""); code != http.StatusUnauthorized {
			t.Errorf("%s without a token: %d %s, want 401", key, code, body)
		}
		code, body := e.do(t, o.method, path, roleless, "")
		want := "(needs " + role + ")"
		if prov, _ := o.op["x-ward-provisioning"].(bool); prov {
			want = "(needs " + role + ", or provisioning)"
		}
		if code != http.StatusForbidden || !strings.Contains(string(body), want) {
			t.Errorf("%s with a role-less token: %d %s, want 403 %s", key, code, body, want)
		}
	}
}

// TestOpenAPIGolden keeps the document under review: any API change shows
// up in testdata/openapi.json and its published copy docs/openapi.json
// (go test ./internal/api -run OpenAPIGolden -update rewrites both).
func TestOpenAPIGolden(t *testing.T) {
	e := newFullEnv(t)
	_, body := openAPIDocOf(t, e.env)
	wardtest.Golden(t, "testdata/openapi.json", body)
	wardtest.Golden(t, "../../docs/openapi.json", body)
}

// TestOpenAPISchemasMatchResponses exercises the routes and validates what
// they answer (and the JSON bodies sent) against the document's schemas.
func TestOpenAPISchemasMatchResponses(t *testing.T) {
	e := newFullEnv(t)
	doc, _ := openAPIDocOf(t, e.env)
	ops := docOps(t, doc)
	admin, op, viewer := e.tokens[store.RoleAdmin], e.tokens[store.RoleOperator], e.tokens[store.RoleViewer]
	call := func(method, path, token, body string, want int) []byte {
		t.Helper()
		req, _ := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		_, pattern := e.api.mux.Handler(httptest.NewRequest(method, path, nil))
		o, ok := ops[pattern]
		if !ok {
			t.Fatalf("%s %s: pattern %q not documented", method, path, pattern)
		}
		if body != "" && want < 400 {
			rb, _ := o.op["requestBody"].(map[string]any)
			if rb == nil {
				t.Errorf("%s: sent a body, none documented", pattern)
			} else if s := mediaSchema(rb["content"], "application/json"); s != nil {
				var v any
				if err := json.Unmarshal([]byte(body), &v); err != nil {
					t.Fatal(err)
				}
				for _, err := range validate(doc, s, v, "body") {
					t.Errorf("%s request %s: %s", pattern, body, err)
				}
			}
		}
		resp, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, b, want)
		}
		responses := o.op["responses"].(map[string]any)
		r, ok := responses[fmt.Sprint(resp.StatusCode)].(map[string]any)
		if !ok {
			r, ok = responses[fmt.Sprintf("%dXX", resp.StatusCode/100)].(map[string]any)
		}
		if !ok {
			t.Errorf("%s: status %d not documented", pattern, resp.StatusCode)
			return b
		}
		if ref, ok := r["$ref"].(string); ok {
			if r, err = resolveRef(doc, ref); err != nil {
				t.Fatal(err)
			}
		}
		content, _ := r["content"].(map[string]any)
		if len(b) == 0 {
			if content != nil {
				t.Errorf("%s %d: empty body, documented %v", pattern, resp.StatusCode, content)
			}
			return b
		}
		mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		s := mediaSchema(content, mt)
		if s == nil {
			t.Errorf("%s %d: Content-Type %s not documented", pattern, resp.StatusCode, mt)
			return b
		}
		if mt == "application/json" {
			var v any
			if err := json.Unmarshal(b, &v); err != nil {
				t.Fatalf("%s: %v", pattern, err)
			}
			for _, err := range validate(doc, s, v, "response") {
				t.Errorf("%s %d: %s\n%s", pattern, resp.StatusCode, err, b)
			}
		}
		return b
	}
	call("GET", "/healthz", "", "", 200)
	call("GET", "/crl", "", "", 200)
	call("GET", "/crl?format=pem", "", "", 200)
	call("GET", "/crl?format=bogus", "", "", 400)
	call("GET", "/metrics", viewer, "", 200)
	call("GET", "/metrics", "", "", 401)
	call("GET", "/api/v1/whoami", viewer, "", 200)
	call("GET", "/api/v1/info", viewer, "", 200)
	call("GET", "/api/v1/overview", viewer, "", 200)
	call("GET", "/api/v1/overview", "", "", 401)
	call("POST", "/api/v1/devices", op, `{"id":"sensor-17","model":"acme-th1","firmware":"1.4.2","tags":["lab"],"policy":{"publish":["lab/#"]},"token_ttl":"24h"}`, 201)
	call("POST", "/api/v1/devices", viewer, `{"id":"sensor-18","model":"acme-th1"}`, 403)
	call("POST", "/api/v1/devices", op, `{"id":"sensor-18","model":"acme-th1","bogus":1}`, 400)
	call("GET", "/api/v1/devices", viewer, "", 200)
	call("GET", "/api/v1/devices/sensor-17?events=5", viewer, "", 200)
	call("GET", "/api/v1/devices/ghost", viewer, "", 404)
	call("GET", "/api/v1/devices/sensor-17/events?limit=5", viewer, "", 200)
	call("POST", "/api/v1/devices/sensor-17/token", op, `{"token_ttl":"1h"}`, 200)
	call("PUT", "/api/v1/devices/sensor-17/policy", op, `{"publish":["lab/x"],"max_message_bytes":1024,"messages_per_second":2.5}`, 200)
	call("PUT", "/api/v1/models/acme-th1/policy", op, `{"subscribe":["cmd/#"]}`, 200)
	call("GET", "/api/v1/models", viewer, "", 200)
	call("POST", "/api/v1/devices/sensor-17/quarantine", op, `{"reason":"test","mode":"restrict"}`, 200)
	call("POST", "/api/v1/devices/sensor-17/release", op, "", 200)
	call("GET", "/api/v1/events?device=sensor-17&limit=3", viewer, "", 200)
	call("GET", "/api/v1/ca", viewer, "", 200)
	call("GET", "/api/v1/certificates?device=sensor-17", viewer, "", 200)

	var a alert.Alert
	json.Unmarshal(call("POST", "/api/v1/alerts", op, `{"device":"sensor-17","rule":"authz","severity":"high","title":"Authorisation failures","evidence":{"metric":"authz_failures","value":9,"threshold":5}}`, 201), &a)
	call("GET", "/api/v1/alerts?state=open,acknowledged&device=sensor-17&limit=10", viewer, "", 200)
	call("GET", "/api/v1/alerts/"+a.ID, viewer, "", 200)
	call("POST", "/api/v1/alerts/"+a.ID+"/ack", op, "", 200)
	call("POST", "/api/v1/alerts/"+a.ID+"/mitigate", op, `{"action":"notify"}`, 200)
	call("POST", "/api/v1/alerts/"+a.ID+"/clear", op, "", 200)
	call("POST", "/api/v1/alerts/"+a.ID+"/clear", op, "", 409)

	profile := `{"name":"cameras","description":"d","targets":{"models":["acme-cam2"]},"auto_mitigate":false,"baseline":{"enabled":true,"sensitivity":"medium"},` +
		`"rules":[{"name":"authz","metric":"authz_failures","window":"1m","comparison":">","value":5,"severity":"high","mitre":["T1110"],"mitigation":"notify"}]}`
	call("PUT", "/api/v1/profiles", op, profile, 200)
	call("PUT", "/api/v1/profiles", op, "["+profile+"]", 200)
	call("GET", "/api/v1/profiles", viewer, "", 200)
	call("GET", "/api/v1/baselines", viewer, "", 200)
	call("GET", "/api/v1/network/devices", viewer, "", 200)
	now := time.Now().UTC().Truncate(time.Minute)
	dp, _ := json.Marshal(detect.Datapoint{Device: "sensor-17", Window: time.Minute, Start: now.Add(-time.Minute), End: now,
		Values: map[string]float64{"messages_sent": 3}, Sets: map[string][]string{"topics": {"lab/x"}}})
	if err := e.db.AddMetricWindows(context.Background(), []store.MetricWindow{{DeviceID: "sensor-17", Window: time.Minute, Start: now.Add(-time.Minute), JSON: dp}}); err != nil {
		t.Fatal(err)
	}
	if b := call("GET", "/api/v1/devices/sensor-17/metrics?window=1m&since="+now.Add(-time.Hour).Format(time.RFC3339), viewer, "", 200); !strings.Contains(string(b), "messages_sent") {
		t.Errorf("metrics answered no datapoint: %s", b)
	}
	call("GET", "/api/v1/audit-log?limit=5", admin, "", 200)
	call("GET", "/api/v1/audit-log", op, "", 403)

	call("POST", "/api/v1/sboms?model=acme-th1&firmware=1.4.2&source=sbom.json", op, `{"bomFormat":"CycloneDX"}`, 201)
	call("GET", "/api/v1/sboms", viewer, "", 200)
	call("POST", "/api/v1/advisories?source=osv.zip", op, `{"id":"GHSA-xxxx"}`, 201)
	call("POST", "/api/v1/kev", op, `{"catalogVersion":"2025.06.01"}`, 201)
	call("GET", "/api/v1/feeds", viewer, "", 200)
	call("GET", "/api/v1/vulnerabilities?device=sensor-17", viewer, "", 200)
	call("POST", "/api/v1/audit/run", op, "", 200)
	call("GET", "/api/v1/audit/findings?resolved=true", viewer, "", 200)
	call("POST", "/api/v1/audit/suppressions", op, `{"check":"device-cert-expiring","resource":"device:sensor-17","reason":"lab","expires_at":"2030-01-01T00:00:00Z"}`, 201)
	call("GET", "/api/v1/audit/suppressions", viewer, "", 200)
	call("PUT", "/api/v1/models/acme-th1", op, `{"support_ends":"2030-01-01T00:00:00Z","latest_firmware":"2.0","latest_firmware_released":"2025-01-01T00:00:00Z","policy":{},"releases":{"1.4.2":"2024-01-01T00:00:00Z"}}`, 200)
	for _, f := range []string{"html", "json", "sarif", "csv"} {
		call("GET", "/api/v1/report?standard=cra&format="+f, viewer, "", 200)
	}
	call("GET", "/api/v1/report?format=pdf", viewer, "", 400)

	call("POST", "/api/v1/devices/sensor-17/revoke", op, `{"reason":"done"}`, 200)
	var tok CreateTokenResponse
	json.Unmarshal(call("POST", "/api/v1/tokens", admin, `{"name":"ci","role":"viewer","ttl":"1h"}`, 201), &tok)
	call("GET", "/api/v1/tokens", admin, "", 200)
	call("DELETE", "/api/v1/tokens/"+tok.ID, admin, "", 204)
	call("POST", "/api/v1/tokens", admin, `{"role":"viewer","ttl":"1ns"}`, 400)
	var adm CreateTokenResponse
	json.Unmarshal(call("POST", "/api/v1/tokens", admin, `{"name":"spare","role":"admin"}`, 201), &adm)
	var rot RotateAdminResponse
	json.Unmarshal(call("POST", "/api/v1/tokens/rotate-admin", adm.Token, "", 201), &rot)
	if rot.RevokedID != adm.ID || rot.Token == "" || rot.Name != "spare" {
		t.Errorf("rotate-admin answered %+v", rot)
	}
	call("GET", "/api/v1/whoami", adm.Token, "", 401)
	call("POST", "/api/v1/tokens/rotate-admin", op, "", 403)
	var rep auditlog.Report
	json.Unmarshal(call("GET", "/api/v1/audit-log/verify", viewer, "", 200), &rep)
	if rep.Entries == 0 || rep.KeyID == "" {
		t.Errorf("audit-log/verify answered %+v", rep)
	}
	call("POST", "/api/v1/rollouts", op, `{"model":"acme-th1","version":"1.5.0","waves":[1,10,50,100],"max_failure":2,"halt_on_alerts":"high","soak":"10m"}`, 201)
	call("POST", "/api/v1/rollouts", op, `{"version":"1.5.0","waves":[100]}`, 400)
	call("POST", "/api/v1/rollouts", viewer, `{"model":"acme-th1","version":"1.5.0","waves":[100]}`, 403)
	call("GET", "/api/v1/rollouts?limit=5", viewer, "", 200)
	call("GET", "/api/v1/rollouts/ro-1?state=failed,pending&after=a&limit=10", viewer, "", 200)
	call("GET", "/api/v1/rollouts/ro-1?state=sleeping", viewer, "", 400)
	call("GET", "/api/v1/rollouts/ro-9", viewer, "", 404)
	for _, a := range []string{"pause", "resume", "abort"} {
		call("POST", "/api/v1/rollouts/ro-1/"+a, op, "", 200)
	}
	call("POST", "/api/v1/rollouts/ro-1/next", op, "", 409)
	call("POST", "/api/v1/rollouts/ro-1/pause", viewer, "", 403)
	call("GET", "/api/v1/stream?types=alerts", viewer, "", 400)
	call("GET", "/api/v1/openapi.json", viewer, "", 200)
}

func mediaSchema(content any, mediaType string) map[string]any {
	c, _ := content.(map[string]any)
	m, _ := c[mediaType].(map[string]any)
	s, _ := m["schema"].(map[string]any)
	return s
}

// validate checks v against the subset of JSON Schema the document uses.
func validate(doc, s map[string]any, v any, at string) []string {
	if ref, ok := s["$ref"].(string); ok {
		r, err := resolveRef(doc, ref)
		if err != nil {
			return []string{at + ": " + err.Error()}
		}
		return validate(doc, r, v, at)
	}
	if anyOf, ok := s["anyOf"].([]any); ok {
		return validateOneOf(doc, anyOf, v, at, false)
	}
	if oneOf, ok := s["oneOf"].([]any); ok {
		return validateOneOf(doc, oneOf, v, at, true)
	}
	var errs []string
	if typ, ok := s["type"]; ok {
		types := []any{typ}
		if l, ok := typ.([]any); ok {
			types = l
		}
		if !slices.ContainsFunc(types, func(t any) bool { return hasType(v, t.(string)) }) {
			return []string{fmt.Sprintf("%s: %v is not of type %v", at, v, typ)}
		}
	}
	if enum, ok := s["enum"].([]any); ok && !slices.Contains(enum, v) {
		errs = append(errs, fmt.Sprintf("%s: %v is not one of %v", at, v, enum))
	}
	if str, ok := v.(string); ok {
		if s["format"] == "date-time" {
			if _, err := time.Parse(time.RFC3339Nano, str); err != nil {
				errs = append(errs, fmt.Sprintf("%s: %q is not a date-time", at, str))
			}
		}
		if s["contentEncoding"] == "base64" {
			if _, err := base64.StdEncoding.DecodeString(str); err != nil {
				errs = append(errs, fmt.Sprintf("%s: %q is not base64", at, str))
			}
		}
	}
	switch v := v.(type) {
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		for _, r := range asSlice(s["required"]) {
			if _, ok := v[r.(string)]; !ok {
				errs = append(errs, fmt.Sprintf("%s: required property %s is missing", at, r))
			}
		}
		for k, c := range v {
			if p, ok := props[k].(map[string]any); ok {
				errs = append(errs, validate(doc, p, c, at+"."+k)...)
				continue
			}
			switch ap := s["additionalProperties"].(type) {
			case bool:
				if !ap {
					errs = append(errs, fmt.Sprintf("%s: property %s is not in the schema", at, k))
				}
			case map[string]any:
				errs = append(errs, validate(doc, ap, c, at+"."+k)...)
			}
		}
	case []any:
		if items, ok := s["items"].(map[string]any); ok {
			for i, c := range v {
				errs = append(errs, validate(doc, items, c, fmt.Sprintf("%s[%d]", at, i))...)
			}
		}
	}
	return errs
}

func validateOneOf(doc map[string]any, schemas []any, v any, at string, exactlyOne bool) []string {
	var fails []string
	matched := 0
	for _, c := range schemas {
		if errs := validate(doc, c.(map[string]any), v, at); len(errs) == 0 {
			matched++
		} else {
			fails = append(fails, strings.Join(errs, "; "))
		}
	}
	switch {
	case matched == 0:
		return []string{fmt.Sprintf("%s: matches no alternative: %s", at, strings.Join(fails, " | "))}
	case exactlyOne && matched > 1:
		return []string{fmt.Sprintf("%s: matches %d alternatives of oneOf", at, matched)}
	}
	return nil
}

func asSlice(v any) []any {
	l, _ := v.([]any)
	return l
}

func hasType(v any, t string) bool {
	switch t {
	case "null":
		return v == nil
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "number":
		_, ok := v.(float64)
		return ok
	case "integer":
		f, ok := v.(float64)
		return ok && f == float64(int64(f))
	case "array":
		_, ok := v.([]any)
		return ok
	case "object":
		_, ok := v.(map[string]any)
		return ok
	}
	return false
}

// TestJSONFieldsFollowEncodingJSON checks the reflection against what
// encoding/json writes for tricky structs.
func TestJSONFieldsFollowEncodingJSON(t *testing.T) {
	type inner struct {
		A string `json:"a"`
		B string `json:"b,omitempty"`
		C string
	}
	type Other struct {
		A string `json:"a"`
		D int    `json:"d"`
	}
	type outer struct {
		inner
		*Other
		B       int    `json:"b"`
		Skip    string `json:"-"`
		Dash    string `json:"-,"`
		private string
		When    time.Time `json:"when,omitzero"`
		Blob    []byte    `json:"blob"`
		Named   store.Role
		Tagged  inner `json:"tagged"`
	}
	var got []string
	for _, f := range jsonFields(reflect.TypeFor[outer]()) {
		got = append(got, fmt.Sprintf("%s:%v", f.name, f.omittable))
	}
	// a is ambiguous at depth 1 (inner.a, Other.a) and dropped, as encoding/json does;
	// d comes through a pointer, so it may be absent.
	want := []string{"C:false", "d:true", "b:false", "-:false", "when:true", "blob:false", "Named:false", "tagged:false"}
	if !slices.Equal(got, want) {
		t.Errorf("fields %v, want %v", got, want)
	}
	b, _ := json.Marshal(outer{Other: &Other{}})
	var m map[string]any
	json.Unmarshal(b, &m)
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var names []string
	for _, w := range want {
		n, _, _ := strings.Cut(w, ":")
		if n != "when" {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	if !slices.Equal(keys, names) {
		t.Errorf("encoding/json writes %v, jsonFields says %v", keys, names)
	}
	g := &schemaGen{components: map[string]*jsonSchema{}, names: map[string]reflect.Type{}, respTypes: map[reflect.Type]bool{}}
	g.schema(reflect.TypeFor[outer](), modeResponse)
	s := g.components["api.outer"]
	if s == nil || s.Properties["blob"].ContentEncoding != "base64" || s.Properties["when"].Format != "date-time" ||
		s.Properties["Named"].Type != "string" || s.Properties["tagged"].Ref != "#/components/schemas/api.inner" {
		b, _ := json.Marshal(s)
		t.Errorf("schema of outer: %s", b)
	}
	if g.err != nil {
		t.Error(g.err)
	}
}
