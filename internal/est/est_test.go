package est

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wardproject/ward/internal/fleet"
	"github.com/wardproject/ward/internal/pki"
	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/store/sqlite"
	"github.com/wardproject/ward/internal/wardtest"
)

type env struct {
	srv   *httptest.Server
	reg   *fleet.Registry
	ca    *pki.CA
	db    *sqlite.DB
	roots *x509.CertPool
	now   time.Time
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	db := wardtest.SQLite(t)
	e := &env{db: db, now: time.Now()}
	var err error
	clock := func() time.Time { return e.now }
	if e.ca, err = pki.Open(ctx, pki.Options{Dir: t.TempDir(), Store: db, Now: clock}); err != nil {
		t.Fatal(err)
	}
	if e.reg, err = fleet.New(fleet.Options{Store: db, CA: e.ca, Now: clock}); err != nil {
		t.Fatal(err)
	}
	h, err := New(Options{Enroller: e.reg, Chain: e.ca.Chain, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	crt, key, err := e.ca.ServerCertificate(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewUnstartedServer(h)
	e.srv.TLS = e.ca.HTTPSConfig(crt, key)
	e.srv.StartTLS()
	t.Cleanup(e.srv.Close)
	e.roots = e.ca.RootPool()
	return e
}

func (e *env) add(t *testing.T, id string) string {
	t.Helper()
	_, en, err := e.reg.Add(context.Background(), fleet.NewDevice{ID: id, Model: "acme-th1", Firmware: "1.4.2"})
	if err != nil {
		t.Fatal(err)
	}
	return en.Token.Reveal()
}

func (e *env) client() *Client { return &Client{Server: e.srv.URL, Roots: e.roots} }

func statusOf(err error) int {
	var se *ServerError
	if errors.As(err, &se) {
		return se.Status
	}
	return 0
}

func TestEnrollFlow(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tok := e.add(t, "sensor-17")
	key, _ := NewDeviceKey()
	csr, _ := NewCSR("sensor-17", key)
	c := e.client()

	cas, err := c.CACerts(ctx)
	if err != nil || len(cas) != 2 || !cas[1].Equal(e.ca.Root()) {
		t.Fatalf("cacerts = %d certs, %v", len(cas), err)
	}
	crt, err := c.Enroll(ctx, "sensor-17", tok, csr)
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := pki.DeviceIDFromCert(crt); id != "sensor-17" {
		t.Errorf("issued identity %q", id)
	}
	if d, _ := e.db.GetDevice(ctx, "sensor-17"); d.Status != store.StatusActive {
		t.Errorf("status after enroll = %s", d.Status)
	}
	// The token is single use.
	if _, err := c.Enroll(ctx, "sensor-17", tok, csr); statusOf(err) != http.StatusUnauthorized {
		t.Errorf("reused token: %v, want 401", err)
	}
	// Re-enroll with the current certificate over mutual TLS.
	cur := tls.Certificate{Certificate: [][]byte{crt.Raw}, PrivateKey: key}
	key2, _ := NewDeviceKey()
	csr2, _ := NewCSR("sensor-17", key2)
	crt2, err := c.Reenroll(ctx, cur, csr2)
	if err != nil {
		t.Fatal(err)
	}
	if crt2.SerialNumber.Cmp(crt.SerialNumber) == 0 {
		t.Error("reenroll returned the same certificate")
	}
	// Re-enroll for another device's name with my certificate: refused.
	cur2 := tls.Certificate{Certificate: [][]byte{crt2.Raw}, PrivateKey: key2}
	csrOther, _ := NewCSR("sensor-18", key2)
	if _, err := c.Reenroll(ctx, cur2, csrOther); statusOf(err) != http.StatusBadRequest {
		t.Errorf("reenroll naming another device: %v, want 400", err)
	}
	// The certificate it re-enrolled with is superseded: it cannot
	// re-enroll again (nor fork a second line of certificates).
	if _, err := c.Reenroll(ctx, cur, csr2); statusOf(err) != http.StatusUnauthorized {
		t.Errorf("reenroll with the superseded certificate: %v, want 401", err)
	}
	// Within the re-enrollment interval, the new certificate is told when to retry.
	if _, err := c.Reenroll(ctx, cur2, csr2); statusOf(err) != http.StatusTooManyRequests {
		t.Errorf("second reenroll within the interval: %v, want 429", err)
	}
	// After revocation, re-enroll is refused.
	if _, _, err := e.reg.Revoke(ctx, "sensor-17", "keyCompromise"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Reenroll(ctx, cur2, csr2); statusOf(err) != http.StatusUnauthorized {
		t.Errorf("reenroll after revoke: %v, want 401", err)
	}
}

func TestEnrollRefusals(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tok := e.add(t, "dev-a")
	tokB := e.add(t, "dev-b")
	ec, _ := NewDeviceKey()
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	good, _ := NewCSR("dev-a", ec)
	rsaCSR, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "dev-a"}}, rsaKey)
	otherCSR, _ := NewCSR("dev-b", ec)
	c := e.client()
	tests := []struct {
		name   string
		id     string
		token  string
		csr    []byte
		status int
	}{
		{"wrong-token", "dev-a", "nope", good, 401},
		{"other-devices-token", "dev-a", tokB, good, 401},
		{"unknown-device", "ghost", tok, good, 401},
		{"malformed-csr", "dev-a", tok, []byte("garbage"), 400},
		{"rsa-key", "dev-a", tok, rsaCSR, 400},
		{"csr-names-other-device", "dev-a", tok, otherCSR, 400},
		{"bad-id-syntax", "../etc", tok, good, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := c.Enroll(ctx, tt.id, tt.token, tt.csr); statusOf(err) != tt.status {
				t.Errorf("got %v, want status %d", err, tt.status)
			}
		})
	}
	// None of the refusals burned the token or issued anything.
	certs, _ := e.db.ListCertificates(ctx, "dev-a")
	if len(certs) != 0 {
		t.Errorf("%d certificates issued by refused requests", len(certs))
	}
	if _, err := c.Enroll(ctx, "dev-a", tok, good); err != nil {
		t.Errorf("token unusable after refused requests: %v", err)
	}
	// An expired token is refused.
	tokC := e.add(t, "dev-c")
	e.now = e.now.Add(25 * time.Hour)
	csrC, _ := NewCSR("dev-c", ec)
	if _, err := c.Enroll(ctx, "dev-c", tokC, csrC); statusOf(err) != 401 {
		t.Errorf("expired token: %v, want 401", err)
	}
}

func post(t *testing.T, e *env, path, ctype string, body io.Reader, user, pass string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+path, body)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: pki.ClientConfig(e.roots, nil)}}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestProtocolDetails(t *testing.T) {
	e := newEnv(t)
	tok := e.add(t, "dev-a")
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, _ := NewCSR("dev-a", key)
	b64 := base64.StdEncoding.EncodeToString(csr)

	resp, body := post(t, e, "/.well-known/est/simpleenroll", "application/pkcs10", strings.NewReader(b64), "", "")
	if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("no auth: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	resp, _ = post(t, e, "/.well-known/est/simpleenroll", "application/json", strings.NewReader(b64), "dev-a", tok)
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("wrong content type: %d", resp.StatusCode)
	}
	resp, _ = post(t, e, "/.well-known/est/simpleenroll", "application/pkcs10", strings.NewReader(strings.Repeat("A", MaxBodyBytes+10)), "dev-a", tok)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %d", resp.StatusCode)
	}
	resp, _ = post(t, e, "/.well-known/est/simplereenroll", "application/pkcs10", strings.NewReader(b64), "", "")
	if resp.StatusCode != 401 {
		t.Errorf("reenroll without a client certificate: %d", resp.StatusCode)
	}
	// Base64 wrapped at 64 columns, as openssl base64 writes it.
	var wrapped strings.Builder
	for i := 0; i < len(b64); i += 64 {
		wrapped.WriteString(b64[i:min(i+64, len(b64))] + "\n")
	}
	resp, body = post(t, e, "/.well-known/est/simpleenroll", "application/pkcs10", strings.NewReader(wrapped.String()), "dev-a", tok)
	if resp.StatusCode != 200 {
		t.Fatalf("enroll: %d %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/pkcs7-mime; smime-type=certs-only" {
		t.Errorf("Content-Type = %q", ct)
	}
	if resp.Header.Get("Content-Transfer-Encoding") != "base64" {
		t.Error("missing Content-Transfer-Encoding: base64")
	}
	der, err := base64.StdEncoding.DecodeString(strings.NewReplacer("\r", "", "\n", "").Replace(body))
	if err != nil {
		t.Fatal(err)
	}
	if crt, err := firstCert(der); err != nil || crt.Subject.CommonName != "dev-a" {
		t.Errorf("PKCS#7 answer: %v", err)
	}

	// csrattrs decodes as a SEQUENCE naming P-256 and ecdsa-with-SHA256.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: pki.ClientConfig(e.roots, nil)}}
	r2, err := hc.Get(e.srv.URL + "/.well-known/est/csrattrs")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r2.Body)
	r2.Body.Close()
	if r2.Header.Get("Content-Type") != "application/csrattrs" {
		t.Errorf("csrattrs Content-Type %q", r2.Header.Get("Content-Type"))
	}
	raw, _ := base64.StdEncoding.DecodeString(strings.NewReplacer("\r", "", "\n", "").Replace(string(b)))
	var seq asn1.RawValue
	if rest, err := asn1.Unmarshal(raw, &seq); err != nil || len(rest) != 0 || seq.Tag != asn1.TagSequence {
		t.Errorf("csrattrs is not a DER SEQUENCE: %v", err)
	}
}

func TestDecodeCSRBody(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
		ok   bool
	}{
		{"plain", "AQID", "\x01\x02\x03", true},
		{"wrapped", "AQ\r\nID\n", "\x01\x02\x03", true},
		{"pem", "-----BEGIN CERTIFICATE REQUEST-----\nAQID\n-----END CERTIFICATE REQUEST-----\n", "\x01\x02\x03", true},
		{"unpadded", "AQIDBA", "\x01\x02\x03\x04", true},
		{"empty", "  \n", "", false},
		{"not-base64", "%%%", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeCSRBody([]byte(tt.in))
			if (err == nil) != tt.ok || string(got) != tt.want {
				t.Errorf("DecodeCSRBody(%q) = %q, %v", tt.in, got, err)
			}
		})
	}
}

// FuzzEnrollBody: any body never panics the decoder or the CSR parser, and
// anything that parses is a CSR with a valid signature.
func FuzzEnrollBody(f *testing.F) {
	k, _ := NewDeviceKey()
	csr, _ := NewCSR("dev-1", k)
	f.Add([]byte(base64.StdEncoding.EncodeToString(csr)))
	f.Add([]byte("-----BEGIN CERTIFICATE REQUEST-----\nMAA=\n-----END"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		der, err := DecodeCSRBody(body)
		if err != nil {
			return
		}
		c, err := pki.ParseCSR(der)
		if err != nil {
			return
		}
		if c.CheckSignature() != nil {
			t.Fatal("accepted a CSR whose signature does not verify")
		}
	})
}
