package audit

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"math/big"
	"os"
	"testing"
	"time"
)

var genCerts = flag.Bool("gencerts", false, "regenerate testdata/certs.pem (keys are random: the goldens change too)")

// TestGenCerts writes the fixture certificates once; they are checked in
// so that key hashes in the goldens are stable.
func TestGenCerts(t *testing.T) {
	if !*genCerts {
		t.Skip("run with -gencerts to regenerate testdata/certs.pem")
	}
	var out bytes.Buffer
	write := func(name string, der []byte) {
		pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Headers: map[string]string{"Name": name}, Bytes: der})
	}
	p256 := func() crypto.Signer { k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader); return k }
	serial := int64(0x1000)
	mk := func(cn string, pub crypto.PublicKey, parent *x509.Certificate, signer crypto.Signer, ca bool, nb, na time.Time, sig x509.SignatureAlgorithm) (*x509.Certificate, []byte) {
		serial++
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn}, NotBefore: nb, NotAfter: na,
			IsCA: ca, BasicConstraintsValid: true, SignatureAlgorithm: sig}
		if ca {
			tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
		}
		if parent == nil {
			parent = tmpl
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
		if err != nil {
			t.Fatalf("%s: %v", cn, err)
		}
		c, _ := x509.ParseCertificate(der)
		return c, der
	}
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	rootKey := p256()
	root, der := mk("Ward Root CA", rootKey.Public(), nil, rootKey, true, t0, t0.AddDate(20, 0, 0), 0)
	write("root", der)
	issKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, der = mk("Ward Issuing CA", issKey.Public(), root, rootKey, true, t0, time.Date(2026, 4, 15, 0, 0, 0, 0, time.UTC), 0)
	write("issuer", der)
	// An issuing CA signed with SHA-1: the signature OID is patched after
	// signing (the audit does not verify signatures).
	_, der = mk("Ward Issuing CA (RSA)", issKey.Public(), nil, issKey, true, t0, t0.AddDate(5, 0, 0), x509.SHA256WithRSA)
	write("issuer-sha1", sha1Patch(der))
	leaf := func(name string, pub crypto.PublicKey) {
		_, der := mk(name, pub, root, rootKey, false, t0, t0.AddDate(1, 0, 0), 0)
		write(name, der)
	}
	for _, n := range []string{"good-1", "good-2", "good-3", "good-4", "good-5", "good-6", "good-7", "good-8", "good-9", "good-10", "good-11", "good-12", "good-13", "good-14", "good-15", "good-16", "server"} {
		leaf(n, p256().Public())
	}
	shared := p256().Public()
	leaf("shared-a", shared)
	leaf("shared-b", shared)
	r1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	leaf("rsa1024", r1024.Public())
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	leaf("p224", p224.Public())
	r2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, der = mk("sha1", r2048.Public(), nil, r2048, false, t0, t0.AddDate(1, 0, 0), x509.SHA256WithRSA)
	write("sha1", sha1Patch(der))
	if err := os.WriteFile("testdata/certs.pem", out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// sha1Patch rewrites sha256WithRSAEncryption OIDs to sha1WithRSAEncryption
// (same length).
func sha1Patch(der []byte) []byte {
	sha256RSA := []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b}
	sha1RSA := []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05}
	return bytes.ReplaceAll(der, sha256RSA, sha1RSA)
}
