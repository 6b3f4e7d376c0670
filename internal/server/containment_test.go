package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/wardproject/ward/internal/api"
	"github.com/wardproject/ward/internal/client"
	"github.com/wardproject/ward/internal/est"
	"github.com/wardproject/ward/internal/pki"
	"github.com/wardproject/ward/internal/store"
	"github.com/wardproject/ward/internal/wardtest"
)

// TestContainmentUnderReenrollFlood is the attack that broke containment:
// compromised devices hammer EST simplereenroll with their own
// certificates (and with every certificate they obtain) while the
// operator revokes half of them and quarantines the other half through
// the API, all at once. Afterwards every revoked device is revoked with
// every certificate it ever got on the CRL, every quarantined one is
// quarantined, and none of the attackers' certificates connects.
func TestContainmentUnderReenrollFlood(t *testing.T) { runContainmentRace(t) }

// TestContainmentUnderReenrollFloodOnPostgres runs the same attack with
// the PostgreSQL store, where the transactions really run concurrently.
func TestContainmentUnderReenrollFloodOnPostgres(t *testing.T) {
	wardtest.PostgresStore(t)
	runContainmentRace(t)
}

func runContainmentRace(t *testing.T) {
	const devices, attackers, rounds = 12, 4, 6
	w := start(t, t.TempDir())
	ctx := context.Background()

	type device struct {
		id      string
		action  string
		mu      sync.Mutex
		certs   []tls.Certificate // every certificate the attacker holds
		outcome map[int]int       // EST status -> count
	}
	var ds []*device
	for i := range devices {
		d := &device{id: fmt.Sprintf("victim-%02d", i), action: "revoke", outcome: map[int]int{}}
		if i%2 == 1 {
			d.action = "quarantine"
		}
		d.certs = []tls.Certificate{w.enroll(t, d.id)}
		ds = append(ds, d)
	}

	var wg sync.WaitGroup
	begin := make(chan struct{})
	var slowestMu sync.Mutex
	var slowest time.Duration // the operator's slowest answer
	for _, d := range ds {
		for a := range attackers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-begin
				for r := range rounds {
					d.mu.Lock()
					cur := d.certs[(a+r)%len(d.certs)]
					d.mu.Unlock()
					key, _ := est.NewDeviceKey()
					csr, _ := est.NewCSR(d.id, key)
					crt, err := w.est.Reenroll(ctx, cur, csr)
					d.mu.Lock()
					if err == nil {
						d.certs = append(d.certs, tls.Certificate{Certificate: [][]byte{crt.Raw}, PrivateKey: key, Leaf: crt})
						d.outcome[http.StatusOK]++
					} else if se, ok := err.(*est.ServerError); ok {
						d.outcome[se.Status]++
					} else {
						// A connection the loaded server dropped (its
						// TLS handshake deadline) gives the attacker
						// nothing; the store is checked below.
						d.outcome[-1]++
					}
					d.mu.Unlock()
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-begin
			var err error
			began := time.Now()
			if d.action == "revoke" {
				var rr api.RevokeResponse
				err = w.api.Post(ctx, "/api/v1/devices/"+d.id+"/revoke", api.ReasonRequest{Reason: "keyCompromise"}, &rr)
			} else {
				var dev store.Device
				err = w.api.Post(ctx, "/api/v1/devices/"+d.id+"/quarantine", api.ReasonRequest{Reason: "attack"}, &dev)
			}
			if err != nil {
				t.Errorf("%s %s: %v", d.action, d.id, err)
			}
			slowestMu.Lock()
			slowest = max(slowest, time.Since(began))
			slowestMu.Unlock()
		}()
	}
	close(begin)
	wg.Wait()

	crl, err := x509.ParseRevocationList(w.srv.CA().CRL())
	if err != nil {
		t.Fatal(err)
	}
	onCRL := map[string]bool{}
	for _, e := range crl.RevokedCertificateEntries {
		onCRL[pki.SerialHex(e.SerialNumber)] = true
	}
	issued := 0
	for _, d := range ds {
		for status := range d.outcome {
			switch status {
			case -1, http.StatusOK, http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests:
			default:
				t.Errorf("%s: EST answered %d to a re-enrollment (%v)", d.id, status, d.outcome)
			}
		}
		issued += d.outcome[http.StatusOK]
		if n := d.outcome[http.StatusOK]; n > 1 {
			t.Errorf("%s obtained %d certificates by re-enrollment within one interval, want at most 1", d.id, n)
		}
		var v struct {
			store.Device
			Certificates []store.Certificate `json:"certificates"`
		}
		if err := w.api.Get(ctx, "/api/v1/devices/"+d.id, &v); err != nil {
			t.Fatal(err)
		}
		want := store.StatusRevoked
		if d.action == "quarantine" {
			want = store.StatusQuarantined
		}
		if v.Status != want {
			t.Errorf("%s: status %s after %s raced %d re-enrollments (%v), want %s", d.id, v.Status, d.action, attackers*rounds, d.outcome, want)
		}
		if d.action == "revoke" {
			for _, c := range v.Certificates {
				if !c.Revoked() || !onCRL[c.Serial] {
					t.Errorf("%s: certificate %s revoked=%v on CRL=%v after the device was revoked", d.id, c.Serial, c.Revoked(), onCRL[c.Serial])
				}
			}
		}
		// None of the certificates the attacker holds gets back in.
		for _, c := range d.certs {
			if cl, err := w.connect(&c, d.id, nil); err == nil {
				cl.Disconnect(0)
				t.Errorf("%s (%s) connected with certificate %s", d.id, v.Status, pki.SerialHex(c.Leaf.SerialNumber))
			}
		}
	}
	t.Logf("%d devices, %d re-enrollments attempted, %d certificates issued during the race; the operator's slowest answer took %v",
		devices, devices*attackers*rounds, issued, slowest.Round(time.Millisecond))
}

// TestRetireDisconnectsForGood: a retired device is disconnected at once,
// refused at the next handshake with reason retired, gets no new token,
// and its certificate is on the CRL.
func TestRetireDisconnectsForGood(t *testing.T) {
	w := start(t, t.TempDir())
	ctx := context.Background()
	cert := w.enroll(t, "old-meter")
	c, err := w.connect(&cert, "old-meter", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(0)
	var rr api.RevokeResponse
	if err := w.api.Post(ctx, "/api/v1/devices/old-meter/retire", nil, &rr); err != nil {
		t.Fatal(err)
	}
	if rr.Status != store.StatusRetired || len(rr.RevokedSerials) != 1 {
		t.Fatalf("retire: %s, revoked %v", rr.Status, rr.RevokedSerials)
	}
	select {
	case <-c.lost:
	case <-time.After(wait):
		t.Fatal("retired device still connected")
	}
	if cl, err := w.connect(&cert, "old-meter", nil); err == nil {
		cl.Disconnect(0)
		t.Fatal("retired device reconnected")
	}
	if !w.srv.CA().IsRevoked(cert.Leaf.SerialNumber) {
		t.Error("retired device's certificate is not revoked")
	}
	var res api.EnrollmentResponse
	err = w.api.Post(ctx, "/api/v1/devices/old-meter/token", nil, &res)
	var ce *client.Error
	if !asStatus(err, &ce, http.StatusConflict) {
		t.Errorf("token for a retired device: %v, want 409", err)
	}
}
