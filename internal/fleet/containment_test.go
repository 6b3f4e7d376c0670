package fleet_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	. "github.com/wardproject/ward/internal/fleet"
	"github.com/wardproject/ward/internal/pki"
	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/wardtest"
)

// clock is a settable clock for the registry.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func newRegistryWith(t *testing.T, opts Options) (*Registry, store.Store, *pki.CA, *gatewaySpy) {
	t.Helper()
	db := wardtest.SQLite(t)
	ca, err := pki.Open(context.Background(), pki.Options{Dir: t.TempDir(), Store: db, Now: opts.Now})
	if err != nil {
		t.Fatal(err)
	}
	gw := &gatewaySpy{devices: map[string]store.DeviceStatus{}}
	opts.Store, opts.CA, opts.Gateway = db, ca, gw
	r, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return r, db, ca, gw
}

func crlSerials(t *testing.T, ca *pki.CA) (map[string]bool, *big.Int) {
	t.Helper()
	rl, err := x509.ParseRevocationList(ca.CRL())
	if err != nil {
		t.Fatal(err)
	}
	if err := rl.CheckSignatureFrom(ca.Issuer()); err != nil {
		t.Fatal(err)
	}
	set := map[string]bool{}
	for _, e := range rl.RevokedCertificateEntries {
		set[pki.SerialHex(e.SerialNumber)] = true
	}
	return set, rl.Number
}

// TestRevokeManyCertificatesOnceEvenWhenTheCallerLeaves is the attack
// on revocation: a device that hoarded certificates is revoked by a
// caller that gives up at once (the CLI's timeout). Every certificate is
// revoked in one transaction and the CRL is re-signed once.
func TestRevokeManyCertificatesOnceEvenWhenTheCallerLeaves(t *testing.T) {
	r, db, ca, gw := newRegistryWith(t, Options{})
	ctx := context.Background()
	_, en, err := r.Add(ctx, NewDevice{ID: "hoarder", Model: "m"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Enroll(ctx, "hoarder", en.Token.Reveal(), csr(t, "hoarder")); err != nil {
		t.Fatal(err)
	}
	// Certificates recorded before this version capped them (or by a
	// hostile writer): 600 more, all valid.
	now := time.Now().UTC()
	for i := range 600 {
		if err := db.PutCertificate(ctx, store.Certificate{Serial: fmt.Sprintf("7a%030x", i), DeviceID: "hoarder", Kind: "device",
			Subject: "CN=hoarder", NotBefore: now, NotAfter: now.Add(time.Hour), DER: []byte{1}, IssuedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	_, before := crlSerials(t, ca)
	gone, cancel := context.WithCancel(ctx)
	cancel() // the caller is gone before the work starts
	d, serials, err := r.Revoke(gone, "hoarder", "keyCompromise")
	if err != nil {
		t.Fatalf("revoke with a cancelled caller: %v", err)
	}
	if d.Status != store.StatusRevoked || len(serials) != 601 {
		t.Fatalf("revoked: status %s, %d serials, want revoked and 601", d.Status, len(serials))
	}
	set, after := crlSerials(t, ca)
	if n := new(big.Int).Sub(after, before); n.Int64() != 1 {
		t.Errorf("CRL re-signed %d times for one revocation, want 1", n.Int64())
	}
	for _, s := range serials {
		if !set[s] {
			t.Fatalf("serial %s revoked but not on the CRL", s)
		}
	}
	certs, _ := db.ListCertificates(ctx, "hoarder")
	for _, c := range certs {
		if !c.Revoked() {
			t.Fatalf("certificate %s still valid after revoke", c.Serial)
		}
	}
	if gw.devices["hoarder"] != store.StatusRevoked || gw.crl == 0 {
		t.Errorf("gateway told: status %s, %d CRL notices", gw.devices["hoarder"], gw.crl)
	}
}

// TestTokenIssuedBeforeRevocationIsVoid is the leaked-token attack: the
// operator issued a token (say, for a lost key), then revoked the device;
// whoever holds that token cannot bring the device back.
func TestTokenIssuedBeforeRevocationIsVoid(t *testing.T) {
	r, db, _, _ := newRegistryWith(t, Options{})
	ctx := context.Background()
	_, en, _ := r.Add(ctx, NewDevice{ID: "lost", Model: "m"})
	if _, err := r.Enroll(ctx, "lost", en.Token.Reveal(), csr(t, "lost")); err != nil {
		t.Fatal(err)
	}
	leaked, err := r.NewToken(ctx, "lost", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Revoke(ctx, "lost", "keyCompromise"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Enroll(ctx, "lost", leaked.Token.Reveal(), csr(t, "lost")); !errors.Is(err, ErrBadToken) {
		t.Fatalf("enroll with the token issued before the revocation: %v, want ErrBadToken", err)
	}
	if d, _ := db.GetDevice(ctx, "lost"); d.Status != store.StatusRevoked {
		t.Fatalf("device %s after the leaked token was tried", d.Status)
	}
	fresh, err := r.NewToken(ctx, "lost", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Enroll(ctx, "lost", fresh.Token.Reveal(), csr(t, "lost")); err != nil {
		t.Fatalf("enroll with a token issued after the revocation: %v", err)
	}
}

// TestRetiredDeviceNeverReturns: no token, no enrollment, no release.
func TestRetiredDeviceNeverReturns(t *testing.T) {
	r, _, ca, _ := newRegistryWith(t, Options{})
	ctx := context.Background()
	_, en, _ := r.Add(ctx, NewDevice{ID: "old", Model: "m"})
	crt, err := r.Enroll(ctx, "old", en.Token.Reveal(), csr(t, "old"))
	if err != nil {
		t.Fatal(err)
	}
	d, serials, err := r.Retire(ctx, "old", "")
	if err != nil || d.Status != store.StatusRetired || len(serials) != 1 || !ca.IsRevoked(crt.SerialNumber) {
		t.Fatalf("retire: %s %v %v, revoked %v", d.Status, serials, err, ca.IsRevoked(crt.SerialNumber))
	}
	if _, err := r.NewToken(ctx, "old", time.Hour); !errors.Is(err, ErrWrongState) {
		t.Errorf("token for a retired device: %v, want ErrWrongState", err)
	}
	for name, f := range map[string]func() error{
		"quarantine": func() error { _, err := r.Quarantine(ctx, "old", "", ""); return err },
		"release":    func() error { _, err := r.Release(ctx, "old"); return err },
		"revoke":     func() error { _, _, err := r.Revoke(ctx, "old", ""); return err },
		"retire":     func() error { _, _, err := r.Retire(ctx, "old", ""); return err },
	} {
		if err := f(); !errors.Is(err, ErrWrongState) {
			t.Errorf("%s of a retired device: %v, want ErrWrongState", name, err)
		}
	}
}

// TestReenrollmentLimits is the certificate-farming attack: one device
// calling simplereenroll in a loop, with the same key and CSR.
func TestReenrollmentLimits(t *testing.T) {
	clk := &clock{t: time.Now().UTC()}
	reg := prometheus.NewPedanticRegistry()
	r, db, ca, gw := newRegistryWith(t, Options{Now: clk.Now, Metrics: reg, SupersededGrace: 10 * time.Minute})
	ctx := context.Background()
	_, en, _ := r.Add(ctx, NewDevice{ID: "farm", Model: "m"})
	req := csr(t, "farm")
	c1, err := r.Enroll(ctx, "farm", en.Token.Reveal(), req)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := r.Reenroll(ctx, c1, req)
	if err != nil {
		t.Fatal(err)
	}
	// Hammer: 200 re-enrollments with the new certificate, 8 at a time,
	// and 200 with the superseded one.
	var ok, tooSoon, stale atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range 400 {
		cur := c2
		if i%2 == 1 {
			cur = c1
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			_, err := r.Reenroll(ctx, cur, req)
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, ErrTooSoon):
				tooSoon.Add(1)
			case errors.Is(err, ErrNotEnrolled):
				stale.Add(1)
			default:
				t.Errorf("re-enroll: unexpected error %v", err)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 0 || tooSoon.Load() != 200 || stale.Load() != 200 {
		t.Errorf("hammering: %d issued, %d too soon, %d stale; want 0, 200, 200", ok.Load(), tooSoon.Load(), stale.Load())
	}
	if got := refused(t, reg, "too-soon"); got != 200 {
		t.Errorf("ward_fleet_enroll_refused_total{reason=too-soon} = %v, want 200", got)
	}
	var soon *TooSoonError
	if _, err := r.Reenroll(ctx, c2, req); !errors.As(err, &soon) || soon.RetryAt.Sub(clk.Now()) <= 50*time.Minute {
		t.Errorf("too-soon error %v: retry at %v, want about an hour from now", err, soon)
	}
	// The superseded certificate is revoked once its grace has passed.
	if _, err := r.SweepSuperseded(ctx); err != nil || ca.IsRevoked(c1.SerialNumber) {
		t.Fatalf("sweep within the grace: %v, revoked %v", err, ca.IsRevoked(c1.SerialNumber))
	}
	clk.Add(11 * time.Minute)
	crl := gw.crl
	serials, err := r.SweepSuperseded(ctx)
	if err != nil || len(serials) != 1 || !ca.IsRevoked(c1.SerialNumber) || gw.crl != crl+1 {
		t.Fatalf("sweep after the grace: %v %v, revoked %v, CRL notices %d", serials, err, ca.IsRevoked(c1.SerialNumber), gw.crl-crl)
	}
	// An hour later the device may renew once more; the valid
	// certificates stay capped at 3 however often it re-enrolls by token.
	clk.Add(time.Hour)
	if _, err := r.Reenroll(ctx, c2, req); err != nil {
		t.Fatalf("re-enrollment after the interval: %v", err)
	}
	for range 5 {
		tok, err := r.NewToken(ctx, "farm", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Enroll(ctx, "farm", tok.Token.Reveal(), req); err != nil {
			t.Fatal(err)
		}
	}
	valid := 0
	certs, _ := db.ListCertificates(ctx, "farm")
	for _, c := range certs {
		if !c.Revoked() {
			valid++
		}
	}
	if valid != 3 {
		t.Errorf("%d valid certificates after repeated enrollments, want the cap of 3", valid)
	}
}

// TestWrongTokenFloodStoresNothingForUnknownIDs: refusals for IDs that
// are not registered are counted, not stored; a registered device's
// refusals are recorded at most once a second.
func TestWrongTokenFloodStoresNothingForUnknownIDs(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	clk := &clock{t: time.Now().UTC()}
	r, db, _, _ := newRegistryWith(t, Options{Metrics: reg, Now: clk.Now})
	ctx := context.Background()
	if _, _, err := r.Add(ctx, NewDevice{ID: "victim", Model: "m"}); err != nil {
		t.Fatal(err)
	}
	for i := range 500 {
		if _, err := r.Enroll(ctx, fmt.Sprintf("ghost-%d", i), "wrong", nil); !errors.Is(err, ErrBadToken) {
			t.Fatal(err)
		}
		if _, err := r.Enroll(ctx, "victim", "wrong", nil); !errors.Is(err, ErrBadToken) {
			t.Fatal(err)
		}
	}
	clk.Add(2 * time.Second)
	r.Enroll(ctx, "victim", "wrong", nil)
	all, _ := db.ListEvents(ctx, "", 10000)
	n := 0
	for _, e := range all {
		if e.DeviceID != "victim" {
			t.Fatalf("event stored for unregistered ID %s", e.DeviceID)
		}
		if e.Kind == "enroll-refused" {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d enroll-refused events for 501 wrong tokens over 2 s, want 2 (one a second)", n)
	}
	if got := refused(t, reg, "unknown-device"); got != 500 {
		t.Errorf("unknown-device refusals counted %v, want 500", got)
	}
	if got := refused(t, reg, "bad-token"); got != 501 {
		t.Errorf("bad-token refusals counted %v, want 501", got)
	}
}

// TestSHA1CSRRefused: a CSR signed with SHA-1 is refused, token kept.
func TestSHA1CSRRefused(t *testing.T) {
	r, _, _, _ := newRegistryWith(t, Options{})
	ctx := context.Background()
	_, en, _ := r.Add(ctx, NewDevice{ID: "weak", Model: "m"})
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: "weak"}, SignatureAlgorithm: x509.ECDSAWithSHA1}, k)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Enroll(ctx, "weak", en.Token.Reveal(), der); !errors.Is(err, ErrBadRequest) || !errors.Is(err, pki.ErrCSRHash) {
		t.Fatalf("SHA-1 CSR: %v, want ErrBadRequest and ErrCSRHash", err)
	}
	if _, err := r.Enroll(ctx, "weak", en.Token.Reveal(), csr(t, "weak")); err != nil {
		t.Fatalf("the token must survive a refused CSR: %v", err)
	}
}

func refused(t *testing.T, reg *prometheus.Registry, reason string) float64 {
	return wardtest.Counter(t, reg, "ward_fleet_enroll_refused_total", "reason", reason)
}

// holdFirstEnroll is the real store with its first EnrollDevice, once
// armed, held until release is closed: a re-enrollment caught between
// signing and recording.
type holdFirstEnroll struct {
	Store
	armed   atomic.Bool
	calls   atomic.Int64
	entered chan struct{}
	release chan struct{}
}

func (h *holdFirstEnroll) EnrollDevice(ctx context.Context, e store.Enrollment) (store.Outcome, error) {
	if h.armed.Load() && h.calls.Add(1) == 1 {
		close(h.entered)
		<-h.release
	}
	return h.Store.EnrollDevice(ctx, e)
}

// TestParallelReenrollmentsReachTheStoreOnce is the flood that delayed
// containment: a device sending many re-enrollments at once made the CA
// sign each of them and queue a write transaction for each on the store's
// single writer, although at most one can succeed, and the operator's
// revoke waited behind them. While one re-enrollment of the device is
// being signed and recorded, the others are refused at once (429
// in progress) and never reach the store.
func TestParallelReenrollmentsReachTheStoreOnce(t *testing.T) {
	ctx := context.Background()
	db := wardtest.SQLite(t)
	ca, err := pki.Open(ctx, pki.Options{Dir: t.TempDir(), Store: db})
	if err != nil {
		t.Fatal(err)
	}
	h := &holdFirstEnroll{Store: db, entered: make(chan struct{}), release: make(chan struct{})}
	var once sync.Once
	release := func() { once.Do(func() { close(h.release) }) }
	defer release()
	reg := prometheus.NewPedanticRegistry()
	r, err := New(Options{Store: h, CA: ca, Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	_, en, err := r.Add(ctx, NewDevice{ID: "farm", Model: "m"})
	if err != nil {
		t.Fatal(err)
	}
	req := csr(t, "farm")
	c1, err := r.Enroll(ctx, "farm", en.Token.Reveal(), req)
	if err != nil {
		t.Fatal(err)
	}
	h.armed.Store(true)
	first := make(chan error, 1)
	go func() {
		_, err := r.Reenroll(ctx, c1, req)
		first <- err
	}()
	select {
	case <-h.entered:
	case <-time.After(30 * time.Second):
		t.Fatal("the first re-enrollment did not reach the store")
	}
	for range 20 {
		_, err := r.Reenroll(ctx, c1, req)
		var soon *TooSoonError
		if !errors.As(err, &soon) || !soon.InProgress {
			t.Fatalf("re-enrollment while another of the device is in progress: %v, want refused as in progress", err)
		}
	}
	if n := h.calls.Load(); n != 1 {
		t.Errorf("%d re-enrollments reached the store, want 1", n)
	}
	release()
	if err := <-first; err != nil {
		t.Fatalf("the re-enrollment in progress: %v", err)
	}
	if got := refused(t, reg, "too-soon"); got != 20 {
		t.Errorf("ward_fleet_enroll_refused_total{reason=too-soon} = %v, want 20", got)
	}
}
