package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/goleak"

	"github.com/wardproject/ward/internal/api"
	"github.com/wardproject/ward/internal/client"
	"github.com/wardproject/ward/internal/config"
	"github.com/wardproject/ward/internal/est"
	"github.com/wardproject/ward/internal/fleet"
	"github.com/wardproject/ward/internal/pki"
	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/wardtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// paho's and net/http's idle connection goroutines end shortly after Close.
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
	)
}

// wait bounds each wait for something that normally takes milliseconds
// (a TLS handshake, a delivery); generous, for a loaded 2-core machine
// under the race detector. Limits the product promises (a revoked device
// disconnected within 2 s) are asserted separately.
const wait = 15 * time.Second

type ward struct {
	srv    *Server
	dir    string
	api    *client.Client
	est    *est.Client
	cancel context.CancelFunc
	done   chan error
}

// start runs a real server on random ports in a temp dir.
func start(t *testing.T, dir string) *ward {
	t.Helper()
	return startWith(t, dir, Options{})
}

// startWith is start with Options; their Config is loaded from the environment.
func startWith(t *testing.T, dir string, opts Options) *ward {
	t.Helper()
	t.Setenv("WARD_DATA_DIR", dir)
	t.Setenv("WARD_HTTPS_ADDR", "127.0.0.1:0")
	t.Setenv("WARD_MQTT_ADDR", "127.0.0.1:0")
	cfg, err := config.Load(nil, os.Environ())
	if err != nil {
		t.Fatal(err)
	}
	opts.Config = cfg
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := New(ctx, opts)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	w := &ward{srv: srv, dir: dir, cancel: cancel, done: make(chan error, 1)}
	go func() { w.done <- srv.Run(ctx) }()
	t.Cleanup(w.stop)
	select {
	case <-srv.Ready():
	case err := <-w.done:
		t.Fatalf("server exited: %v", err)
	case <-time.After(wait):
		t.Fatal("server not ready")
	}
	tok, err := os.ReadFile(filepath.Join(dir, AdminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	url := "https://localhost:" + port(srv.HTTPSAddr())
	w.api, err = client.New(client.Options{Server: url, Token: strings.TrimSpace(string(tok)), CAFile: filepath.Join(dir, CAFile)})
	if err != nil {
		t.Fatal(err)
	}
	w.est = &est.Client{Server: url, Roots: srv.CA().RootPool()}
	return w
}

func (w *ward) stop() {
	if w.cancel == nil {
		return
	}
	w.cancel()
	w.cancel = nil
	if err := <-w.done; err != nil {
		panic(fmt.Sprintf("server Run: %v", err))
	}
}

func port(a net.Addr) string { return fmt.Sprint(a.(*net.TCPAddr).Port) }

// enroll registers and enrolls a device over EST and returns its TLS identity.
func (w *ward) enroll(t *testing.T, id string) tls.Certificate {
	t.Helper()
	ctx := context.Background()
	var res api.EnrollmentResponse
	if err := w.api.Post(ctx, "/api/v1/devices", api.AddDeviceRequest{ID: id, Model: "acme-th1", Firmware: "1.4.2"}, &res); err != nil {
		t.Fatal(err)
	}
	key, _ := est.NewDeviceKey()
	csr, _ := est.NewCSR(id, key)
	crt, err := w.est.Enroll(ctx, id, res.Token, csr)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{crt.Raw}, PrivateKey: key, Leaf: crt}
}

type mqttClient struct {
	paho.Client
	msgs chan paho.Message
	lost chan error
}

func (w *ward) connect(cert *tls.Certificate, clientID string, roots *x509.CertPool) (*mqttClient, error) {
	if roots == nil {
		roots = w.srv.CA().RootPool()
	}
	return w.connectTLS(pki.ClientConfig(roots, cert), clientID)
}

func (w *ward) connectTLS(cfg *tls.Config, clientID string) (*mqttClient, error) {
	c := &mqttClient{msgs: make(chan paho.Message, 64), lost: make(chan error, 1)}
	opts := paho.NewClientOptions().AddBroker("tls://localhost:" + port(w.srv.MQTTAddr())).SetClientID(clientID).
		SetTLSConfig(cfg).SetAutoReconnect(false).SetConnectRetry(false).
		SetConnectTimeout(wait).SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { c.msgs <- m }).
		SetConnectionLostHandler(func(_ paho.Client, err error) { c.lost <- err })
	c.Client = paho.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(wait) {
		return nil, errors.New("connect timed out")
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *mqttClient) subscribe(t *testing.T, filter string) byte {
	t.Helper()
	tok := c.Subscribe(filter, 1, nil)
	if !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", filter, tok.Error())
	}
	return tok.(*paho.SubscribeToken).Result()[filter]
}

func (c *mqttClient) publish(t *testing.T, topic, payload string) {
	t.Helper()
	tok := c.Publish(topic, 1, false, payload)
	if !tok.WaitTimeout(wait) {
		t.Fatalf("publish %s timed out", topic)
	}
}

func (c *mqttClient) next(t *testing.T) paho.Message {
	t.Helper()
	select {
	case m := <-c.msgs:
		return m
	case <-time.After(wait):
		t.Fatal("no message received")
		return nil
	}
}

// TestEndToEnd is the end-to-end scenario on a real server: two
// devices enrolled over EST, mutual TLS with paho, isolation, revocation
// while connected, and refusals of foreign or missing certificates.
func TestEndToEnd(t *testing.T) { runEndToEnd(t) }

// TestEndToEndOnPostgres runs the same scenario with the PostgreSQL store
// (in a schema of its own, dropped afterwards).
func TestEndToEndOnPostgres(t *testing.T) {
	wardtest.PostgresStore(t)
	runEndToEnd(t)
}

func runEndToEnd(t *testing.T) {
	w := start(t, t.TempDir())
	ctx := context.Background()
	certA, certB := w.enroll(t, "sensor-a"), w.enroll(t, "sensor-b")

	a, err := w.connect(&certA, "sensor-a", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Disconnect(0)
	b, err := w.connect(&certB, "sensor-b:telemetry", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Disconnect(0)

	if code := a.subscribe(t, "devices/sensor-a/#"); code != 1 {
		t.Fatalf("own subscription granted QoS %#x", code)
	}
	if code := b.subscribe(t, "devices/sensor-b/#"); code != 1 {
		t.Fatalf("own subscription granted QoS %#x", code)
	}
	a.publish(t, "devices/sensor-a/telemetry", "a-own")
	if m := a.next(t); string(m.Payload()) != "a-own" {
		t.Fatalf("A got %q", m.Payload())
	}
	// A cannot subscribe on B's tree, exactly or through wildcards.
	for _, f := range []string{"devices/sensor-b/#", "devices/sensor-b/cmd", "devices/+/cmd", "devices/#", "#", "+/sensor-b/#"} {
		if code := a.subscribe(t, f); code != 0x80 {
			t.Errorf("A subscribing %q: SUBACK %#x, want 0x80", f, code)
		}
	}
	// A's publish into B's tree never reaches B; B's own message (sent
	// after it) does, so the check is ordered, not timed.
	a.publish(t, "devices/sensor-b/cmd", "intrusion")
	b.publish(t, "devices/sensor-b/cmd", "legit")
	if m := b.next(t); string(m.Payload()) != "legit" {
		t.Fatalf("B received %q from %s: cross-device publish got through", m.Payload(), m.Topic())
	}

	// Revoke A while connected: disconnected within 2 s, reconnect refused.
	start := time.Now()
	var rr api.RevokeResponse
	if err := w.api.Post(ctx, "/api/v1/devices/sensor-a/revoke", api.ReasonRequest{Reason: "keyCompromise"}, &rr); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.lost:
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("revoked device disconnected after %v, want within 2s", d)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("revoked device still connected after 2s")
	}
	if _, err := w.connect(&certA, "sensor-a", nil); err == nil {
		t.Error("revoked device reconnected")
	}
	rl, err := x509.ParseRevocationList(w.srv.CA().CRL())
	if err != nil || len(rl.RevokedCertificateEntries) != 1 || rl.RevokedCertificateEntries[0].SerialNumber.Cmp(certA.Leaf.SerialNumber) != 0 {
		t.Errorf("CRL does not list A's certificate: %v", err)
	}
	// B is unaffected.
	b.publish(t, "devices/sensor-b/x", "still-here")
	if m := b.next(t); string(m.Payload()) != "still-here" {
		t.Errorf("B got %q", m.Payload())
	}

	// No certificate; a certificate from another CA.
	if _, err := w.connect(nil, "sensor-b", nil); err == nil {
		t.Error("client without a certificate connected")
	}
	foreign := foreignCert(t, "sensor-b")
	if _, err := w.connect(&foreign, "sensor-b", nil); err == nil {
		t.Error("client with a certificate from another CA connected")
	}

	// The refusals and the revocation are recorded as device events.
	var v fleet.View
	deadline := time.Now().Add(wait)
	for {
		if err := w.api.Get(ctx, "/api/v1/devices/sensor-a?events=50", &v); err != nil {
			t.Fatal(err)
		}
		if hasEvent(v.Events, "revoked", "") && hasEvent(v.Events, "refused", "revoked") && hasEvent(v.Events, "connected", "") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("events of sensor-a lack revoked / refused(revoked) / connected: %+v", v.Events)
		}
		time.Sleep(50 * time.Millisecond) // polling the API: no event to wait on from outside
	}
	if v.Status != store.StatusRevoked {
		t.Errorf("status %s, want revoked", v.Status)
	}
}

func hasEvent(evs []store.Event, kind, reason string) bool {
	for _, e := range evs {
		if e.Kind == kind && (reason == "" || e.Detail["reason"] == reason) {
			return true
		}
	}
	return false
}

// foreignCert is a device certificate for id from a CA Ward does not know.
func foreignCert(t *testing.T, id string) tls.Certificate {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caT := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Evil CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, _ := x509.CreateCertificate(rand.Reader, caT, caT, caKey.Public(), caKey)
	caCert, _ := x509.ParseCertificate(caDER)
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	lt := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: id}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, _ := x509.CreateCertificate(rand.Reader, lt, caCert, k.Public(), caKey)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}
}

// TestRestartReusesState: a second start reuses the CA, token and devices.
func TestRestartReusesState(t *testing.T) {
	dir := t.TempDir()
	w := start(t, dir)
	w.enroll(t, "d1")
	fp := pki.Fingerprint(w.srv.CA().Root())
	tok1, _ := os.ReadFile(filepath.Join(dir, AdminTokenFile))
	w.stop()
	st, _ := os.Stat(filepath.Join(dir, AdminTokenFile))
	if st.Mode().Perm() != 0o600 {
		t.Errorf("admin.token mode %#o", st.Mode().Perm())
	}
	w2 := start(t, dir)
	if pki.Fingerprint(w2.srv.CA().Root()) != fp {
		t.Error("CA changed across restart")
	}
	tok2, _ := os.ReadFile(filepath.Join(dir, AdminTokenFile))
	if string(tok1) != string(tok2) {
		t.Error("admin token rewritten on second start")
	}
	var vs []fleet.View
	if err := w2.api.Get(context.Background(), "/api/v1/devices", &vs); err != nil || len(vs) != 1 || vs[0].Status != store.StatusActive {
		t.Errorf("devices after restart: %+v %v", vs, err)
	}
}

// TestBadInputKeepsServing: garbage and a truncated handshake on both
// ports, then a good client still works and nothing half-written exists.
func TestBadInputKeepsServing(t *testing.T) {
	w := start(t, t.TempDir())
	cert := w.enroll(t, "d1")
	for _, addr := range []net.Addr{w.srv.MQTTAddr(), w.srv.HTTPSAddr()} {
		for _, junk := range [][]byte{
			[]byte("GET / HTTP/1.0\r\n\r\n"),
			{0x10, 0xff, 0xff, 0xff, 0xff, 0x7f},       // MQTT CONNECT with a huge length, in clear
			{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00}, // truncated TLS ClientHello
		} {
			c, err := net.DialTimeout("tcp", addr.String(), wait)
			if err != nil {
				t.Fatal(err)
			}
			c.Write(junk)
			c.Close()
		}
	}
	c, err := w.connect(&cert, "d1", nil)
	if err != nil {
		t.Fatalf("good client refused after garbage: %v", err)
	}
	c.subscribe(t, "devices/d1/#")
	c.publish(t, "devices/d1/t", "ok")
	if m := c.next(t); string(m.Payload()) != "ok" {
		t.Errorf("got %q", m.Payload())
	}
	// An oversized payload disconnects or is dropped; the server keeps serving.
	c.Publish("devices/d1/big", 0, false, make([]byte, 300<<10))
	c2, err := w.connect(&cert, "d1:second", nil)
	if err != nil {
		t.Fatalf("server not serving after oversized publish: %v", err)
	}
	c2.Disconnect(0)
	c.Disconnect(0)
	var certs []store.Certificate
	if err := w.api.Get(context.Background(), "/api/v1/certificates?device=d1", &certs); err != nil || len(certs) != 1 {
		t.Errorf("certificates of d1: %d, %v", len(certs), err)
	}
	b, _ := json.Marshal(certs)
	if strings.Contains(string(b), "PRIVATE") {
		t.Error("a private key appears in the API")
	}
}

// TestBusUnreachable: a NATS URL nobody answers makes New fail with the
// bus's error (and release what it had opened), not panic.
func TestBusUnreachable(t *testing.T) {
	t.Setenv("WARD_DATA_DIR", t.TempDir())
	t.Setenv("WARD_HTTPS_ADDR", "127.0.0.1:0")
	t.Setenv("WARD_MQTT_ADDR", "127.0.0.1:0")
	t.Setenv("WARD_BUS_NATS_URL", "nats://127.0.0.1:1")
	wardtest.PostgresStore(t) // a cluster needs the shared store
	cfg, err := config.Load(nil, os.Environ())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(context.Background(), Options{Config: cfg})
	if err == nil {
		srv.close()
		t.Fatal("New succeeded with an unreachable bus")
	}
	if !strings.Contains(err.Error(), "nats") {
		t.Errorf("error does not name the bus: %v", err)
	}
}
