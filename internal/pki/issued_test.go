package pki

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
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wardproject/ward/internal/store"
)

func deviceCert(cn string, uris ...string) *x509.Certificate {
	c := &x509.Certificate{Subject: pkix.Name{CommonName: cn}}
	for _, u := range uris {
		p, _ := url.Parse(u)
		c.URIs = append(c.URIs, p)
	}
	return c
}

// TestDeviceIDRule: the identity is the urn:ward:device URI SAN; the CN
// only with allowCN and no URI SAN; a CN or a second URI naming another
// device identifies nobody.
func TestDeviceIDRule(t *testing.T) {
	const u1, u2 = DeviceURIPrefix + "sensor-1", DeviceURIPrefix + "sensor-2"
	tests := []struct {
		name    string
		c       *x509.Certificate
		allowCN bool
		want    string // "" = refused
	}{
		{"uri-and-same-cn", deviceCert("sensor-1", u1), false, "sensor-1"},
		{"uri-no-cn", deviceCert("", u1), false, "sensor-1"},
		{"uri-other-cn", deviceCert("sensor-2", u1), false, ""},
		{"uri-other-cn-allow", deviceCert("sensor-2", u1), true, ""},
		{"two-uris", deviceCert("", u1, u2), true, ""},
		{"same-uri-twice", deviceCert("sensor-1", u1, u1), false, "sensor-1"},
		{"cn-only", deviceCert("sensor-1"), false, ""},
		{"cn-only-allow", deviceCert("sensor-1"), true, "sensor-1"},
		{"cn-and-other-uri-allow", deviceCert("sensor-1", "https://example.com/x"), true, "sensor-1"},
		{"nothing-allow", deviceCert(""), true, ""},
		{"bad-id-in-uri", deviceCert("", DeviceURIPrefix+"a/b"), false, ""},
		{"bad-id-in-cn-allow", deviceCert("a b"), true, ""},
		{"empty-id-in-uri", deviceCert("", DeviceURIPrefix), false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := deviceID(tt.c, tt.allowCN)
			if tt.want == "" {
				if err == nil || !errors.Is(err, ErrNoDeviceIdentity) {
					t.Errorf("deviceID = %q, %v; want ErrNoDeviceIdentity", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("deviceID = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	// DeviceIDFromCert and CA.DeviceID apply the same rule.
	if _, err := DeviceIDFromCert(deviceCert("sensor-1")); err == nil {
		t.Error("DeviceIDFromCert accepted a CN-only certificate")
	}
}

// settable is a clock for the CA.
type settable struct {
	mu  sync.Mutex
	now time.Time
}

func (c *settable) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *settable) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func signCSR(t *testing.T, ca *CA, id string) *x509.Certificate {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, err := ParseCSR(csrFor(t, id, k))
	if err != nil {
		t.Fatal(err)
	}
	crt, err := ca.SignDevice(context.Background(), id, csr)
	if err != nil {
		t.Fatal(err)
	}
	return crt
}

// TestIssuedSet: a device certificate is in the set for its device only
// once signed (and NotifyIssued is told), leaves it when revoked or
// expired, and the set is rebuilt from the store at Open.
func TestIssuedSet(t *testing.T) {
	ctx := context.Background()
	dir, db := t.TempDir(), openStore(t)
	clk := &settable{now: time.Now()}
	ca, err := Open(ctx, Options{Dir: dir, Store: db, Now: clk.Now, DeviceValidity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	var told []string
	ca.NotifyIssued(func(s string) { told = append(told, s) })
	a, b, c := signCSR(t, ca, "dev-a"), signCSR(t, ca, "dev-b"), signCSR(t, ca, "dev-c")
	if len(told) != 3 || told[0] != SerialHex(a.SerialNumber) {
		t.Errorf("NotifyIssued told %v", told)
	}
	if !ca.Issued(a.SerialNumber, "dev-a") || ca.Issued(a.SerialNumber, "dev-b") {
		t.Error("a certificate is not in the set for its own device only")
	}
	if ca.Issued(big.NewInt(12345), "dev-a") || ca.Issued(new(big.Int).Lsh(big.NewInt(1), 200), "dev-a") || ca.Issued(big.NewInt(-1), "dev-a") {
		t.Error("an unrecorded serial is in the set")
	}
	if err := ca.Revoke(ctx, SerialHex(b.SerialNumber), "keyCompromise"); err != nil {
		t.Fatal(err)
	}
	if ca.Issued(b.SerialNumber, "dev-b") {
		t.Error("a revoked certificate is still admitted")
	}
	if n := ca.PruneIssued(); n != 1 || ca.IssuedCount() != 2 {
		t.Errorf("PruneIssued removed %d, %d left; want 1 and 2", n, ca.IssuedCount())
	}

	// Reopened on the same store: the valid certificates only.
	ca2, err := Open(ctx, Options{Dir: dir, Store: db, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if ca2.IssuedCount() != 2 || !ca2.Issued(c.SerialNumber, "dev-c") || ca2.Issued(b.SerialNumber, "dev-b") {
		t.Errorf("reopened set: %d entries", ca2.IssuedCount())
	}

	clk.Add(2 * time.Hour)
	if ca2.Issued(c.SerialNumber, "dev-c") {
		t.Error("an expired certificate is still admitted")
	}
	if n := ca2.PruneIssued(); n != 2 || ca2.IssuedCount() != 0 {
		t.Errorf("PruneIssued after expiry removed %d, %d left", n, ca2.IssuedCount())
	}
	if ok, err := ca2.LearnCertificate(ctx, SerialHex(c.SerialNumber)); ok || err != nil {
		t.Errorf("LearnCertificate of an expired certificate = %v, %v", ok, err)
	}
}

// TestLearnCertificate: only a valid device certificate in the store is
// learnt; an unknown serial is not an error, a malformed one is.
func TestLearnCertificate(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	ca := newCA(t, t.TempDir(), db, "")
	other := newCA(t, t.TempDir(), db, "") // another node, same store
	crt := signCSR(t, other, "dev-a")
	if ca.Issued(crt.SerialNumber, "dev-a") {
		t.Fatal("known before LearnCertificate")
	}
	if ok, err := ca.LearnCertificate(ctx, SerialHex(crt.SerialNumber)); !ok || err != nil || !ca.Issued(crt.SerialNumber, "dev-a") {
		t.Errorf("LearnCertificate = %v, %v", ok, err)
	}
	srv, _, err := other.IssueServer(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := ca.LearnCertificate(ctx, SerialHex(srv.SerialNumber)); ok || err != nil {
		t.Errorf("LearnCertificate of a server certificate = %v, %v", ok, err)
	}
	if ok, err := ca.LearnCertificate(ctx, "4abc"); ok || err != nil {
		t.Errorf("LearnCertificate of an unknown serial = %v, %v", ok, err)
	}
	if _, err := ca.LearnCertificate(ctx, "not hex"); err == nil {
		t.Error("LearnCertificate accepted a malformed serial")
	}
	if err := db.PutCertificate(ctx, store.Certificate{Serial: "4abd", DeviceID: "dev-b", Kind: "device", DER: []byte{1},
		NotAfter: time.Now().Add(time.Hour), RevokedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if ok, _ := ca.LearnCertificate(ctx, "4abd"); ok {
		t.Error("LearnCertificate learnt a revoked certificate")
	}
}

// BenchmarkIssuedSetMemory measures the heap one entry of the issued set
// costs at 1 M entries, built as at Open (load) and one issuance at a time
// (add: the shards' delta maps included). The design target is 10 M device
// certificates per cluster, each node holding all of them.
func BenchmarkIssuedSetMemory(b *testing.B) {
	const n = 1 << 20
	certs := make([]store.Certificate, n)
	for i := range certs {
		s, _ := NewSerial()
		certs[i] = store.Certificate{Serial: SerialHex(s), DeviceID: "device-" + SerialHex(s)[:8], Kind: "device", NotAfter: time.Now().Add(time.Hour)}
	}
	for _, how := range []string{"load", "add"} {
		b.Run(how, func(b *testing.B) {
			for b.Loop() {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				s := newIssuedSet()
				if how == "load" {
					s.load(func(fn func(store.Certificate) error) error {
						for _, c := range certs {
							fn(c)
						}
						return nil
					})
				} else {
					for _, c := range certs {
						s.add(c)
					}
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				if s.len() != n {
					b.Fatalf("%d entries, want %d", s.len(), n)
				}
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/entry")
				runtime.KeepAlive(s)
			}
		})
	}
}

// TestIssuedSetShards: entries added one at a time (through the shards'
// delta maps and rebuilds) and loaded in bulk are all found, for their own
// device only; a serial added again takes the newer entry; prune removes
// exactly the expired ones and the dropped ones.
func TestIssuedSetShards(t *testing.T) {
	now := time.Now()
	const n = 20000
	certs := make([]store.Certificate, n)
	serials := make([]*big.Int, n)
	for i := range certs {
		serials[i], _ = NewSerial()
		exp := now.Add(time.Hour)
		if i%2 == 1 {
			exp = now.Add(time.Minute)
		}
		certs[i] = store.Certificate{Serial: SerialHex(serials[i]), DeviceID: fmt.Sprintf("d%d", i), Kind: "device", NotAfter: exp}
	}
	added, loaded := newIssuedSet(), newIssuedSet()
	for _, c := range certs {
		if !added.add(c) {
			t.Fatal("add refused a device certificate")
		}
	}
	if _, err := loaded.load(func(fn func(store.Certificate) error) error {
		for _, c := range append(certs, certs[:10]...) { // duplicates are kept once
			fn(c)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*issuedSet{"add": added, "load": loaded} {
		if s.len() != n {
			t.Fatalf("%s: %d entries, want %d", name, s.len(), n)
		}
		for i, sn := range serials {
			if !s.has(sn, certs[i].DeviceID, now) || s.has(sn, "other", now) {
				t.Fatalf("%s: serial %d not found for its own device only", name, i)
			}
		}
		c := certs[0]
		c.DeviceID = "moved"
		s.add(c)
		if !s.has(serials[0], "moved", now) || s.has(serials[0], certs[0].DeviceID, now) {
			t.Errorf("%s: a serial added again kept its old entry", name)
		}
		dropped := SerialHex(serials[2])
		removed := s.prune(now.Add(30*time.Minute), func(k serialKey) bool {
			d, _ := keyOfHex(dropped)
			return k == d
		})
		if removed != n/2+1 || s.len() != n/2-1 || s.has(serials[1], certs[1].DeviceID, now) || s.has(serials[2], certs[2].DeviceID, now) {
			t.Errorf("%s: prune removed %d, %d left; want %d and %d", name, removed, s.len(), n/2+1, n/2-1)
		}
		if !s.has(serials[4], certs[4].DeviceID, now) {
			t.Errorf("%s: prune removed a valid entry", name)
		}
	}
	if added.add(store.Certificate{Serial: "zz", DeviceID: "d", Kind: "device"}) || added.add(store.Certificate{Serial: "4a", DeviceID: "d", Kind: "server"}) ||
		added.add(store.Certificate{Serial: "4a", Kind: "device"}) || added.add(store.Certificate{Serial: strings.Repeat("7f", 17), DeviceID: "d", Kind: "device"}) {
		t.Error("add took a malformed serial, a server certificate, one without a device or a serial over 16 octets")
	}
}

// BenchmarkIssued is the per-handshake cost of the check, in a set of 1 M
// entries.
func BenchmarkIssued(b *testing.B) {
	const n = 1 << 20
	s := newIssuedSet()
	serials := make([]*big.Int, n)
	s.load(func(fn func(store.Certificate) error) error {
		for i := range serials {
			serials[i], _ = NewSerial()
			fn(store.Certificate{Serial: SerialHex(serials[i]), DeviceID: "dev-a", Kind: "device", NotAfter: time.Now().Add(time.Hour)})
		}
		return nil
	})
	now := time.Now()
	i := 0
	for b.Loop() {
		if !s.has(serials[i%n], "dev-a", now) {
			b.Fatal("not found")
		}
		i++
	}
}

// FuzzDeviceID: any certificate parses to an identity that passes
// CheckDeviceID, or to ErrNoDeviceIdentity; never a panic.
func FuzzDeviceID(f *testing.F) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, c := range []*x509.Certificate{deviceCert("sensor-1", DeviceURIPrefix+"sensor-1"), deviceCert("sensor-1"), deviceCert("x", DeviceURIPrefix+"y", DeviceURIPrefix+"z")} {
		c.SerialNumber = big.NewInt(1)
		der, err := x509.CreateCertificate(rand.Reader, c, c, k.Public(), k)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(der, true)
		f.Add(der, false)
	}
	f.Fuzz(func(t *testing.T, der []byte, allowCN bool) {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return
		}
		id, err := deviceID(c, allowCN)
		if err != nil {
			if !errors.Is(err, ErrNoDeviceIdentity) {
				t.Fatalf("error %v is not ErrNoDeviceIdentity", err)
			}
			return
		}
		if CheckDeviceID(id) != nil {
			t.Fatalf("identity %q fails CheckDeviceID", id)
		}
		if !allowCN && len(c.URIs) == 0 {
			t.Fatalf("identity %q without a URI SAN", id)
		}
	})
}
