package est

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wardproject/ward/internal/fleet"
	"github.com/wardproject/ward/internal/pki"
	"github.com/wardproject/ward/internal/wardtest"
)

// TestWrongTokenFloodGets429 is the flood of issue 9: one client sends
// simpleenroll requests with wrong tokens for ever-new device IDs as fast
// as it can. After its burst it gets 429 with Retry-After and a plain-text
// body, without reaching the registry (no event row, no log line), and a
// device elsewhere still enrolls.
func TestWrongTokenFloodGets429(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	hc := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{TLSClientConfig: pki.ClientConfig(e.roots, nil)}}
	key, _ := NewDeviceKey()
	csr, _ := NewCSR("x", key)
	body := encodeBody(csr)
	var first429 int
	var last *http.Response
	var lastBody string
	for i := range DefaultSourceBurst + 50 {
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/.well-known/est/simpleenroll", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/pkcs10")
		req.SetBasicAuth(fmt.Sprintf("ghost-%d", i), "wrong-token")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests && first429 == 0 {
			first429 = i + 1
		}
		last, lastBody = resp, string(b)
	}
	if first429 != DefaultSourceBurst+1 {
		t.Fatalf("first 429 at request %d, want %d (the source's burst)", first429, DefaultSourceBurst+1)
	}
	if last.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("last request: %d, want 429", last.StatusCode)
	}
	if ra := last.Header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("Retry-After = %q", ra)
	}
	if ct := last.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") || !strings.Contains(lastBody, "retry after") {
		t.Errorf("429 body %q (%s), want a plain-text explanation", lastBody, ct)
	}
	// The refused requests never reached the registry: no events for them.
	evs, err := e.db.ListEvents(ctx, "", 10000)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		var n int
		if _, err := fmt.Sscanf(ev.DeviceID, "ghost-%d", &n); err == nil && n >= DefaultSourceBurst {
			t.Fatalf("a refused request was recorded: %+v", ev)
		}
	}
	// Time passes: the source gets tokens back.
	e.now = e.now.Add(time.Minute)
	tok := e.add(t, "late-1")
	csr2, _ := NewCSR("late-1", key)
	if _, err := e.client().Enroll(ctx, "late-1", tok, csr2); err != nil {
		t.Errorf("enrollment a minute after the flood: %v", err)
	}
}

// TestDeviceIDLimit: guessing the token of one device ID from many sources
// is bounded per ID; another device is not affected.
func TestDeviceIDLimit(t *testing.T) {
	h, clock, reg := newLimitHandler(t, Limits{})
	for i := range DefaultDeviceAttemptsPerHour + 5 {
		code, _ := enrollFrom(h, fmt.Sprintf("198.51.100.%d:1000", i), "victim")
		want := http.StatusUnauthorized
		if i >= DefaultDeviceAttemptsPerHour {
			want = http.StatusTooManyRequests
		}
		if code != want {
			t.Fatalf("attempt %d on one ID from its own address: %d, want %d", i+1, code, want)
		}
	}
	if code, _ := enrollFrom(h, "198.51.100.200:1", "bystander"); code != http.StatusUnauthorized {
		t.Errorf("another device ID: %d, want 401 (its own budget)", code)
	}
	if got := testutil.ToFloat64(h.limited.WithLabelValues("simpleenroll", "device")); got != 5 {
		t.Errorf("ward_est_rate_limited_total{device} = %v, want 5", got)
	}
	*clock = clock.Add(time.Hour)
	if code, _ := enrollFrom(h, "198.51.100.1:1", "victim"); code != http.StatusUnauthorized {
		t.Errorf("an hour later: %d, want 401 (attempts allowed again)", code)
	}
	if reg.calls != DefaultDeviceAttemptsPerHour+2 {
		t.Errorf("the enroller saw %d attempts, want %d: limited ones must not reach it", reg.calls, DefaultDeviceAttemptsPerHour+2)
	}
}

// TestFleetBehindOneNAT: a fleet enrolling in bulk through one address at
// the default rate (20 a second) is never refused: 2,000 devices in 100 s.
func TestFleetBehindOneNAT(t *testing.T) {
	h, clock, _ := newLimitHandler(t, Limits{})
	for i := range 2000 {
		*clock = clock.Add(50 * time.Millisecond)
		if code, body := enrollFrom(h, "203.0.113.9:4000", fmt.Sprintf("fleet-%d", i)); code != http.StatusUnauthorized {
			t.Fatalf("device %d behind the NAT: %d %s, want to reach the enroller (401 from the fake)", i, code, body)
		}
	}
}

// TestIPv6SourcesShareTheirSlash64: addresses of one /64 are one source.
func TestIPv6SourcesShareTheirSlash64(t *testing.T) {
	h, _, _ := newLimitHandler(t, Limits{SourceRate: 1, SourceBurst: 3})
	for i := range 3 {
		if code, _ := get(h, fmt.Sprintf("[2001:db8:0:1::%x]:443", i+1), "/.well-known/est/cacerts"); code != http.StatusOK {
			t.Fatalf("request %d: %d", i, code)
		}
	}
	if code, _ := get(h, "[2001:db8:0:1:ffff::1]:443", "/.well-known/est/cacerts"); code != http.StatusTooManyRequests {
		t.Errorf("4th request from another address of the same /64: %d, want 429", code)
	}
	if code, _ := get(h, "[2001:db8:0:2::1]:443", "/.well-known/est/csrattrs"); code != http.StatusOK {
		t.Errorf("another /64: %d, want 200", code)
	}
}

type countingEnroller struct{ calls int }

func (c *countingEnroller) Enroll(ctx context.Context, id, token string, csrDER []byte) (*x509.Certificate, error) {
	c.calls++
	return nil, fmt.Errorf("wrong token: %w", fleet.ErrBadToken)
}

func (c *countingEnroller) Reenroll(ctx context.Context, cur *x509.Certificate, csrDER []byte) (*x509.Certificate, error) {
	return nil, fleet.ErrBadToken
}

func newLimitHandler(t *testing.T, l Limits) (*Handler, *time.Time, *countingEnroller) {
	t.Helper()
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	reg := &countingEnroller{}
	h, err := New(Options{Enroller: reg, Chain: func() []*x509.Certificate { return nil }, Limits: l,
		Metrics: prometheus.NewPedanticRegistry(), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return h, &now, reg
}

func enrollFrom(h http.Handler, remote, id string) (int, string) {
	key, _ := NewDeviceKey()
	csr, _ := NewCSR(id, key)
	req := httptest.NewRequest(http.MethodPost, "/.well-known/est/simpleenroll", strings.NewReader(encodeBody(csr)))
	req.RemoteAddr = remote
	req.Header.Set("Content-Type", "application/pkcs10")
	req.SetBasicAuth(id, "wrong")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

func get(h http.Handler, remote, path string) (int, string) {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.RemoteAddr = remote
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

func encodeBody(der []byte) string { return base64.StdEncoding.EncodeToString(der) }

// TestRefusalLogBounded: a wrong-token flood from many sources (each
// within its own budget) writes a bounded number of log lines; the metric
// counts every refusal.
func TestRefusalLogBounded(t *testing.T) {
	var buf wardtest.SyncBuffer
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	h, err := New(Options{Enroller: &countingEnroller{}, Chain: func() []*x509.Certificate { return nil },
		Logger: slog.New(slog.NewTextHandler(&buf, nil)), Metrics: prometheus.NewPedanticRegistry(), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 500 {
		if code, _ := enrollFrom(h, fmt.Sprintf("10.0.%d.%d:1", i/250, i%250), fmt.Sprintf("ghost-%d", i)); code != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i, code)
		}
	}
	if n := strings.Count(buf.String(), "enrollment refused"); n != refusalLogBurst {
		t.Errorf("%d log lines for 500 refusals, want the burst %d", n, refusalLogBurst)
	}
	if got := testutil.ToFloat64(h.requests.WithLabelValues("simpleenroll", "Unauthorized")); got != 500 {
		t.Errorf("ward_est_requests_total{Unauthorized} = %v, want 500", got)
	}
}
