package agent

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wardproject/ward/internal/pki"
	"github.com/wardproject/ward/internal/wardtest"
)

// writeIdentity writes the env's device key and certificate as ward
// enroll does, and loads them.
func (e *env) writeIdentity() *Identity {
	e.t.Helper()
	kb, err := x509.MarshalPKCS8PrivateKey(e.cert.PrivateKey)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := pki.WriteSecretFile(filepath.Join(e.dir, KeyFile), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb})); err != nil {
		e.t.Fatal(err)
	}
	if err := pki.WritePublicFile(filepath.Join(e.dir, CertFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.cert.Leaf.Raw})); err != nil {
		e.t.Fatal(err)
	}
	id, err := LoadIdentity(e.dir)
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

// clockSleeper advances the env's clock by each wait instead of sleeping,
// records it, and ends the run (cancel) after stopAfter waits.
type clockSleeper struct {
	e         *env
	mu        sync.Mutex
	waits     []time.Duration
	stopAfter int
	cancel    context.CancelFunc
}

func (c *clockSleeper) sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.waits = append(c.waits, d)
	n := len(c.waits)
	c.mu.Unlock()
	if n >= c.stopAfter {
		c.cancel()
		return context.Canceled
	}
	c.e.advance(d)
	return ctx.Err()
}

func TestRenewAtTwoThirds(t *testing.T) {
	e := newEnv(t)
	id := e.writeIdentity()
	first := id.Leaf()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cs := &clockSleeper{e: e, stopAfter: 2, cancel: cancel}
	renewed := 0
	reg := prometheus.NewRegistry()
	r, err := NewRenewer(RenewerOptions{Identity: id, EST: e.estClient(), Now: e.clock, Sleep: cs.sleep,
		OnRenewed: func() { renewed++ }, Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	life := first.NotAfter.Sub(first.NotBefore)
	want := first.NotBefore.Add(life * 2 / 3)
	// The first wait ends at two thirds of the first certificate's life.
	if len(cs.waits) != 2 {
		t.Fatalf("waits %v", cs.waits)
	}
	if got := e.clock().Sub(want); got < -time.Second || got > time.Second {
		t.Fatalf("renewed at %s, want two thirds of the lifetime: %s", e.clock(), want)
	}
	if renewed != 1 || r.LastError() != nil {
		t.Fatalf("renewed %d times, last error %v", renewed, r.LastError())
	}
	next := id.Leaf()
	if next.SerialNumber.Cmp(first.SerialNumber) == 0 || id.ID() != e.id {
		t.Fatal("the identity still holds the first certificate")
	}
	// Written atomically to disk, key 0600, and what a restart loads.
	fi, err := os.Stat(filepath.Join(e.dir, KeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("device.key: %v %v", fi, err)
	}
	again, err := LoadIdentity(e.dir)
	if err != nil || !again.Leaf().Equal(next) {
		t.Fatalf("device.pem on disk is not the renewed certificate: %v", err)
	}
	// The next renewal is planned at two thirds of the new certificate's life.
	if got, want := cs.waits[1], next.NotBefore.Add(next.NotAfter.Sub(next.NotBefore)*2/3).Sub(e.clock()); got < want-time.Second || got > want+time.Second {
		t.Fatalf("second wait %s, want %s", got, want)
	}
	if n := wardtest.Counter(t, reg, "ward_agent_certificate_renewals_total", "result", "ok"); n != 1 {
		t.Fatalf("ok renewals counted %v", n)
	}
	// The new certificate chains to Ward's CA at the (injected) time.
	inter := x509.NewCertPool()
	for _, c := range e.ca.Chain() {
		inter.AddCert(c)
	}
	if _, err := next.Verify(x509.VerifyOptions{Roots: e.ca.RootPool(), Intermediates: inter, CurrentTime: e.clock(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("the renewed certificate: %v", err)
	}
}

// TestRenewTooSoonHonoursRetryAfter: the server allows one re-enrollment
// per hour and answers 429 + Retry-After; the renewer waits that long.
func TestRenewTooSoonHonoursRetryAfter(t *testing.T) {
	e := newEnv(t)
	id := e.writeIdentity()
	r, err := NewRenewer(RenewerOptions{Identity: id, EST: e.estClient(), Now: e.clock, At: 0.0001})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.RenewNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cs := &clockSleeper{e: e, stopAfter: 2, cancel: cancel}
	r.opts.Sleep = cs.sleep
	r.Run(ctx)
	err = r.LastError()
	if err == nil || !strings.Contains(err.Error(), "one re-enrollment per interval") {
		t.Fatalf("last error %v, want the 429 explained", err)
	}
	// The second wait is the server's Retry-After (the rest of the hour),
	// not the one-minute backoff.
	if w := cs.waits[1]; w < 30*time.Minute || w > time.Hour {
		t.Fatalf("waits %v: want the second to follow Retry-After", cs.waits)
	}
}

func TestRenewRevokedReported(t *testing.T) {
	e := newEnv(t)
	id := e.writeIdentity()
	if _, _, err := e.reg.Revoke(context.Background(), e.id, "stolen"); err != nil {
		t.Fatal(err)
	}
	e.advance(61 * 24 * time.Hour)
	reg := prometheus.NewRegistry()
	r, err := NewRenewer(RenewerOptions{Identity: id, EST: e.estClient(), Now: e.clock, Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	err = r.RenewNow(context.Background())
	if err == nil || !strings.Contains(err.Error(), "refused this device") {
		t.Fatalf("renewal of a revoked device: %v, want a clear refusal", err)
	}
	t.Logf("reported: %v", err)
	if r.LastError() == nil || wardtest.Counter(t, reg, "ward_agent_certificate_renewals_total", "result", "failed") != 1 {
		t.Fatal("the failure was not kept or counted")
	}
	if id.Leaf().SerialNumber.Cmp(e.cert.Leaf.SerialNumber) != 0 {
		t.Fatal("the identity changed")
	}
}
