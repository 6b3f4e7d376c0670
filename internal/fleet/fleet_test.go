package fleet_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/wardproject/ward/internal/est"
	. "github.com/wardproject/ward/internal/fleet"
	"github.com/wardproject/ward/internal/pki"
	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/store/sqlite"
	"github.com/wardproject/ward/internal/wardtest"
)

// gatewaySpy records what the registry tells the gateway.
type gatewaySpy struct {
	mu      sync.Mutex
	devices map[string]store.DeviceStatus
	crl     int
}

func (g *gatewaySpy) SetDevice(d store.Device) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.devices[d.ID] = d.Status
}
func (g *gatewaySpy) SetModelPolicy(store.ModelPolicy)  {}
func (g *gatewaySpy) CertificateRevoked()               { g.mu.Lock(); g.crl++; g.mu.Unlock() }
func (g *gatewaySpy) Connected(string) int              { return 0 }
func (g *gatewaySpy) ConnectedIDs(string, int) []string { return nil }

func newRegistry(t *testing.T) (*Registry, *sqlite.DB, *pki.CA, *gatewaySpy) {
	t.Helper()
	ctx := context.Background()
	db := wardtest.SQLite(t)
	ca, err := pki.Open(ctx, pki.Options{Dir: t.TempDir(), Store: db})
	if err != nil {
		t.Fatal(err)
	}
	gw := &gatewaySpy{devices: map[string]store.DeviceStatus{}}
	r, err := New(Options{Store: db, CA: ca, Gateway: gw})
	if err != nil {
		t.Fatal(err)
	}
	return r, db, ca, gw
}

func csr(t *testing.T, id string) []byte {
	t.Helper()
	k, _ := est.NewDeviceKey()
	der, err := est.NewCSR(id, k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestAddValidation(t *testing.T) {
	r, _, _, _ := newRegistry(t)
	ctx := context.Background()
	for _, nd := range []NewDevice{
		{ID: "bad id", Model: "m"}, {ID: "ok", Model: ""}, {ID: "ok", Model: "m\x00"},
		{ID: "ok", Model: "m", Tags: []string{""}}, {ID: "ok", Model: "m", Policy: store.Policy{Subscribe: []string{"a+/b"}}},
		{ID: "ok", Model: "m", Policy: store.Policy{MessagesPerSecond: -1}},
	} {
		if _, _, err := r.Add(ctx, nd); !errors.Is(err, ErrBadRequest) {
			t.Errorf("Add(%+v) = %v, want ErrBadRequest", nd, err)
		}
	}
}

func TestLifecycle(t *testing.T) {
	r, db, ca, gw := newRegistry(t)
	ctx := context.Background()
	_, en, err := r.Add(ctx, NewDevice{ID: "d1", Model: "m"})
	if err != nil {
		t.Fatal(err)
	}
	if gw.devices["d1"] != store.StatusPending {
		t.Errorf("gateway not told of the new device: %v", gw.devices)
	}
	// A rejected CSR does not consume the token.
	if _, err := r.Enroll(ctx, "d1", en.Token.Reveal(), csr(t, "d2")); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("CSR for another device: %v", err)
	}
	c1, err := r.Enroll(ctx, "d1", en.Token.Reveal(), csr(t, "d1"))
	if err != nil {
		t.Fatal(err)
	}
	if gw.devices["d1"] != store.StatusActive {
		t.Errorf("status at gateway after enroll: %s", gw.devices["d1"])
	}
	if _, err := r.Enroll(ctx, "d1", en.Token.Reveal(), csr(t, "d1")); !errors.Is(err, ErrBadToken) {
		t.Errorf("second use of the token: %v", err)
	}
	c2, err := r.Reenroll(ctx, c1, csr(t, "d1"))
	if err != nil {
		t.Fatal(err)
	}
	if d, err := r.Quarantine(ctx, "d1", "test", ""); err != nil || d.Quarantine != store.QuarantineRefuse {
		t.Fatalf("quarantine: mode %q, %v", d.Quarantine, err)
	}
	if _, err := r.Quarantine(ctx, "d1", "test", "isolate"); !errors.Is(err, ErrBadRequest) {
		t.Errorf("unknown quarantine mode: %v", err)
	}
	if d, err := r.Quarantine(ctx, "d1", "test", store.QuarantineRestrict); err != nil || d.Quarantine != store.QuarantineRestrict || d.Status != store.StatusQuarantined {
		t.Fatalf("change to restricted quarantine: %s %q, %v", d.Status, d.Quarantine, err)
	}
	if _, err := r.Reenroll(ctx, c2, csr(t, "d1")); !errors.Is(err, ErrQuarantined) {
		t.Errorf("reenroll while quarantined: %v", err)
	}
	if _, err := r.NewToken(ctx, "d1", 0); !errors.Is(err, ErrQuarantined) {
		t.Errorf("new token while quarantined: %v", err)
	}
	if d, err := r.Release(ctx, "d1"); err != nil || d.Status != store.StatusActive || d.Quarantine != "" {
		t.Fatalf("release: %v %q %v", d.Status, d.Quarantine, err)
	}
	_, serials, err := r.Revoke(ctx, "d1", "keyCompromise")
	if err != nil || len(serials) != 2 {
		t.Fatalf("revoke: %v serials, %v", serials, err)
	}
	if !ca.IsRevoked(c1.SerialNumber) || !ca.IsRevoked(c2.SerialNumber) || gw.crl != 1 || gw.devices["d1"] != store.StatusRevoked {
		t.Errorf("after revoke: revoked %v %v, crl notices %d, gateway status %s", ca.IsRevoked(c1.SerialNumber), ca.IsRevoked(c2.SerialNumber), gw.crl, gw.devices["d1"])
	}
	if _, err := r.Quarantine(ctx, "d1", "", ""); !errors.Is(err, ErrWrongState) {
		t.Errorf("quarantine a revoked device: %v", err)
	}
	// Re-enrollment of a revoked device needs a new token from the operator.
	en2, err := r.NewToken(ctx, "d1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Enroll(ctx, "d1", en2.Token.Reveal(), csr(t, "d1")); err != nil {
		t.Errorf("enroll with a new token after revoke: %v", err)
	}
	v, err := r.Get(ctx, "d1", 100)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, e := range v.Events {
		kinds[e.Kind]++
	}
	for _, k := range []string{"registered", "enrolled", "reenrolled", "quarantined", "released", "revoked", "enroll-refused"} {
		if kinds[k] == 0 {
			t.Errorf("no %q event recorded (%v)", k, kinds)
		}
	}
	certs, _ := db.ListCertificates(ctx, "d1")
	if len(certs) != 3 {
		t.Errorf("%d certificates, want 3", len(certs))
	}
}

type slowStore struct {
	mu      sync.Mutex
	events  []store.Event
	touched map[string]time.Time
	gate    chan struct{}
}

func (s *slowStore) AddEvents(_ context.Context, evs []store.Event) error {
	<-s.gate
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, evs...)
	return nil
}

func (s *slowStore) TouchDevice(_ context.Context, id string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.touched[id] = at
	return nil
}

func TestRecorderNeverBlocks(t *testing.T) {
	st := &slowStore{touched: map[string]time.Time{}, gate: make(chan struct{})}
	rec, err := NewRecorder(RecorderOptions{Store: st, QueueSize: 4, MaxBatch: 2})
	if err != nil {
		t.Fatal(err)
	}
	// The store is blocked and Run is not even running: producers must
	// still return at once, dropping what does not fit.
	for i := range 10 {
		rec.DeviceEvent(store.Event{DeviceID: "d", Kind: "connected", Time: time.Unix(int64(i), 0)})
	}
	if got := rec.Dropped(); got != 6 {
		t.Errorf("dropped %d, want 6 (queue of 4)", got)
	}
	close(st.gate)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Run drains what is queued and returns
	if err := rec.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if len(st.events) != 4 || st.touched["d"] != time.Unix(3, 0) {
		t.Errorf("written %d events, last seen %v", len(st.events), st.touched["d"])
	}
}
