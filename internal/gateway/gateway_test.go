package gateway_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/wardproject/ward/internal/gateway"
	"github.com/wardproject/ward/internal/gwevent"
	"github.com/wardproject/ward/internal/pki"
	"github.com/wardproject/ward/internal/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// wait bounds every wait for an event in these tests.
const wait = 5 * time.Second

// certStore is an in-memory pki.CertStore.
type certStore struct {
	mu       sync.Mutex
	certs    map[string]store.Certificate
	counters map[string]int64
}

func newCertStore() *certStore {
	return &certStore{certs: map[string]store.Certificate{}, counters: map[string]int64{}}
}

func (s *certStore) PutCertificate(_ context.Context, c store.Certificate) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.certs[c.Serial]; ok {
		return store.ErrConflict
	}
	s.certs[c.Serial] = c
	return nil
}

func (s *certStore) GetCertificate(_ context.Context, serial string) (store.Certificate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.certs[serial]
	if !ok {
		return c, store.ErrNotFound
	}
	return c, nil
}

func (s *certStore) RevokeCertificate(_ context.Context, serial, reason string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.certs[serial]
	if !ok {
		return store.ErrNotFound
	}
	if c.RevokedAt.IsZero() {
		c.RevokedAt, c.RevokeReason = at, reason
		s.certs[serial] = c
	}
	return nil
}

func (s *certStore) ListRevoked(context.Context) ([]store.Certificate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.Certificate
	for _, c := range s.certs {
		if c.Revoked() {
			out = append(out, c)
		}
	}
	return out, nil
}

func (s *certStore) EachValidDeviceCertificate(_ context.Context, now time.Time, fn func(store.Certificate) error) error {
	s.mu.Lock()
	var valid []store.Certificate
	for _, c := range s.certs {
		if c.Kind == "device" && !c.Revoked() && now.Before(c.NotAfter) {
			valid = append(valid, store.Certificate{Serial: c.Serial, DeviceID: c.DeviceID, NotAfter: c.NotAfter})
		}
	}
	s.mu.Unlock()
	for _, c := range valid {
		if err := fn(c); err != nil {
			return err
		}
	}
	return nil
}

func (s *certStore) NextCounter(_ context.Context, name string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counters[name]++
	return s.counters[name], nil
}

// directory is a static gateway.Directory.
type directory struct {
	devices []store.Device
	models  []store.ModelPolicy
}

func (d *directory) ListDevices(context.Context) ([]store.Device, error) { return d.devices, nil }
func (d *directory) ListModelPolicies(context.Context) ([]store.ModelPolicy, error) {
	return d.models, nil
}

// sink collects events into a channel.
type sink struct{ ch chan store.Event }

func (s *sink) DeviceEvent(e store.Event) {
	select {
	case s.ch <- e:
	default:
	}
}

// clock is a settable clock.
type clock struct{ ns atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

type env struct {
	t      testing.TB
	ca     *pki.CA
	cs     *certStore
	caDir  string
	gw     *gateway.Gateway
	events chan store.Event
	clock  *clock
	reg    *prometheus.Registry
	addr   string
	// stop cancels Run and returns its result (nil when it did not
	// return within wait).
	stop func() (error, bool)
}

// caEpoch backdates the test CA so that an expired device certificate can
// still chain to it (see TestExpiredCertificate).
var caEpoch = -72 * time.Hour

func newEnv(t testing.TB, devs []store.Device, models []store.ModelPolicy, lim gateway.Limits, observer ...gateway.Observer) *env {
	t.Helper()
	return newEnvDir(t, &directory{devices: devs, models: models}, lim, observer...)
}

// newEnvDir is newEnv with the gateway's Directory given.
func newEnvDir(t testing.TB, dir gateway.Directory, lim gateway.Limits, observer ...gateway.Observer) *env {
	t.Helper()
	return newEnvCA(t, pki.Options{}, dir, lim, observer...)
}

// newEnvCA is newEnvDir with options of the CA (an imported issuing CA,
// AllowCNIdentity); their Dir, Store and Now are set here.
func newEnvCA(t testing.TB, caOpts pki.Options, dir gateway.Directory, lim gateway.Limits, observer ...gateway.Observer) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{t: t, cs: newCertStore(), caDir: t.TempDir(), events: make(chan store.Event, 1000), clock: &clock{}, reg: prometheus.NewPedanticRegistry()}
	e.clock.ns.Store(time.Now().UnixNano())
	caOpts.Dir, caOpts.Store, caOpts.Now = e.caDir, e.cs, func() time.Time { return time.Now().Add(caEpoch) }
	ca, err := pki.Open(ctx, caOpts)
	if err != nil {
		t.Fatal(err)
	}
	e.ca = ca
	crt, key, err := ca.ServerCertificate(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	opts := gateway.Options{
		Addr:       "127.0.0.1:0",
		TLS:        ca.MQTTConfig(crt, key, nil),
		Revoked:    ca,
		Identities: ca,
		Devices:    dir,
		Events:     &sink{ch: e.events},
		Limits:     lim,
		Metrics:    e.reg,
		Now:        e.clock.Now,
	}
	if len(observer) > 0 {
		opts.Observer = observer[0]
	}
	gw, err := gateway.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	e.gw = gw
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- gw.Run(runCtx) }()
	var stopOnce sync.Once
	var stopErr error
	var stopped bool
	e.stop = func() (error, bool) {
		stopOnce.Do(func() {
			cancel()
			select {
			case stopErr = <-done:
				stopped = true
			case <-time.After(wait):
			}
		})
		return stopErr, stopped
	}
	t.Cleanup(func() {
		if err, ok := e.stop(); !ok {
			t.Error("Run did not return after cancel")
		} else if err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-gw.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(wait):
		t.Fatal("gateway not ready")
	}
	e.addr = gw.Addr().String()
	return e
}

func activeDevices(ids ...string) []store.Device {
	var out []store.Device
	for _, id := range ids {
		out = append(out, store.Device{ID: id, Model: "m1", Status: store.StatusActive})
	}
	return out
}

// issue returns a device certificate for id from ca.
func issue(t testing.TB, ca *pki.CA, id string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: id}}, key)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	crt, err := ca.SignDevice(context.Background(), id, csr)
	if err != nil {
		t.Fatal(err)
	}
	chain := [][]byte{crt.Raw}
	for _, c := range ca.Chain() {
		if c != ca.Root() {
			chain = append(chain, c.Raw)
		}
	}
	return tls.Certificate{Certificate: chain, PrivateKey: key, Leaf: crt}
}

func (e *env) clientTLS(cert *tls.Certificate) *tls.Config {
	return pki.ClientConfig(e.ca.RootPool(), cert)
}

// client is a paho MQTT 3.1.1 client with channels for what it receives.
type client struct {
	c    paho.Client
	msgs chan paho.Message
	lost chan error
}

func (e *env) connect(cert *tls.Certificate, clientID string) (*client, error) {
	return e.connectTLS(e.clientTLS(cert), clientID)
}

func (e *env) connectTLS(cfg *tls.Config, clientID string) (*client, error) {
	cl := &client{msgs: make(chan paho.Message, 100), lost: make(chan error, 1)}
	o := paho.NewClientOptions().AddBroker("ssl://" + e.addr).SetClientID(clientID).SetTLSConfig(cfg).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(wait).SetWriteTimeout(wait).
		SetProtocolVersion(4).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { cl.msgs <- m }).
		SetConnectionLostHandler(func(_ paho.Client, err error) { cl.lost <- err })
	cl.c = paho.NewClient(o)
	tok := cl.c.Connect()
	if !tok.WaitTimeout(wait) {
		return nil, errors.New("connect timed out")
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	e.t.Cleanup(func() { cl.c.Disconnect(0) })
	return cl, nil
}

func (e *env) mustConnect(cert *tls.Certificate, clientID string) *client {
	e.t.Helper()
	c, err := e.connect(cert, clientID)
	if err != nil {
		e.t.Fatalf("connect %s: %v", clientID, err)
	}
	return c
}

func (c *client) subscribe(t testing.TB, filter string) byte {
	t.Helper()
	tok := c.c.Subscribe(filter, 1, nil)
	if !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", filter, tok.Error())
	}
	return tok.(*paho.SubscribeToken).Result()[filter]
}

func (c *client) publish(t testing.TB, topic string, payload []byte) {
	t.Helper()
	tok := c.c.Publish(topic, 1, false, payload)
	if !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// next returns the next message the client receives.
func (c *client) next(t testing.TB) paho.Message {
	t.Helper()
	select {
	case m := <-c.msgs:
		return m
	case <-time.After(wait):
		t.Fatal("no message received")
		return nil
	}
}

// waitEvent returns the first event matching pred, discarding others.
func (e *env) waitEvent(pred func(store.Event) bool) store.Event {
	e.t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case ev := <-e.events:
			if pred(ev) {
				return ev
			}
		case <-deadline:
			e.t.Fatal("expected event not recorded")
			return store.Event{}
		}
	}
}

func refused(device, reason string) func(store.Event) bool {
	return func(ev store.Event) bool {
		return ev.Kind == gwevent.Refused.String() && ev.DeviceID == device && ev.Detail["reason"] == reason
	}
}

func kind(device, k string) func(store.Event) bool {
	return func(ev store.Event) bool { return ev.Kind == k && ev.DeviceID == device }
}

// metric returns the value of a counter or gauge with the given label value.
func (e *env) metric(name, label string) float64 {
	e.t.Helper()
	return e.series(name, func(m *dto.Metric) bool { return label == "" || hasLabel(m, label) })
}

// series returns the value of the first counter or gauge of name that match accepts.
func (e *env) series(name string, match func(*dto.Metric) bool) float64 {
	e.t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if match(m) {
				if m.Counter != nil {
					return m.Counter.GetValue()
				}
				return m.Gauge.GetValue()
			}
		}
	}
	return 0
}

func hasLabel(m *dto.Metric, v string) bool {
	for _, l := range m.GetLabel() {
		if l.GetValue() == v {
			return true
		}
	}
	return false
}

func TestOwnTopicsAndIsolation(t *testing.T) {
	e := newEnv(t, activeDevices("dev-a", "dev-b"), nil, gateway.Limits{})
	ca, cb := issue(t, e.ca, "dev-a"), issue(t, e.ca, "dev-b")
	a := e.mustConnect(&ca, "dev-a")
	b := e.mustConnect(&cb, "dev-b:telemetry")
	e.waitEvent(func(ev store.Event) bool {
		return ev.Kind == gwevent.Connected.String() && ev.DeviceID == "dev-b" && ev.Detail["client_id"] == "dev-b:telemetry" && ev.Detail["serial"] != ""
	})
	if n := e.gw.Connected("dev-a"); n != 1 {
		t.Fatalf("Connected(dev-a) = %d, want 1", n)
	}

	if code := a.subscribe(t, "devices/dev-a/#"); code != 1 {
		t.Fatalf("own subscription: SUBACK %#x, want 0x01", code)
	}
	if code := b.subscribe(t, "devices/dev-b/#"); code != 1 {
		t.Fatalf("own subscription: SUBACK %#x, want 0x01", code)
	}
	// A cannot subscribe to B's tree, exactly or through wildcards, nor to $SYS.
	for _, f := range []string{"devices/dev-b/#", "devices/dev-b/cmd", "devices/+/cmd", "devices/#", "#", "+/dev-b/#", "+/+/+", "$SYS/#", "devices/dev-b"} {
		if code := a.subscribe(t, f); code != 0x80 {
			t.Errorf("subscribe %q: SUBACK %#x, want 0x80", f, code)
		}
		e.waitEvent(func(ev store.Event) bool {
			return ev.Kind == gwevent.ACLDenied.String() && ev.DeviceID == "dev-a" && ev.Detail["topic"] == f && ev.Detail["action"] == "subscribe"
		})
	}

	// A publishes into B's tree (dropped), then to its own tree; once A's
	// own message arrives A's earlier publish has been fully processed.
	a.publish(t, "devices/dev-b/cmd", []byte("from-a"))
	e.waitEvent(func(ev store.Event) bool {
		return ev.Kind == gwevent.ACLDenied.String() && ev.DeviceID == "dev-a" && ev.Detail["action"] == "publish" && ev.Detail["topic"] == "devices/dev-b/cmd"
	})
	a.publish(t, "devices/dev-a/status", []byte("a-ok"))
	if m := a.next(t); m.Topic() != "devices/dev-a/status" || string(m.Payload()) != "a-ok" {
		t.Fatalf("A got %s %q", m.Topic(), m.Payload())
	}
	// B's own marker arrives after anything A's publish could have queued.
	b.publish(t, "devices/dev-b/cmd", []byte("marker"))
	if m := b.next(t); string(m.Payload()) != "marker" {
		t.Fatalf("B received %s %q before its marker: A's publish crossed devices", m.Topic(), m.Payload())
	}
	if got := e.metric("ward_gateway_acl_denied_total", "publish"); got != 1 {
		t.Errorf("acl_denied_total{publish} = %v, want 1", got)
	}
	if got := e.metric("ward_gateway_sessions", ""); got != 2 {
		t.Errorf("sessions = %v, want 2", got)
	}
}

func TestModelAndDeviceGrants(t *testing.T) {
	devs := activeDevices("dev-a", "dev-b")
	devs[0].Policy.Publish = []string{"fleet/{id}/up", "devices/dev-b/#"} // a grant into another device's tree is ignored
	models := []store.ModelPolicy{{Model: "m1", Policy: store.Policy{Subscribe: []string{"broadcast/m1/#"}, Publish: []string{"telemetry/{id}"}}}}
	e := newEnv(t, devs, models, gateway.Limits{})
	ca, cb := issue(t, e.ca, "dev-a"), issue(t, e.ca, "dev-b")
	a := e.mustConnect(&ca, "dev-a")
	b := e.mustConnect(&cb, "dev-b")
	if code := b.subscribe(t, "broadcast/m1/#"); code != 1 {
		t.Fatalf("model grant subscribe: %#x", code)
	}
	if code := b.subscribe(t, "devices/dev-b/#"); code != 1 {
		t.Fatalf("own subscribe: %#x", code)
	}
	if code := a.subscribe(t, "fleet/dev-a/up"); code != 0x80 {
		t.Fatalf("publish-only grant allowed a subscription: %#x", code)
	}
	a.publish(t, "devices/dev-b/x", []byte("crossing")) // dropped despite the grant
	a.publish(t, "telemetry/dev-b", []byte("not mine")) // dropped: {id} is dev-a
	a.publish(t, "broadcast/m1/all", []byte("no publish grant"))
	b.publish(t, "devices/dev-b/x", []byte("marker"))
	if m := b.next(t); string(m.Payload()) != "marker" {
		t.Fatalf("B received %q before its marker", m.Payload())
	}
}

func TestClientIDRule(t *testing.T) {
	e := newEnv(t, activeDevices("dev-a", "dev-b"), nil, gateway.Limits{})
	ca := issue(t, e.ca, "dev-a")
	for _, id := range []string{"dev-b", "dev-b:x", "dev-a:", "dev-ax", "x:dev-a"} {
		if _, err := e.connect(&ca, id); err == nil {
			t.Errorf("client ID %q admitted with dev-a's certificate", id)
		}
		ev := e.waitEvent(refused("dev-a", gwevent.ReasonClientID))
		if ev.Detail["client_id"] != id {
			t.Errorf("event client_id = %q, want %q", ev.Detail["client_id"], id)
		}
	}
	e.mustConnect(&ca, "dev-a:updates")
	e.mustConnect(&ca, "dev-a:telemetry")
	if n := e.gw.Connected("dev-a"); n != 2 {
		t.Fatalf("Connected = %d, want 2", n)
	}
	if got := e.metric("ward_gateway_refused_total", gwevent.ReasonClientID); got != 5 {
		t.Errorf("refused_total{client-id} = %v, want 5", got)
	}
}

func TestNoClientCertificate(t *testing.T) {
	e := newEnv(t, activeDevices("dev-a"), nil, gateway.Limits{})
	if _, err := e.connectTLS(e.clientTLS(nil), "dev-a"); err == nil {
		t.Fatal("client without a certificate admitted")
	}
	e.waitEvent(refused("", gwevent.ReasonNoCertificate))
}

func TestOtherCARefused(t *testing.T) {
	e := newEnv(t, activeDevices("dev-a"), nil, gateway.Limits{})
	other, err := pki.Open(context.Background(), pki.Options{Dir: t.TempDir(), Store: newCertStore()})
	if err != nil {
		t.Fatal(err)
	}
	cert := issue(t, other, "dev-a")
	if _, err := e.connect(&cert, "dev-a"); err == nil {
		t.Fatal("certificate from another CA admitted")
	}
	e.waitEvent(refused("", gwevent.ReasonUnknownCA))
}

func TestExpiredCertificate(t *testing.T) {
	e := newEnv(t, activeDevices("dev-a"), nil, gateway.Limits{})
	// Same CA files and store, a clock 50 h back and a 1 h validity.
	old, err := pki.Open(context.Background(), pki.Options{Dir: e.caDir, Store: e.cs, DeviceValidity: time.Hour,
		Now: func() time.Time { return time.Now().Add(-50 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	cert := issue(t, old, "dev-a")
	if _, err := e.connect(&cert, "dev-a"); err == nil {
		t.Fatal("expired certificate admitted")
	}
	e.waitEvent(refused("dev-a", gwevent.ReasonExpired))
}

func TestUnknownAndPendingDevice(t *testing.T) {
	devs := []store.Device{{ID: "dev-p", Status: store.StatusPending}}
	e := newEnv(t, devs, nil, gateway.Limits{})
	cx, cp := issue(t, e.ca, "dev-x"), issue(t, e.ca, "dev-p")
	if _, err := e.connect(&cx, "dev-x"); err == nil {
		t.Fatal("unknown device admitted")
	}
	e.waitEvent(refused("dev-x", gwevent.ReasonUnknownDevice))
	if _, err := e.connect(&cp, "dev-p"); err == nil {
		t.Fatal("pending device admitted")
	}
	e.waitEvent(refused("dev-p", gwevent.ReasonPending))
	// Activated at runtime: admitted; removed: disconnected and refused.
	e.gw.SetDevice(store.Device{ID: "dev-p", Status: store.StatusActive})
	c := e.mustConnect(&cp, "dev-p")
	e.gw.RemoveDevice("dev-p")
	waitLost(t, c)
	if _, err := e.connect(&cp, "dev-p"); err == nil {
		t.Fatal("removed device admitted")
	}
	e.waitEvent(refused("dev-p", gwevent.ReasonUnknownDevice))
}

func waitLost(t *testing.T, c *client) {
	t.Helper()
	select {
	case <-c.lost:
	case <-time.After(2 * time.Second):
		t.Fatal("session not disconnected within 2 s")
	}
}

func TestRevokedWhileConnected(t *testing.T) {
	e := newEnv(t, activeDevices("dev-a", "dev-b"), nil, gateway.Limits{})
	ca, cb := issue(t, e.ca, "dev-a"), issue(t, e.ca, "dev-b")
	a := e.mustConnect(&ca, "dev-a")
	b := e.mustConnect(&cb, "dev-b")
	if err := e.ca.Revoke(context.Background(), pki.SerialHex(ca.Leaf.SerialNumber), "compromised"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	e.gw.CertificateRevoked()
	waitLost(t, a)
	t.Logf("revoked session closed after %v", time.Since(start))
	e.waitEvent(kind("dev-a", gwevent.Disconnected.String()))
	if _, err := e.connect(&ca, "dev-a"); err == nil {
		t.Fatal("revoked certificate admitted on reconnect")
	}
	e.waitEvent(refused("dev-a", gwevent.ReasonRevoked))
	// B is unaffected.
	b.subscribe(t, "devices/dev-b/#")
	b.publish(t, "devices/dev-b/x", []byte("still here"))
	b.next(t)
	if n := e.gw.Connected("dev-a"); n != 0 {
		t.Errorf("Connected(dev-a) = %d after revocation", n)
	}
}

func TestQuarantineAndRelease(t *testing.T) {
	e := newEnv(t, activeDevices("dev-a"), nil, gateway.Limits{})
	ca := issue(t, e.ca, "dev-a")
	a1 := e.mustConnect(&ca, "dev-a:one")
	a2 := e.mustConnect(&ca, "dev-a:two")
	e.gw.SetDevice(store.Device{ID: "dev-a", Model: "m1", Status: store.StatusQuarantined})
	waitLost(t, a1)
	waitLost(t, a2)
	if _, err := e.connect(&ca, "dev-a"); err == nil {
		t.Fatal("quarantined device admitted")
	}
	e.waitEvent(refused("dev-a", gwevent.ReasonQuarantined))
	e.gw.SetDevice(store.Device{ID: "dev-a", Model: "m1", Status: store.StatusActive})
	e.mustConnect(&ca, "dev-a")
	if n := e.gw.Disconnect("dev-a"); n != 1 {
		t.Fatalf("Disconnect = %d, want 1", n)
	}
}

func TestRestrictedQuarantine(t *testing.T) {
	devs := activeDevices("dev-a", "ops-1")
	// The operator's remediation service may talk to every quarantine tree.
	devs[1].Policy = store.Policy{Publish: []string{"quarantine/+/cmd"}, Subscribe: []string{"quarantine/+/diag"}}
	e := newEnv(t, devs, nil, gateway.Limits{})
	ca, cops := issue(t, e.ca, "dev-a"), issue(t, e.ca, "ops-1")
	a := e.mustConnect(&ca, "dev-a")
	ops := e.mustConnect(&cops, "ops-1")
	if code := ops.subscribe(t, "quarantine/+/diag"); code != 1 {
		t.Fatalf("ops subscription: SUBACK %#x", code)
	}
	restricted := store.Device{ID: "dev-a", Model: "m1", Status: store.StatusQuarantined, Quarantine: store.QuarantineRestrict}
	e.gw.SetDevice(restricted)
	waitLost(t, a)

	// Admitted again, to its quarantine tree only.
	a = e.mustConnect(&ca, "dev-a")
	if code := a.subscribe(t, "quarantine/dev-a/cmd"); code != 1 {
		t.Fatalf("quarantine subscription: SUBACK %#x, want 0x01", code)
	}
	for _, f := range []string{"devices/dev-a/#", "quarantine/+/cmd", "quarantine/ops-1/cmd"} {
		if code := a.subscribe(t, f); code != 0x80 {
			t.Errorf("restricted subscribe %q: SUBACK %#x, want 0x80", f, code)
		}
	}
	a.publish(t, "devices/dev-a/telemetry", []byte("t"))
	e.waitEvent(func(ev store.Event) bool {
		return ev.Kind == gwevent.ACLDenied.String() && ev.DeviceID == "dev-a" && ev.Detail["action"] == "publish" && ev.Detail["topic"] == "devices/dev-a/telemetry"
	})
	a.publish(t, "quarantine/dev-a/diag", []byte("diag"))
	if m := ops.next(t); m.Topic() != "quarantine/dev-a/diag" || string(m.Payload()) != "diag" {
		t.Fatalf("ops received %s %q, want the device's diagnostics", m.Topic(), m.Payload())
	}
	// A policy change that keeps the mode does not disconnect the device.
	restricted.Policy.Publish = []string{"sites/x/#"}
	e.gw.SetDevice(restricted)
	ops.publish(t, "quarantine/dev-a/cmd", []byte("fix"))
	if m := a.next(t); m.Topic() != "quarantine/dev-a/cmd" || string(m.Payload()) != "fix" {
		t.Fatalf("device received %s %q, want the remediation command", m.Topic(), m.Payload())
	}
	// The grant does not apply while restricted.
	a.publish(t, "sites/x/y", []byte("s"))
	e.waitEvent(func(ev store.Event) bool {
		return ev.Kind == gwevent.ACLDenied.String() && ev.DeviceID == "dev-a" && ev.Detail["topic"] == "sites/x/y"
	})

	// Restrict -> refuse: disconnected and refused.
	e.gw.SetDevice(store.Device{ID: "dev-a", Model: "m1", Status: store.StatusQuarantined, Quarantine: store.QuarantineRefuse})
	waitLost(t, a)
	if _, err := e.connect(&ca, "dev-a"); err == nil {
		t.Fatal("device quarantined in refuse mode admitted")
	}
	e.waitEvent(refused("dev-a", gwevent.ReasonQuarantined))

	// Released: the device's own tree again, and no quarantine tree.
	e.gw.SetDevice(restricted)
	a = e.mustConnect(&ca, "dev-a")
	e.gw.SetDevice(store.Device{ID: "dev-a", Model: "m1", Status: store.StatusActive})
	waitLost(t, a)
	a = e.mustConnect(&ca, "dev-a")
	if code := a.subscribe(t, "quarantine/dev-a/cmd"); code != 0x80 {
		t.Errorf("released device subscribes to its quarantine tree: SUBACK %#x, want 0x80", code)
	}
	a.subscribe(t, "devices/dev-a/#")
	a.publish(t, "devices/dev-a/telemetry", []byte("back"))
	if m := a.next(t); string(m.Payload()) != "back" {
		t.Fatalf("released device received %s %q", m.Topic(), m.Payload())
	}
}

func TestOversizePayload(t *testing.T) {
	devs := activeDevices("dev-a")
	devs[0].Policy.MaxMessageBytes = 1024
	e := newEnv(t, devs, nil, gateway.Limits{})
	ca := issue(t, e.ca, "dev-a")
	a := e.mustConnect(&ca, "dev-a")
	a.subscribe(t, "devices/dev-a/#")
	a.publish(t, "devices/dev-a/big", make([]byte, 2000)) // 3.1.1: acknowledged and dropped
	e.waitEvent(func(ev store.Event) bool {
		return ev.Kind == gwevent.Limit.String() && ev.DeviceID == "dev-a" && ev.Detail["limit"] == gwevent.LimitMessageSize
	})
	a.publish(t, "devices/dev-a/small", []byte("ok"))
	if m := a.next(t); m.Topic() != "devices/dev-a/small" {
		t.Fatalf("received %s, want only the small message", m.Topic())
	}
}

func TestPacketOverBrokerCap(t *testing.T) {
	e := newEnv(t, activeDevices("dev-a"), nil, gateway.Limits{MaxMessageBytes: 1024, MaxPacketBytes: 4096})
	ca := issue(t, e.ca, "dev-a")
	a := e.mustConnect(&ca, "dev-a")
	a.c.Publish("devices/dev-a/huge", 0, false, make([]byte, 8192))
	waitLost(t, a)
	e.mustConnect(&ca, "dev-a") // the server keeps serving
}

func TestMessageRateLimit(t *testing.T) {
	devs := activeDevices("dev-a")
	devs[0].Policy.MessagesPerSecond = 3
	e := newEnv(t, devs, nil, gateway.Limits{})
	ca := issue(t, e.ca, "dev-a")
	a := e.mustConnect(&ca, "dev-a")
	a.subscribe(t, "devices/dev-a/#")
	for i := range 5 { // the clock stands still: 3 pass, 2 are dropped
		a.publish(t, "devices/dev-a/m", fmt.Appendf(nil, "m%d", i))
	}
	e.clock.Advance(time.Second)
	a.publish(t, "devices/dev-a/m", []byte("marker"))
	var got []string
	for len(got) == 0 || got[len(got)-1] != "marker" {
		got = append(got, string(a.next(t).Payload()))
	}
	if strings.Join(got, ",") != "m0,m1,m2,marker" {
		t.Fatalf("received %v, want m0,m1,m2,marker", got)
	}
	e.waitEvent(func(ev store.Event) bool {
		return ev.Kind == gwevent.Limit.String() && ev.Detail["limit"] == gwevent.LimitMessageRate
	})
	if got := e.metric("ward_gateway_limit_hits_total", gwevent.LimitMessageRate); got != 2 {
		t.Errorf("limit_hits_total{message-rate} = %v, want 2", got)
	}
}

func TestConnectRateBan(t *testing.T) {
	devs := activeDevices("dev-f")
	devs[0].Policy.ConnectsPerMinute = 2
	e := newEnv(t, devs, nil, gateway.Limits{ConnectBan: time.Minute})
	cf := issue(t, e.ca, "dev-f")
	for range 2 {
		c := e.mustConnect(&cf, "dev-f")
		c.c.Disconnect(0)
		e.waitEvent(kind("dev-f", gwevent.Disconnected.String()))
	}
	if _, err := e.connect(&cf, "dev-f"); err == nil {
		t.Fatal("third connection within a minute admitted")
	}
	e.waitEvent(refused("dev-f", gwevent.ReasonConnectRate))
	e.clock.Advance(30 * time.Second) // still banned
	if _, err := e.connect(&cf, "dev-f"); err == nil {
		t.Fatal("banned device admitted")
	}
	e.waitEvent(refused("dev-f", gwevent.ReasonConnectRate))
	e.clock.Advance(31 * time.Second)
	e.mustConnect(&cf, "dev-f")
}

func TestGarbageAndTruncatedHandshake(t *testing.T) {
	e := newEnv(t, activeDevices("dev-a"), nil, gateway.Limits{})
	// A truncated ClientHello left open must not block other clients.
	trunc, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer trunc.Close()
	if _, err := trunc.Write([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03}); err != nil {
		t.Fatal(err)
	}
	// Plain garbage and an MQTT CONNECT without TLS are rejected.
	for _, junk := range [][]byte{[]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), {0x10, 0x0c, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3c, 0, 0}, make([]byte, 4096)} {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.Write(junk)
		_ = c.SetReadDeadline(time.Now().Add(wait))
		_, _ = c.Read(make([]byte, 64)) // the server answers with an alert or closes
		c.Close()
	}
	ca := issue(t, e.ca, "dev-a")
	a := e.mustConnect(&ca, "dev-a")
	a.subscribe(t, "devices/dev-a/#")
	a.publish(t, "devices/dev-a/x", []byte("alive"))
	a.next(t)
	if got := e.metric("ward_gateway_connections_total", "tls-error"); got < 3 {
		t.Errorf("connections_total{tls-error} = %v, want >= 3", got)
	}
}

func TestWillTopicOutsideACLRefused(t *testing.T) {
	e := newEnv(t, activeDevices("dev-a", "dev-b"), nil, gateway.Limits{})
	ca := issue(t, e.ca, "dev-a")
	o := paho.NewClientOptions().AddBroker("ssl://"+e.addr).SetClientID("dev-a").SetTLSConfig(e.clientTLS(&ca)).
		SetAutoReconnect(false).SetConnectTimeout(wait).SetProtocolVersion(4).
		SetWill("devices/dev-b/cmd", "reboot", 0, false)
	c := paho.NewClient(o)
	tok := c.Connect()
	tok.WaitTimeout(wait)
	if tok.Error() == nil {
		c.Disconnect(0)
		t.Fatal("will into another device's tree admitted")
	}
	e.waitEvent(refused("dev-a", gwevent.ReasonWillTopic))
}

// TestRetainedMessagesCapped: a device cannot hold more than
// MaxRetainedPerDevice retained messages; further retained publishes to new
// topics are delivered but not retained, and counted.
func TestRetainedMessagesCapped(t *testing.T) {
	e := newEnv(t, activeDevices("dev-a"), nil, gateway.Limits{MessagesPerSecond: 1e6, BytesPerSecond: 1e9})
	cert := issue(t, e.ca, "dev-a")
	pub := e.mustConnect(&cert, "dev-a:pub")
	extra := 5
	for i := range gateway.MaxRetainedPerDevice + extra {
		tok := pub.c.Publish(fmt.Sprintf("devices/dev-a/r/%d", i), 1, true, []byte("v"))
		if !tok.WaitTimeout(wait) || tok.Error() != nil {
			t.Fatalf("publish %d: %v", i, tok.Error())
		}
	}
	// Re-publishing a retained topic already held is not a new one.
	tok := pub.c.Publish("devices/dev-a/r/0", 1, true, []byte("v2"))
	tok.WaitTimeout(wait)
	if got := e.metric("ward_gateway_limit_hits_total", gwevent.LimitRetained); got != float64(extra) {
		t.Errorf("retained limit hits = %v, want %d", got, extra)
	}
	sub := e.mustConnect(&cert, "dev-a:sub")
	sub.subscribe(t, "devices/dev-a/r/#")
	retained := 0
	for retained < gateway.MaxRetainedPerDevice {
		if m := sub.next(t); m.Retained() {
			retained++
		}
	}
	// Deleting a retained message (empty payload) frees a place.
	pub.c.Publish("devices/dev-a/r/1", 1, true, []byte{}).WaitTimeout(wait)
	pub.c.Publish("devices/dev-a/r/new", 1, true, []byte("v")).WaitTimeout(wait)
	if got := e.metric("ward_gateway_limit_hits_total", gwevent.LimitRetained); got != float64(extra) {
		t.Errorf("after a deletion, a new retained topic was refused: limit hits %v", got)
	}
}

// TestCertificateExpiresDuringSession: a session ends when its certificate
// expires, not only at the next connect.
func TestCertificateExpiresDuringSession(t *testing.T) {
	e := newEnv(t, activeDevices("dev-a"), nil, gateway.Limits{})
	cert := issue(t, e.ca, "dev-a")
	c := e.mustConnect(&cert, "dev-a")
	if n := e.gw.ExpireSessions(); n != 0 {
		t.Fatalf("%d sessions expired with a valid certificate", n)
	}
	e.clock.Advance(cert.Leaf.NotAfter.Sub(e.clock.Now()) + time.Minute)
	if n := e.gw.ExpireSessions(); n != 1 {
		t.Fatalf("ExpireSessions = %d, want 1", n)
	}
	waitLost(t, c)
	ev := e.waitEvent(refused("dev-a", gwevent.ReasonExpired))
	if ev.Detail["live"] != "true" {
		t.Errorf("expiry of a live session stored as %v, want live=true", ev.Detail)
	}
	// A session that ended is not a connection refused.
	if n := e.metric("ward_gateway_refused_total", gwevent.ReasonExpired); n != 0 {
		t.Errorf("ward_gateway_refused_total{reason=expired} = %v, want 0", n)
	}
	if n := e.metric("ward_gateway_connections_total", "refused"); n != 0 {
		t.Errorf("ward_gateway_connections_total{result=refused} = %v, want 0", n)
	}
}

// lookupDirectory is a directory whose GetDevice answers from a second,
// newer set of records (the store as another node changed it).
type lookupDirectory struct {
	directory
	mu     sync.Mutex
	latest map[string]store.Device
	calls  map[string]int
}

func (d *lookupDirectory) GetDevice(_ context.Context, id string) (store.Device, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls[id]++
	if dev, ok := d.latest[id]; ok {
		return dev, nil
	}
	return store.Device{}, store.ErrNotFound
}

func (d *lookupDirectory) callsOf(id string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.calls[id]
}

// TestLookupBeforeRefusing: a device the gateway holds as pending, but
// which the store already has active (enrolled through another node), is
// admitted after one read; unknown devices are re-read at most once per
// LookupInterval; an older read never overrides a newer SetDevice.
func TestLookupBeforeRefusing(t *testing.T) {
	t0 := time.Now().UTC()
	dir := &lookupDirectory{
		directory: directory{devices: []store.Device{
			{ID: "dev-a", Model: "m1", Status: store.StatusPending, UpdatedAt: t0},
			{ID: "dev-c", Model: "m1", Status: store.StatusActive, UpdatedAt: t0},
		}},
		latest: map[string]store.Device{
			"dev-a": {ID: "dev-a", Model: "m1", Status: store.StatusActive, UpdatedAt: t0.Add(time.Second)},
			"dev-c": {ID: "dev-c", Model: "m1", Status: store.StatusActive, UpdatedAt: t0},
		},
		calls: map[string]int{},
	}
	e := newEnvDir(t, dir, gateway.Limits{})
	ca, cx, cc := issue(t, e.ca, "dev-a"), issue(t, e.ca, "dev-x"), issue(t, e.ca, "dev-c")
	e.mustConnect(&ca, "dev-a")
	if n := dir.callsOf("dev-a"); n != 1 {
		t.Errorf("dev-a read %d times, want 1", n)
	}
	for range 3 {
		if _, err := e.connect(&cx, "dev-x"); err == nil {
			t.Fatal("unknown device admitted")
		}
	}
	if n := dir.callsOf("dev-x"); n != 1 {
		t.Errorf("unknown dev-x read %d times within LookupInterval, want 1", n)
	}
	e.clock.Advance(gateway.LookupInterval)
	if _, err := e.connect(&cx, "dev-x"); err == nil {
		t.Fatal("unknown device admitted")
	}
	if n := dir.callsOf("dev-x"); n != 2 {
		t.Errorf("dev-x read %d times after LookupInterval, want 2", n)
	}
	// dev-c revoked through this node's registry; the store read (older,
	// still active) must not bring it back.
	e.gw.SetDevice(store.Device{ID: "dev-c", Model: "m1", Status: store.StatusRevoked, UpdatedAt: t0.Add(2 * time.Second)})
	if _, err := e.connect(&cc, "dev-c"); err == nil {
		t.Fatal("an older store read re-admitted a revoked device")
	}
	if n := dir.callsOf("dev-c"); n != 1 {
		t.Errorf("dev-c read %d times, want 1", n)
	}
}

// TestIdleSessionHoldsNoReadBuffer: a session waiting for its next packet
// holds no read buffer in the broker (mochi's reader gives it back and
// waits through frameConn.WaitRead), and takes one again when data comes:
// a 200 KiB publish after the idle spell arrives whole, byte for byte,
// and the session is back to holding nothing afterwards.
func TestIdleSessionHoldsNoReadBuffer(t *testing.T) {
	e := newEnv(t, activeDevices("dev-a", "dev-b"), nil, gateway.Limits{})
	ca, cb := issue(t, e.ca, "dev-a"), issue(t, e.ca, "dev-b")
	a := e.mustConnect(&ca, "dev-a")
	b := e.mustConnect(&cb, "dev-b")
	if code := a.subscribe(t, "devices/dev-a/#"); code != 1 {
		t.Fatalf("SUBACK %#x", code)
	}
	idle := func(clientID string) {
		t.Helper()
		deadline := time.Now().Add(wait)
		for {
			held, ok := e.gw.ReadBufferHeld(clientID)
			if !ok {
				t.Fatalf("no live session %s", clientID)
			}
			if !held {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("session %s still holds a read buffer after %s idle", clientID, wait)
			}
			time.Sleep(time.Millisecond) // poll: the read loop parks on its own
		}
	}
	idle("dev-a")
	idle("dev-b")

	payload := make([]byte, 200<<10)
	for i := range payload {
		payload[i] = byte(i*7 + i>>9)
	}
	a.publish(t, "devices/dev-a/blob", payload)
	if m := a.next(t); m.Topic() != "devices/dev-a/blob" || !bytes.Equal(m.Payload(), payload) {
		t.Fatalf("got %s with %d bytes; want the 200 KiB payload intact", m.Topic(), len(m.Payload()))
	}
	idle("dev-a")
	// b, idle all along, still works.
	b.publish(t, "devices/dev-b/status", []byte("ok"))
	idle("dev-b")
}
