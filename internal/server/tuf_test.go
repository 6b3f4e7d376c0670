package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/fetcher"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"

	"github.com/wardproject/ward/internal/api"
	"github.com/wardproject/ward/internal/client"
	"github.com/wardproject/ward/internal/est"
	"github.com/wardproject/ward/internal/fleet"
	"github.com/wardproject/ward/internal/pki"
	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/update"
	"github.com/wardproject/ward/internal/wardtest"
)

// tufFirmware is published in the tests' repositories: larger than one
// TLS record and than the cut of the resume test.
var tufFirmware = bytes.Repeat([]byte("ward firmware 1.5.0\n"), 20000)

// publish creates the site repository in the server's data directory
// (ward update init) and publishes tufFirmware as acme-th1 1.5.0. It
// returns root.json (what a device ships with) and the target's URL path.
func (w *ward) publish(t *testing.T) ([]byte, string) {
	t.Helper()
	ctx := context.Background()
	r, err := update.InitSite(ctx, w.dir, nil, nil, update.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tf, err := r.AddTarget(ctx, update.Target{Custom: update.Custom{Model: "acme-th1", Version: "1.5.0"}, File: "fw.bin"}, bytes.NewReader(tufFirmware))
	if err != nil {
		t.Fatal(err)
	}
	root, err := os.ReadFile(filepath.Join(w.dir, update.SiteRepoDir, "root.json"))
	if err != nil {
		t.Fatal(err)
	}
	return root, "/tuf/targets/acme-th1/1.5.0/" + tf.Hashes["sha256"].String() + ".fw.bin"
}

// tufUpdater is go-tuf's updater trusting root, fetching
// https://…/tuf/ over mutual TLS with cert, as a device does.
func (w *ward) tufUpdater(t *testing.T, root []byte, cert *tls.Certificate) *updater.Updater {
	t.Helper()
	cfg, err := config.New(w.baseURL()+"/tuf/", root)
	if err != nil {
		t.Fatal(err)
	}
	cfg.LocalMetadataDir, cfg.LocalTargetsDir = t.TempDir(), t.TempDir()
	// Not NewFetcherWithHTTPClient: its fetcher has no retry options, and
	// backoff's defaults then retry every 404 (the end of the root walk)
	// for 15 minutes.
	f := fetcher.NewDefaultFetcher()
	f.SetHTTPClient(w.deviceClient(t, cert))
	cfg.Fetcher = f
	u, err := updater.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func (w *ward) baseURL() string { return "https://localhost:" + port(w.srv.HTTPSAddr()) }

// httpClient is an HTTPS client trusting Ward's CA, presenting cert when
// not nil (Go's client picks it by the server's acceptable-CA list).
func (w *ward) httpClient(t *testing.T, cfg *tls.Config) *http.Client {
	tr := &http.Transport{TLSClientConfig: cfg}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: wait}
}

func (w *ward) deviceClient(t *testing.T, cert *tls.Certificate) *http.Client {
	return w.httpClient(t, pki.ClientConfig(w.srv.CA().RootPool(), cert))
}

// tufGet fetches path; hdr adds headers. A transport error (a refused
// handshake) is returned as such.
func tufGet(c *http.Client, url string, hdr map[string]string) (int, []byte, http.Header, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, nil, err
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header, err
}

func (w *ward) adminToken(t *testing.T) string {
	b, err := os.ReadFile(filepath.Join(w.dir, AdminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestTUFClientThroughServe: go-tuf's updater, pointed at
// https://…/tuf/ with an mTLS client holding an enrolled device's
// certificate, verifies the metadata (root, timestamp, snapshot, targets,
// the models/acme-th1 delegation by its escaped name) and downloads the
// firmware, end to end through ward serve.
func TestTUFClientThroughServe(t *testing.T) {
	w := start(t, t.TempDir())
	root, _ := w.publish(t)
	cert := w.enroll(t, "sensor-1")
	u := w.tufUpdater(t, root, &cert)
	if err := u.Refresh(); err != nil {
		t.Fatalf("go-tuf refresh through ward serve: %v", err)
	}
	tf, err := u.GetTargetInfo("acme-th1/1.5.0/fw.bin")
	if err != nil {
		t.Fatal(err)
	}
	_, data, err := u.DownloadTarget(tf, "", "")
	if err != nil {
		t.Fatalf("go-tuf download through ward serve: %v", err)
	}
	if !bytes.Equal(data, tufFirmware) {
		t.Fatal("the downloaded firmware differs from the published one")
	}
}

// TestTUFAuthorisation is the attack table on /tuf/ over real TLS: who may
// fetch the repository, and who is refused, and how.
func TestTUFAuthorisation(t *testing.T) {
	dir := t.TempDir()
	w := start(t, dir)
	_, target := w.publish(t)
	ctx := context.Background()
	enroll := func(id string) *http.Client {
		c := w.enroll(t, id)
		return w.deviceClient(t, &c)
	}
	active := enroll("sensor-1")
	revoked := enroll("sensor-2")
	retired := enroll("sensor-3")
	quarantined := enroll("sensor-4")
	restricted := enroll("sensor-5")
	var dev store.Device
	if err := w.api.Post(ctx, "/api/v1/devices/sensor-2/revoke", api.ReasonRequest{Reason: "stolen"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.api.Post(ctx, "/api/v1/devices/sensor-3/retire", api.ReasonRequest{}, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.api.Post(ctx, "/api/v1/devices/sensor-4/quarantine", api.ReasonRequest{Reason: "attack"}, &dev); err != nil {
		t.Fatal(err)
	}
	if err := w.api.Post(ctx, "/api/v1/devices/sensor-5/quarantine", api.ReasonRequest{Reason: "attack", Mode: store.QuarantineRestrict}, &dev); err != nil {
		t.Fatal(err)
	}
	issuer, key := wardtest.IssuerKey(t, filepath.Join(dir, "ca"))
	unrecorded := wardtest.DeviceCert(t, issuer, key, "sensor-1", "sensor-1", nil)
	noIdentity := wardtest.DeviceCert(t, issuer, key, "x", "", nil)
	other := wardtest.NewCorporatePKI(t, t.TempDir()) // a CA Ward never heard of
	hostile := wardtest.DeviceCert(t, other.Issuing, other.IssuingKey, "sensor-1", "sensor-1", nil, other.Issuing)
	plain := w.httpClient(t, pki.ClientConfig(w.srv.CA().RootPool(), nil))

	tests := []struct {
		name   string
		client *http.Client
		token  string
		want   int // 0: the TLS handshake must fail
	}{
		{"no credentials", plain, "", http.StatusUnauthorized},
		{"forged token", plain, "ward_0123456789abcdef_" + strings.Repeat("x", 43), http.StatusUnauthorized},
		{"admin token", plain, w.adminToken(t), http.StatusOK},
		{"active device", active, "", http.StatusOK},
		{"device in restrict quarantine (remediation)", restricted, "", http.StatusOK},
		{"revoked device", revoked, "", http.StatusForbidden},
		{"retired device", retired, "", http.StatusForbidden},
		{"device in refuse quarantine", quarantined, "", http.StatusForbidden},
		{"certificate with Ward's issuer key, never recorded", w.httpClient(t, w.forced(&unrecorded)), "", http.StatusForbidden},
		{"certificate naming no device", w.httpClient(t, w.forced(&noIdentity)), "", http.StatusForbidden},
		{"certificate from a foreign CA", w.httpClient(t, w.forced(&hostile)), "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := map[string]string{}
			if tt.token != "" {
				hdr["Authorization"] = "Bearer " + tt.token
			}
			for _, p := range []string{"/tuf/timestamp.json", target} {
				code, body, _, err := tufGet(tt.client, w.baseURL()+p, hdr)
				if tt.want == 0 {
					if err == nil {
						t.Fatalf("GET %s: the handshake with a hostile certificate completed: HTTP %d", p, code)
					}
					continue
				}
				if err != nil {
					t.Fatalf("GET %s: %v", p, err)
				}
				if code != tt.want {
					t.Fatalf("GET %s: %d %s, want %d", p, code, body, tt.want)
				}
				if code != http.StatusOK && bytes.Contains(body, tufFirmware[:100]) {
					t.Fatal("a refusal carries the firmware")
				}
			}
		})
	}
	if got := wardtest.Counter(t, w.srv.registry, "ward_api_tuf_refused_total", "reason", fleet.RefusedRevoked); got == 0 {
		t.Error("ward_api_tuf_refused_total{reason=revoked} = 0")
	}
}

// TestTUFImportedCASiblingRefused: with an imported issuing CA, a
// certificate from another intermediate under the same corporate root
// does not complete the handshake, so cannot fetch /tuf/.
func TestTUFImportedCASiblingRefused(t *testing.T) {
	corp := wardtest.NewCorporatePKI(t, t.TempDir())
	t.Setenv("WARD_PKI_CA_CERT", corp.CertFile)
	t.Setenv("WARD_PKI_CA_KEY", corp.KeyFile)
	w := start(t, t.TempDir())
	_, target := w.publish(t)
	legit := w.enroll(t, "sensor-1")
	forged := wardtest.DeviceCert(t, corp.Sibling, corp.SiblingKey, "sensor-1", "sensor-1", nil, corp.Sibling)
	if code, _, _, err := tufGet(w.httpClient(t, w.forced(&forged)), w.baseURL()+target, nil); err == nil {
		t.Fatalf("the sibling intermediate's certificate completed the handshake: HTTP %d", code)
	}
	if code, body, _, err := tufGet(w.deviceClient(t, &legit), w.baseURL()+target, nil); err != nil || code != http.StatusOK || !bytes.Equal(body, tufFirmware) {
		t.Fatalf("the device Ward enrolled: %d, %v", code, err)
	}
}

// TestTUFSupersededCertificate: after a re-enrollment the old certificate
// still fetches within the grace period and is refused after it, on the
// server's (injected) clock.
func TestTUFSupersededCertificate(t *testing.T) {
	clk := &testClock{t: time.Now()}
	w := startWith(t, t.TempDir(), Options{Now: clk.Now})
	_, target := w.publish(t)
	old := w.enroll(t, "sensor-1")
	key, _ := est.NewDeviceKey()
	csr, err := est.NewCSR("sensor-1", key)
	if err != nil {
		t.Fatal(err)
	}
	crt, err := w.est.Reenroll(context.Background(), old, csr)
	if err != nil {
		t.Fatal(err)
	}
	renewed := tls.Certificate{Certificate: [][]byte{crt.Raw}, PrivateKey: key, Leaf: crt}
	if code, _, _, err := tufGet(w.deviceClient(t, &old), w.baseURL()+target, nil); err != nil || code != http.StatusOK {
		t.Fatalf("the superseded certificate within the grace period: %d %v, want 200", code, err)
	}
	clk.Add(11 * time.Minute) // past the default 10m grace, before the sweep revokes it
	if code, _, _, err := tufGet(w.deviceClient(t, &old), w.baseURL()+target, nil); err != nil || code != http.StatusForbidden {
		t.Fatalf("the superseded certificate past the grace period: %d %v, want 403", code, err)
	}
	if code, _, _, err := tufGet(w.deviceClient(t, &renewed), w.baseURL()+target, nil); err != nil || code != http.StatusOK {
		t.Fatalf("the renewed certificate: %d %v, want 200", code, err)
	}
}

// TestTUFRangeResume cuts a firmware download over mutual TLS and resumes
// it with Range and If-Range: the parts are the published bytes.
func TestTUFRangeResume(t *testing.T) {
	w := start(t, t.TempDir())
	_, target := w.publish(t)
	cert := w.enroll(t, "sensor-1")
	c := w.deviceClient(t, &cert)
	url := w.baseURL() + target
	cut := 123457
	code, first, hdr, err := tufGet(c, url, map[string]string{"Range": fmt.Sprintf("bytes=0-%d", cut-1)})
	if err != nil || code != http.StatusPartialContent || len(first) != cut {
		t.Fatalf("first part: %d, %d bytes, %v", code, len(first), err)
	}
	code, rest, _, err := tufGet(c, url, map[string]string{"Range": fmt.Sprintf("bytes=%d-", cut), "If-Range": hdr.Get("ETag")})
	if err != nil || code != http.StatusPartialContent {
		t.Fatalf("resume: %d %v", code, err)
	}
	if !bytes.Equal(append(first, rest...), tufFirmware) {
		t.Fatal("the resumed download differs from the firmware")
	}
	if ct := hdr.Get("Content-Type"); ct != "application/octet-stream" {
		t.Errorf("Content-Type %q", ct)
	}
	// Traversal attempts through the whole server: never a 200.
	for _, p := range []string{"/tuf/.ward-update.lock", "/tuf/%2e%2e/ward.db", "/tuf/..%2fward.db", "/tuf/targets/", "/tuf/../admin.token", "/tuf/targets/..%2F..%2Fadmin.token"} {
		code, body, _, err := tufGet(c, w.baseURL()+p, nil)
		if err != nil {
			t.Fatal(err)
		}
		if code == http.StatusOK || bytes.Contains(body, []byte("ward_")) {
			t.Errorf("GET %s: %d %q", p, code, body)
		}
	}
}

// testClock is a clock the test moves forward.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestTUFResignTimerInServe: ward serve's timer re-signs the timestamp once
// half its lifetime has passed (on the server's injected clock), and a
// failure to re-sign (the timestamp key gone) makes /healthz say
// "degraded" with the reason until it is fixed.
func TestTUFResignTimerInServe(t *testing.T) {
	clk := &testClock{t: time.Now()}
	w := startWith(t, t.TempDir(), Options{Now: clk.Now})
	w.publish(t)
	ctx := context.Background()
	health := func() api.HealthResponse {
		var h api.HealthResponse
		if err := w.api.Get(ctx, "/healthz", &h); err != nil {
			t.Fatal(err)
		}
		return h
	}
	tsVersion := func() int64 {
		var ts struct {
			Signed struct {
				Version int64 `json:"version"`
			} `json:"signed"`
		}
		b, err := os.ReadFile(filepath.Join(w.dir, update.SiteRepoDir, "timestamp.json"))
		if err == nil {
			err = json.Unmarshal(b, &ts)
		}
		if err != nil {
			t.Fatal(err)
		}
		return ts.Signed.Version
	}
	v := tsVersion()
	clk.Add(13 * time.Hour)
	if did, err := w.srv.Resigner().Check(ctx); !did || err != nil {
		t.Fatalf("re-sign after 13h: %v, %v", did, err)
	}
	if got := tsVersion(); got != v+1 {
		t.Fatalf("timestamp version %d, want %d", got, v+1)
	}
	keys, _ := filepath.Glob(filepath.Join(w.dir, update.SiteKeysDir, "timestamp-*.key"))
	for _, k := range keys {
		if err := os.Rename(k, k+".off"); err != nil {
			t.Fatal(err)
		}
	}
	clk.Add(13 * time.Hour)
	if _, err := w.srv.Resigner().Check(ctx); err == nil {
		t.Fatal("re-sign without the timestamp key succeeded")
	}
	if h := health(); h.Status != "degraded" || len(h.Problems) != 1 || !strings.Contains(h.Problems[0], "timestamp") {
		t.Fatalf("/healthz = %+v, want degraded with the re-sign failure", h)
	}
	for _, k := range keys {
		if err := os.Rename(k+".off", k); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.srv.Resigner().Check(ctx); err != nil {
		t.Fatal(err)
	}
	if h := health(); h.Status != "ok" {
		t.Fatalf("/healthz after the fix = %+v", h)
	}
}

// TestFirmwareAPIPublish publishes over POST /api/v1/firmware on a server
// that holds the keys, lists it, and is refused (409, naming the key) once
// the server no longer holds the model's key; a bad version is 400. A
// device then downloads what the API published through /tuf/.
func TestFirmwareAPIPublish(t *testing.T) {
	w := start(t, t.TempDir())
	root, _ := w.publish(t)
	ctx := context.Background()
	body := bytes.Repeat([]byte("firmware 1.6.0\n"), 10000)
	var fw update.Firmware
	if err := w.api.DoRaw(ctx, http.MethodPost, "/api/v1/firmware?model=acme-th1&version=1.6.0&file=fw.bin&min_version=1.5.0&notes=fix", "application/octet-stream", body, &fw); err != nil {
		t.Fatal(err)
	}
	if fw.Version != "1.6.0" || fw.MinVersion != "1.5.0" || fw.Length != int64(len(body)) || fw.Published.IsZero() {
		t.Fatalf("published %+v", fw)
	}
	var fws []update.Firmware
	if err := w.api.Get(ctx, "/api/v1/firmware?model=acme-th1", &fws); err != nil || len(fws) != 2 || fws[0].Version != "1.6.0" {
		t.Fatalf("list: %+v, %v", fws, err)
	}
	var cerr *client.Error
	if err := w.api.DoRaw(ctx, http.MethodPost, "/api/v1/firmware?model=acme-th1&version=1.6a&file=fw.bin", "application/octet-stream", body, nil); !errors.As(err, &cerr) || cerr.Status != http.StatusBadRequest {
		t.Fatalf("bad version: %v, want 400", err)
	}
	// Without the model's and the targets keys, the server cannot sign.
	for _, glob := range []string{"models-acme-th1-*.key", "targets-*.key"} {
		keys, _ := filepath.Glob(filepath.Join(w.dir, update.SiteKeysDir, glob))
		for _, k := range keys {
			if err := os.Rename(k, k+".offline"); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, model := range []string{"acme-th1", "acme-th2"} {
		err := w.api.DoRaw(ctx, http.MethodPost, "/api/v1/firmware?model="+model+"&version=1.7.0&file=fw.bin", "application/octet-stream", body, nil)
		if !errors.As(err, &cerr) || cerr.Status != http.StatusConflict || !strings.Contains(err.Error(), "keys") {
			t.Fatalf("publish %s without its key: %v, want 409 naming the key", model, err)
		}
	}
	// A device fetches 1.6.0 through /tuf/ with go-tuf.
	cert := w.enroll(t, "sensor-1")
	u := w.tufUpdater(t, root, &cert)
	if err := u.Refresh(); err != nil {
		t.Fatal(err)
	}
	tf, err := u.GetTargetInfo("acme-th1/1.6.0/fw.bin")
	if err != nil {
		t.Fatal(err)
	}
	if _, data, err := u.DownloadTarget(tf, "", ""); err != nil || !bytes.Equal(data, body) {
		t.Fatalf("download of the API-published firmware: %v", err)
	}
}
