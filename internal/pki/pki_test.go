package pki

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wardproject/ward/internal/store/sqlite"
)

func openStore(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "ward.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func newCA(t *testing.T, dir string, db *sqlite.DB, pass string) *CA {
	t.Helper()
	ca, err := Open(context.Background(), Options{Dir: dir, Store: db, Passphrase: []byte(pass)})
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func csrFor(t testing.TB, cn string, key any) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestCreateReopenAndPassphrase(t *testing.T) {
	dir, db := t.TempDir(), openStore(t)
	ca := newCA(t, dir, db, "s3cret")
	for _, f := range []string{"root.key", "issuer.key"} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %#o, want 0600", f, st.Mode().Perm())
		}
		data, _ := os.ReadFile(filepath.Join(dir, f))
		if _, err := parseKey(data, nil); !errors.Is(err, ErrPassphrase) {
			t.Errorf("%s readable without the passphrase: %v", f, err)
		}
	}
	again := newCA(t, dir, db, "s3cret")
	if Fingerprint(again.Root()) != Fingerprint(ca.Root()) {
		t.Error("reopened CA has a different root")
	}
	if _, err := Open(context.Background(), Options{Dir: dir, Store: db, Passphrase: []byte("wrong")}); !errors.Is(err, ErrPassphrase) {
		t.Errorf("wrong passphrase: got %v, want ErrPassphrase", err)
	}
	os.Chmod(filepath.Join(dir, "issuer.key"), 0o644)
	if _, err := Open(context.Background(), Options{Dir: dir, Store: db, Passphrase: []byte("s3cret")}); err == nil {
		t.Error("a group-readable CA key was accepted")
	}
}

func TestSignDevice(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	ca := newCA(t, t.TempDir(), db, "")
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, err := ParseCSR(csrFor(t, "sensor-17", key))
	if err != nil {
		t.Fatal(err)
	}
	crt, err := ca.SignDevice(ctx, "sensor-17", csr)
	if err != nil {
		t.Fatal(err)
	}
	id, err := DeviceIDFromCert(crt)
	if err != nil || id != "sensor-17" {
		t.Errorf("DeviceIDFromCert = %q, %v", id, err)
	}
	if crt.SerialNumber.Sign() <= 0 || crt.SerialNumber.BitLen() < 64 {
		t.Errorf("serial %s has fewer than 64 bits or is not positive", crt.SerialNumber)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Root())
	inter := x509.NewCertPool()
	inter.AddCert(ca.Issuer())
	if _, err := crt.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("device certificate does not verify: %v", err)
	}
	rec, err := db.GetCertificate(ctx, SerialHex(crt.SerialNumber))
	if err != nil || rec.DeviceID != "sensor-17" {
		t.Errorf("issued certificate not recorded: %+v %v", rec, err)
	}
	// Serials are unique across many issues.
	seen := map[string]bool{}
	for range 50 {
		c, err := ca.SignDevice(ctx, "sensor-17", csr)
		if err != nil {
			t.Fatal(err)
		}
		s := SerialHex(c.SerialNumber)
		if seen[s] {
			t.Fatalf("duplicate serial %s", s)
		}
		seen[s] = true
	}
}

func TestRevokeAndCRL(t *testing.T) {
	ctx := context.Background()
	ca := newCA(t, t.TempDir(), openStore(t), "")
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, _ := ParseCSR(csrFor(t, "d1", key))
	crt, _ := ca.SignDevice(ctx, "d1", csr)
	if ca.IsRevoked(crt.SerialNumber) {
		t.Fatal("fresh certificate reported revoked")
	}
	before, _ := x509.ParseRevocationList(ca.CRL())
	if err := ca.Revoke(ctx, SerialHex(crt.SerialNumber), "keyCompromise"); err != nil {
		t.Fatal(err)
	}
	if !ca.IsRevoked(crt.SerialNumber) {
		t.Error("revoked certificate not reported revoked")
	}
	rl, err := x509.ParseRevocationList(ca.CRL())
	if err != nil {
		t.Fatal(err)
	}
	if err := rl.CheckSignatureFrom(ca.Issuer()); err != nil {
		t.Errorf("CRL signature: %v", err)
	}
	if rl.Number.Cmp(before.Number) <= 0 {
		t.Errorf("CRL number did not increase: %s -> %s", before.Number, rl.Number)
	}
	if len(rl.RevokedCertificateEntries) != 1 || rl.RevokedCertificateEntries[0].SerialNumber.Cmp(crt.SerialNumber) != 0 || rl.RevokedCertificateEntries[0].ReasonCode != 1 {
		t.Errorf("CRL entries = %+v", rl.RevokedCertificateEntries)
	}
	if err := ca.Revoke(ctx, "0badc0de", "x"); !errors.Is(err, ErrUnknownCertificate) {
		t.Errorf("revoke unknown serial: %v", err)
	}
}

func TestParseAndCheckCSR(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	good := csrFor(t, "dev-1", ec)
	tampered := append([]byte(nil), good...)
	tampered[len(tampered)-5] ^= 0xff
	u, _ := url.Parse("urn:ward:device:dev-2")
	otherURI, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "dev-1"}, URIs: []*url.URL{u}}, ec)
	withDNS, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "dev-1"}, DNSNames: []string{"evil.example"}}, ec)
	tests := []struct {
		name  string
		der   []byte
		parse error
		check error
	}{
		{"good", good, nil, nil},
		{"empty", nil, ErrCSRMalformed, nil},
		{"garbage", []byte("not a csr"), ErrCSRMalformed, nil},
		{"rsa-key", csrFor(t, "dev-1", rsaKey), ErrCSRKeyType, nil},
		{"p224-key", csrFor(t, "dev-1", p224), ErrCSRKeyType, nil},
		{"bad-signature", tampered, ErrCSRSignature, nil},
		{"other-device-cn", csrFor(t, "dev-2", ec), nil, ErrCSRIdentity},
		{"other-device-uri", otherURI, nil, ErrCSRIdentity},
		{"dns-san", withDNS, nil, ErrCSRIdentity},
		{"oversize", make([]byte, MaxCSRBytes+1), ErrCSRMalformed, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			csr, err := ParseCSR(tt.der)
			if !errors.Is(err, tt.parse) || (tt.parse == nil) != (err == nil) {
				t.Fatalf("ParseCSR: got %v, want %v", err, tt.parse)
			}
			if err != nil {
				return
			}
			if err := CheckCSR(csr, "dev-1"); !errors.Is(err, tt.check) || (tt.check == nil) != (err == nil) {
				t.Errorf("CheckCSR: got %v, want %v", err, tt.check)
			}
		})
	}
}

func TestDeviceIDs(t *testing.T) {
	for _, tt := range []struct {
		id string
		ok bool
	}{{"sensor-17", true}, {"a.b_c-D9", true}, {"", false}, {"a/b", false}, {"a b", false}, {"..", false}, {"x:y", false}, {"é", false}} {
		if err := CheckDeviceID(tt.id); (err == nil) != tt.ok {
			t.Errorf("CheckDeviceID(%q) = %v, want ok=%v", tt.id, err, tt.ok)
		}
	}
}

func TestImportOperatorCA(t *testing.T) {
	ctx := context.Background()
	// The operator's CA: made by another Ward CA instance in a temp dir.
	src := newCA(t, t.TempDir(), openStore(t), "")
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "op.key")
	certPath := filepath.Join(dir, "op.pem")
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	kb, _ := marshalKey(k, nil)
	os.WriteFile(keyPath, kb, 0o600)
	tmpl := &x509.Certificate{SerialNumber: mustSerial(t), Subject: pkix.Name{CommonName: "Operator CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(24 * time.Hour * 365), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(certPath, encodeCerts(der), 0o644)
	ca, err := Open(ctx, Options{Dir: t.TempDir(), Store: openStore(t), ImportCert: certPath, ImportKey: keyPath})
	if err != nil {
		t.Fatal(err)
	}
	if ca.Root().Subject.CommonName != "Operator CA" {
		t.Errorf("root = %s", ca.Root().Subject)
	}
	// A key that does not match the certificate is refused.
	os.WriteFile(certPath, encodeCerts(src.Root().Raw), 0o644)
	if _, err := Open(ctx, Options{Dir: t.TempDir(), Store: openStore(t), ImportCert: certPath, ImportKey: keyPath}); err == nil {
		t.Error("mismatched operator CA key accepted")
	}
}

func mustSerial(t *testing.T) *bigInt {
	s, err := NewSerial()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestServerCertificateReuse(t *testing.T) {
	ctx := context.Background()
	ca := newCA(t, t.TempDir(), openStore(t), "")
	c1, _, err := ca.ServerCertificate(ctx, []string{"ward.example"})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"localhost", "127.0.0.1", "::1", "ward.example"} {
		if err := c1.VerifyHostname(h); err != nil {
			t.Errorf("server certificate does not cover %s: %v", h, err)
		}
	}
	c2, _, _ := ca.ServerCertificate(ctx, []string{"ward.example"})
	if c1.SerialNumber.Cmp(c2.SerialNumber) != 0 {
		t.Error("valid server certificate was not reused")
	}
	c3, _, _ := ca.ServerCertificate(ctx, []string{"other.example"})
	if c3.SerialNumber.Cmp(c1.SerialNumber) == 0 {
		t.Error("server certificate reused although the hosts changed")
	}
}
