package wardtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CorporatePKI is an operator's PKI for tests of an imported issuing CA:
// a corporate root with two intermediates under it. Ward imports Issuing
// (CertFile, KeyFile: what ward serve --ca-cert and --ca-key take, the
// certificate followed by the root); Sibling is another intermediate of
// the same root, which Ward must not trust to issue device certificates.
type CorporatePKI struct {
	Root, Issuing, Sibling *x509.Certificate
	RootKey, IssuingKey    crypto.Signer
	SiblingKey             crypto.Signer
	CertFile, KeyFile      string
}

// NewCorporatePKI creates a CorporatePKI and writes the issuing CA's files
// in dir.
func NewCorporatePKI(t testing.TB, dir string) *CorporatePKI {
	t.Helper()
	p := &CorporatePKI{}
	p.Root, p.RootKey = newCA(t, "Corp Root CA", nil, nil, 1)
	p.Issuing, p.IssuingKey = newCA(t, "Corp Ward Issuing CA", p.Root, p.RootKey, 0)
	p.Sibling, p.SiblingKey = newCA(t, "Corp VPN Issuing CA", p.Root, p.RootKey, 0)
	kd, err := x509.MarshalPKCS8PrivateKey(p.IssuingKey)
	if err != nil {
		t.Fatal(err)
	}
	p.CertFile, p.KeyFile = filepath.Join(dir, "issuing.pem"), filepath.Join(dir, "issuing.key")
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.Issuing.Raw}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.Root.Raw})...)
	if err := os.WriteFile(p.CertFile, chain, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.KeyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// newCA returns a CA certificate: self-signed when parent is nil.
func newCA(t testing.TB, cn string, parent *x509.Certificate, parentKey crypto.Signer, maxPath int) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: serial(t), Subject: pkix.Name{Organization: []string{"Corp"}, CommonName: cn},
		NotBefore: time.Now().Add(-96 * time.Hour), NotAfter: time.Now().AddDate(5, 0, 0), IsCA: true, BasicConstraintsValid: true,
		MaxPathLen: maxPath, MaxPathLenZero: maxPath == 0, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	if parent == nil {
		parent, parentKey = tmpl, k
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, k.Public(), parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, k
}

func serial(t testing.TB) *big.Int {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	b[0] = b[0]&0x7f | 0x40
	return new(big.Int).SetBytes(b)
}

// DeviceCert is what an attacker holding a CA key can mint: a client
// certificate signed by issuer with common name cn and, when uriID is not
// empty, the urn:ward:device:<uriID> URI SAN. The chain presented is the
// leaf followed by extra. Serial nil: a random one.
func DeviceCert(t testing.TB, issuer *x509.Certificate, issuerKey crypto.Signer, cn, uriID string, sn *big.Int, extra ...*x509.Certificate) tls.Certificate {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if sn == nil {
		sn = serial(t)
	}
	tmpl := &x509.Certificate{SerialNumber: sn, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if uriID != "" {
		tmpl.URIs = []*url.URL{{Scheme: "urn", Opaque: "ward:device:" + uriID}}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, k.Public(), issuerKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	chain := [][]byte{der}
	for _, c := range extra {
		chain = append(chain, c.Raw)
	}
	return tls.Certificate{Certificate: chain, PrivateKey: k, Leaf: leaf}
}

// IssuerKey reads the issuing CA certificate and its unencrypted key from
// a Ward CA directory (issuer.pem, issuer.key): what an attacker who stole
// a backup of it holds.
func IssuerKey(t testing.TB, caDir string) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	cd, err := os.ReadFile(filepath.Join(caDir, "issuer.pem"))
	if err != nil {
		t.Fatal(err)
	}
	kd, err := os.ReadFile(filepath.Join(caDir, "issuer.key"))
	if err != nil {
		t.Fatal(err)
	}
	cb, _ := pem.Decode(cd)
	kb, _ := pem.Decode(kd)
	if cb == nil || kb == nil {
		t.Fatalf("no PEM in %s/issuer.pem or issuer.key", caDir)
	}
	c, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		t.Fatalf("issuer.key (an encrypted key cannot be used here): %v", err)
	}
	return c, k.(crypto.Signer)
}
