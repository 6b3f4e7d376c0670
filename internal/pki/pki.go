// Package pki is Ward's certificate authority: it creates (or loads an
// operator-supplied) ECDSA P-256 root and issuing intermediate, signs device
// certificates from PKCS#10 requests, issues the server certificate for
// Ward's own listeners, revokes certificates and publishes the X.509 CRL
// (RFC 5280), and builds every tls.Config Ward uses (TLS 1.2 floor).
//
// Every issued certificate is recorded in the store before it is returned,
// so a crash never leaves an issued certificate unknown. CA private keys are
// encrypted at rest (scrypt + AES-256-GCM) when a passphrase is configured,
// and always written 0600.
//
// The package relies on Go's crypto/x509 for all encoding and signing; it
// does not use an external CA library because the standard library already
// covers certificate, CSR and CRL creation.
package pki

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/wardproject/ward/internal/store"
)

// CertStore is what the CA needs from storage.
type CertStore interface {
	PutCertificate(ctx context.Context, c store.Certificate) error
	GetCertificate(ctx context.Context, serial string) (store.Certificate, error)
	RevokeCertificate(ctx context.Context, serial, reason string, at time.Time) error
	ListRevoked(ctx context.Context) ([]store.Certificate, error)
	NextCounter(ctx context.Context, name string) (int64, error)
	EachValidDeviceCertificate(ctx context.Context, now time.Time, fn func(store.Certificate) error) error
}

// Options configure a CA. Dir and Store are required.
type Options struct {
	// Dir holds the CA files (root.pem, root.key, issuer.pem, issuer.key).
	Dir   string
	Store CertStore
	// Passphrase encrypts the CA keys at rest. Empty: keys are written
	// unencrypted with mode 0600 and a warning is logged.
	Passphrase []byte
	// ImportCert and ImportKey name an operator-supplied issuing CA
	// certificate (PEM, optionally followed by its chain up to the root) and
	// key. When set, Ward signs with it instead of creating its own CA.
	ImportCert, ImportKey string
	// DeviceValidity is the lifetime of device certificates (default 90 days).
	DeviceValidity time.Duration
	// Organization is put in the subjects of certificates Ward creates.
	Organization string
	Logger       *slog.Logger
	Now          func() time.Time

	// AllowCNIdentity lets a certificate without a urn:ward:device URI SAN
	// identify the device named by its CN (devices enrolled before URI
	// SANs); see CA.DeviceID. Off by default.
	AllowCNIdentity bool
}

// CA is Ward's certificate authority. It is safe for concurrent use.
type CA struct {
	opts   Options
	log    *slog.Logger
	now    func() time.Time
	root   *x509.Certificate
	issuer *x509.Certificate
	key    crypto.Signer // issuer key
	chain  []*x509.Certificate
	issued *issuedSet // see issued.go

	// reload serialises reloadRevoked from the store read to the install,
	// so that a reload that read the store earlier never installs its
	// older CRL over a newer one (two revocations at once). Lock order:
	// reload before mu.
	reload  sync.Mutex
	mu      sync.RWMutex // guards revoked and crl
	revoked map[string]bool
	crl     []byte
}

// Device ID syntax: letters, digits, '.', '_', '-'; 1..128 characters.
var deviceIDRe = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

// ErrBadDeviceID is returned for a device ID outside the allowed syntax.
var ErrBadDeviceID = errors.New("device id must be 1-128 letters, digits, '.', '_' or '-'")

// CheckDeviceID validates a device ID.
func CheckDeviceID(id string) error {
	if !deviceIDRe.MatchString(id) || id == "." || id == ".." {
		return fmt.Errorf("%q: %w", id, ErrBadDeviceID)
	}
	return nil
}

// DeviceURIPrefix prefixes the device ID in a certificate's URI SAN.
const DeviceURIPrefix = "urn:ward:device:"

// DeviceIDFromCert extracts the device identity from a verified device
// certificate: the urn:ward:device:<id> URI SAN only (see CA.DeviceID,
// which applies the same rule and the AllowCNIdentity setting).
func DeviceIDFromCert(c *x509.Certificate) (string, error) { return deviceID(c, false) }

// Open loads the CA from opts.Dir, creating a new root and intermediate on
// first use (or importing the operator's CA).
func Open(ctx context.Context, opts Options) (*CA, error) {
	if opts.Dir == "" || opts.Store == nil {
		return nil, errors.New("pki: Options.Dir and Options.Store are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.DeviceValidity <= 0 {
		opts.DeviceValidity = 90 * 24 * time.Hour
	}
	if opts.Organization == "" {
		opts.Organization = "Ward"
	}
	ca := &CA{opts: opts, log: opts.Logger.With("component", "pki"), now: opts.Now}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("create CA directory: %w", err)
	}
	var err error
	if opts.ImportCert != "" || opts.ImportKey != "" {
		err = ca.importCA()
	} else {
		err = ca.loadOrCreate()
	}
	if err != nil {
		return nil, err
	}
	if len(opts.Passphrase) == 0 {
		ca.log.Warn("CA private keys are NOT encrypted at rest (mode 0600 only); set WARD_CA_PASSPHRASE or pki.key_passphrase_file to encrypt them")
	}
	if err := ca.reloadRevoked(ctx); err != nil {
		return nil, err
	}
	if err := ca.loadIssued(ctx); err != nil {
		return nil, err
	}
	return ca, nil
}

func (ca *CA) path(name string) string { return filepath.Join(ca.opts.Dir, name) }

func (ca *CA) loadOrCreate() error {
	if _, err := os.Stat(ca.path("issuer.pem")); err == nil {
		return ca.load()
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read CA: %w", err)
	}
	return ca.create()
}

func (ca *CA) load() error {
	certs := map[string]*x509.Certificate{}
	for _, n := range []string{"root.pem", "issuer.pem"} {
		data, err := os.ReadFile(ca.path(n))
		if err != nil {
			return fmt.Errorf("read CA certificate: %w", err)
		}
		cs, err := ParseCertificatesPEM(data)
		if err != nil {
			return fmt.Errorf("parse CA certificate %s: %w", ca.path(n), err)
		}
		certs[n] = cs[0]
	}
	data, err := ReadSecretFile(ca.path("issuer.key"))
	if err != nil {
		return fmt.Errorf("read CA key: %w", err)
	}
	k, err := parseKey(data, ca.opts.Passphrase)
	if err != nil {
		return fmt.Errorf("read CA key %s: %w", ca.path("issuer.key"), err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return fmt.Errorf("CA key %s is not a signing key", ca.path("issuer.key"))
	}
	ca.root, ca.issuer, ca.key = certs["root.pem"], certs["issuer.pem"], signer
	if err := checkKeyMatches(ca.issuer, signer); err != nil {
		return fmt.Errorf("CA key %s: %w", ca.path("issuer.key"), err)
	}
	ca.chain = []*x509.Certificate{ca.issuer, ca.root}
	return nil
}

func checkKeyMatches(c *x509.Certificate, k crypto.Signer) error {
	type eq interface{ Equal(crypto.PublicKey) bool }
	if p, ok := k.Public().(eq); !ok || !p.Equal(c.PublicKey) {
		return errors.New("key does not match the CA certificate")
	}
	return nil
}

func (ca *CA) create() error {
	now := ca.now()
	rootKey, err := newKey()
	if err != nil {
		return err
	}
	rootTmpl := &x509.Certificate{
		Subject:               pkix.Name{Organization: []string{ca.opts.Organization}, CommonName: ca.opts.Organization + " Root CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(20, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            1,
	}
	root, err := ca.selfSign(rootTmpl, rootKey)
	if err != nil {
		return err
	}
	issKey, err := newKey()
	if err != nil {
		return err
	}
	serial, err := NewSerial()
	if err != nil {
		return err
	}
	issTmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{ca.opts.Organization}, CommonName: ca.opts.Organization + " Device Issuing CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, issTmpl, root, issKey.Public(), rootKey)
	if err != nil {
		return fmt.Errorf("create issuing CA: %w", err)
	}
	issuer, _ := x509.ParseCertificate(der)
	for _, f := range []struct {
		name string
		key  *ecdsa.PrivateKey
	}{{"root.key", rootKey}, {"issuer.key", issKey}} {
		b, err := marshalKey(f.key, ca.opts.Passphrase)
		if err != nil {
			return err
		}
		if err := WriteSecretFile(ca.path(f.name), b); err != nil {
			return fmt.Errorf("write CA key: %w", err)
		}
	}
	if err := WritePublicFile(ca.path("root.pem"), encodeCerts(root.Raw)); err != nil {
		return fmt.Errorf("write CA certificate: %w", err)
	}
	// issuer.pem last: its presence marks a complete CA.
	if err := WritePublicFile(ca.path("issuer.pem"), encodeCerts(issuer.Raw)); err != nil {
		return fmt.Errorf("write CA certificate: %w", err)
	}
	ca.root, ca.issuer, ca.key = root, issuer, issKey
	ca.chain = []*x509.Certificate{issuer, root}
	ca.log.Info("created certificate authority", "root_fingerprint", Fingerprint(root))
	return nil
}

func (ca *CA) selfSign(tmpl *x509.Certificate, key *ecdsa.PrivateKey) (*x509.Certificate, error) {
	serial, err := NewSerial()
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create root CA: %w", err)
	}
	return x509.ParseCertificate(der)
}

func (ca *CA) importCA() error {
	if ca.opts.ImportCert == "" || ca.opts.ImportKey == "" {
		return errors.New("an imported CA needs both the certificate (--ca-cert) and the key (--ca-key)")
	}
	data, err := os.ReadFile(ca.opts.ImportCert)
	if err != nil {
		return fmt.Errorf("read CA certificate: %w", err)
	}
	chain, err := ParseCertificatesPEM(data)
	if err != nil {
		return fmt.Errorf("parse CA certificate %s: %w", ca.opts.ImportCert, err)
	}
	if !chain[0].IsCA || chain[0].KeyUsage&x509.KeyUsageCertSign == 0 {
		return fmt.Errorf("CA certificate %s is not a CA (basicConstraints CA:TRUE and keyCertSign are required)", ca.opts.ImportCert)
	}
	kd, err := ReadSecretFile(ca.opts.ImportKey)
	if err != nil {
		return fmt.Errorf("read CA key: %w", err)
	}
	k, err := parseKey(kd, ca.opts.Passphrase)
	if err != nil {
		return fmt.Errorf("read CA key %s: %w", ca.opts.ImportKey, err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return fmt.Errorf("CA key %s is not a signing key", ca.opts.ImportKey)
	}
	if err := checkKeyMatches(chain[0], signer); err != nil {
		return fmt.Errorf("CA key %s: %w", ca.opts.ImportKey, err)
	}
	ca.issuer, ca.key, ca.chain = chain[0], signer, chain
	ca.root = chain[len(chain)-1]
	return nil
}

// Root returns the root certificate devices and clients trust.
func (ca *CA) Root() *x509.Certificate { return ca.root }

// Issuer returns the certificate that signs device certificates.
func (ca *CA) Issuer() *x509.Certificate { return ca.issuer }

// Chain returns the issuing chain, issuer first, root last.
func (ca *CA) Chain() []*x509.Certificate { return ca.chain }

// RootPEM returns the root certificate as PEM.
func (ca *CA) RootPEM() []byte { return encodeCerts(ca.root.Raw) }

// ChainPEM returns the issuing chain as PEM, issuer first.
func (ca *CA) ChainPEM() []byte {
	ders := make([][]byte, len(ca.chain))
	for i, c := range ca.chain {
		ders[i] = c.Raw
	}
	return encodeCerts(ders...)
}

// Fingerprint returns the SHA-256 fingerprint of a certificate, as
// colon-separated upper-case hex (the form openssl x509 -fingerprint prints).
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

// NewSerial returns a random positive serial number of 127 bits.
func NewSerial() (*big.Int, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("generate serial: %w", err)
	}
	b[0] &= 0x7f
	b[0] |= 0x40 // keep 16 octets so serials have a fixed width
	return new(big.Int).SetBytes(b), nil
}

// SerialHex formats a serial as Ward stores it: lower-case hex.
func SerialHex(n *big.Int) string { return hex.EncodeToString(n.Bytes()) }

// issue signs tmpl for pub, records it in the store and returns it.
func (ca *CA) issue(ctx context.Context, tmpl *x509.Certificate, pub crypto.PublicKey, deviceID, kind string) (*x509.Certificate, error) {
	return ca.issueRecord(tmpl, pub, deviceID, kind, func(c store.Certificate) error { return ca.opts.Store.PutCertificate(ctx, c) })
}

// issueRecord signs tmpl for pub and hands the record to record before
// returning the certificate: a certificate is never returned unrecorded.
// A serial collision (record returning ErrConflict) is retried.
func (ca *CA) issueRecord(tmpl *x509.Certificate, pub crypto.PublicKey, deviceID, kind string, record func(store.Certificate) error) (*x509.Certificate, error) {
	for attempt := 0; ; attempt++ {
		serial, err := NewSerial()
		if err != nil {
			return nil, err
		}
		tmpl.SerialNumber = serial
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.issuer, pub, ca.key)
		if err != nil {
			return nil, fmt.Errorf("sign certificate: %w", err)
		}
		crt, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("sign certificate: %w", err)
		}
		sum := sha256.Sum256(der)
		rec := store.Certificate{
			Serial: SerialHex(serial), DeviceID: deviceID, Subject: crt.Subject.String(), Kind: kind,
			NotBefore: crt.NotBefore, NotAfter: crt.NotAfter, Fingerprint: hex.EncodeToString(sum[:]),
			DER: der, IssuedAt: ca.now().UTC(),
		}
		err = record(rec)
		if errors.Is(err, store.ErrConflict) && attempt < 3 {
			continue // serial collision: astronomically unlikely, retry
		}
		if err != nil {
			return nil, fmt.Errorf("record issued certificate: %w", err)
		}
		ca.recordIssued(rec)
		return crt, nil
	}
}

// SignDevice issues a device certificate for a validated CSR. The subject
// and SANs come from Ward (CN = device ID, URI SAN urn:ward:device:<id>),
// never from the request, so a device cannot ask for another identity.
func (ca *CA) SignDevice(ctx context.Context, deviceID string, csr *x509.CertificateRequest) (*x509.Certificate, error) {
	return ca.SignDeviceRecord(deviceID, csr, func(c store.Certificate) error { return ca.opts.Store.PutCertificate(ctx, c) })
}

// SignDeviceRecord is SignDevice with the recording done by record (in the
// caller's transaction: fleet records the certificate, uses the token and
// activates the device at once). The certificate is returned only after
// record succeeded.
func (ca *CA) SignDeviceRecord(deviceID string, csr *x509.CertificateRequest, record func(store.Certificate) error) (*x509.Certificate, error) {
	if err := CheckDeviceID(deviceID); err != nil {
		return nil, err
	}
	u, err := url.Parse(DeviceURIPrefix + deviceID)
	if err != nil {
		return nil, err
	}
	now := ca.now()
	notAfter := now.Add(ca.opts.DeviceValidity)
	if notAfter.After(ca.issuer.NotAfter) {
		notAfter = ca.issuer.NotAfter
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: deviceID, Organization: []string{ca.opts.Organization}},
		URIs:        []*url.URL{u},
		NotBefore:   now.Add(-5 * time.Minute),
		NotAfter:    notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	crt, err := ca.issueRecord(tmpl, csr.PublicKey, deviceID, "device", record)
	if err != nil {
		return nil, fmt.Errorf("issue certificate for device %s: %w", deviceID, err)
	}
	ca.log.Info("certificate issued", "device_id", deviceID, "serial", SerialHex(crt.SerialNumber), "not_after", crt.NotAfter)
	return crt, nil
}

// IssueServer issues a TLS server certificate for Ward's listeners covering
// localhost, 127.0.0.1, ::1 and hosts, with a fresh P-256 key.
func (ca *CA) IssueServer(ctx context.Context, hosts []string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	all := append([]string{"localhost", "127.0.0.1", "::1"}, hosts...)
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "ward server", Organization: []string{ca.opts.Organization}},
		NotBefore:   ca.now().Add(-5 * time.Minute),
		NotAfter:    ca.now().Add(365 * 24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if tmpl.NotAfter.After(ca.issuer.NotAfter) {
		tmpl.NotAfter = ca.issuer.NotAfter
	}
	seen := map[string]bool{}
	for _, h := range all {
		if h == "" || seen[h] {
			continue
		}
		seen[h] = true
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	crt, err := ca.issue(ctx, tmpl, key.Public(), "", "server")
	if err != nil {
		return nil, nil, fmt.Errorf("issue server certificate: %w", err)
	}
	return crt, key, nil
}

// ServerCertificate returns the listeners' certificate, reusing the one in
// Dir when it is still valid for 30 days and covers the same hosts.
func (ca *CA) ServerCertificate(ctx context.Context, hosts []string) (*x509.Certificate, crypto.Signer, error) {
	certPath, keyPath := ca.path("server.pem"), ca.path("server.key")
	if cd, err := os.ReadFile(certPath); err == nil {
		if kd, err := ReadSecretFile(keyPath); err == nil {
			cs, err1 := ParseCertificatesPEM(cd)
			k, err2 := parseKey(kd, nil)
			if err1 == nil && err2 == nil {
				s, ok := k.(crypto.Signer)
				if ok && checkKeyMatches(cs[0], s) == nil && ca.now().Add(30*24*time.Hour).Before(cs[0].NotAfter) &&
					coversHosts(cs[0], hosts) && cs[0].CheckSignatureFrom(ca.issuer) == nil {
					return cs[0], s, nil
				}
			}
		}
	}
	crt, key, err := ca.IssueServer(ctx, hosts)
	if err != nil {
		return nil, nil, err
	}
	kb, err := marshalKey(key, nil)
	if err != nil {
		return nil, nil, err
	}
	if err := WriteSecretFile(keyPath, kb); err != nil {
		return nil, nil, fmt.Errorf("write server key: %w", err)
	}
	if err := WritePublicFile(certPath, encodeCerts(crt.Raw)); err != nil {
		return nil, nil, fmt.Errorf("write server certificate: %w", err)
	}
	return crt, key, nil
}

func coversHosts(c *x509.Certificate, hosts []string) bool {
	for _, h := range append([]string{"localhost", "127.0.0.1", "::1"}, hosts...) {
		if h != "" && c.VerifyHostname(h) != nil {
			return false
		}
	}
	return true
}

// ErrUnknownCertificate is returned when revoking a serial Ward never issued.
var ErrUnknownCertificate = errors.New("certificate not issued by this CA")

// Revoke revokes a certificate by serial (lower-case hex) and publishes a
// new CRL. Revoking twice is not an error.
func (ca *CA) Revoke(ctx context.Context, serial, reason string) error {
	serial = strings.ToLower(strings.ReplaceAll(serial, ":", ""))
	if err := ca.opts.Store.RevokeCertificate(ctx, serial, reason, ca.now().UTC()); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("revoke %s: %w", serial, ErrUnknownCertificate)
		}
		return fmt.Errorf("revoke %s: %w", serial, err)
	}
	ca.log.Info("certificate revoked", "serial", serial, "reason", reason)
	return ca.reloadRevoked(ctx)
}

// ReloadRevocations re-reads the revoked certificates from the store and
// re-signs the CRL: another node of the cluster revoked a certificate.
func (ca *CA) ReloadRevocations(ctx context.Context) error { return ca.reloadRevoked(ctx) }

// IsRevoked reports whether the certificate with this serial is revoked. It
// reads an in-memory set and never blocks on I/O.
func (ca *CA) IsRevoked(serial *big.Int) bool {
	ca.mu.RLock()
	defer ca.mu.RUnlock()
	return ca.revoked[SerialHex(serial)]
}

// reloadRevoked rebuilds the revoked set and the CRL from the store.
func (ca *CA) reloadRevoked(ctx context.Context) error {
	ca.reload.Lock()
	defer ca.reload.Unlock()
	recs, err := ca.opts.Store.ListRevoked(ctx)
	if err != nil {
		return fmt.Errorf("load revoked certificates: %w", err)
	}
	set := make(map[string]bool, len(recs))
	entries := make([]x509.RevocationListEntry, 0, len(recs))
	for _, r := range recs {
		set[r.Serial] = true
		n, ok := new(big.Int).SetString(r.Serial, 16)
		if !ok {
			continue
		}
		entries = append(entries, x509.RevocationListEntry{SerialNumber: n, RevocationTime: r.RevokedAt, ReasonCode: reasonCode(r.RevokeReason)})
	}
	num, err := ca.opts.Store.NextCounter(ctx, "crl_number")
	if err != nil {
		return err
	}
	now := ca.now()
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:                    big.NewInt(num),
		ThisUpdate:                now.Add(-time.Minute),
		NextUpdate:                now.Add(24 * time.Hour),
		RevokedCertificateEntries: entries,
	}, ca.issuer, ca.key)
	if err != nil {
		return fmt.Errorf("sign CRL: %w", err)
	}
	ca.mu.Lock()
	ca.revoked, ca.crl = set, der
	ca.mu.Unlock()
	return nil
}

// RefreshCRL re-signs the CRL if it is older than half its validity.
func (ca *CA) RefreshCRL(ctx context.Context) error {
	ca.mu.RLock()
	der := ca.crl
	ca.mu.RUnlock()
	if rl, err := x509.ParseRevocationList(der); err == nil && ca.now().Before(rl.ThisUpdate.Add(12*time.Hour)) {
		return nil
	}
	return ca.reloadRevoked(ctx)
}

// CRL returns the current CRL, DER-encoded.
func (ca *CA) CRL() []byte {
	ca.mu.RLock()
	defer ca.mu.RUnlock()
	return ca.crl
}

// CRLPEM returns the current CRL, PEM-encoded.
func (ca *CA) CRLPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: ca.CRL()})
}

// RevocationReasons are the RFC 5280 CRLReason names that apply to a
// device certificate, in code order (cACompromise and aACompromise are
// for CAs; certificateHold and removeFromCRL undo nothing in Ward, whose
// revocations are final).
var RevocationReasons = []string{"unspecified", "keyCompromise", "affiliationChanged", "superseded", "cessationOfOperation", "privilegeWithdrawn"}

// reasonCodes are the RFC 5280 codes of RevocationReasons.
var reasonCodes = map[string]int{"unspecified": 0, "keyCompromise": 1, "affiliationChanged": 3, "superseded": 4, "cessationOfOperation": 5, "privilegeWithdrawn": 9}

// CanonicalReason returns the RFC 5280 spelling of a revocation reason
// given in any case ("keycompromise" is keyCompromise), and whether it is
// one of RevocationReasons.
func CanonicalReason(s string) (string, bool) {
	for _, r := range RevocationReasons {
		if strings.EqualFold(r, s) {
			return r, true
		}
	}
	return s, false
}

// reasonCode maps a revocation reason to its RFC 5280 CRLReason code: an
// RFC 5280 name in any case, or one of Ward's older words; anything else
// (free text) is unspecified.
func reasonCode(reason string) int {
	if r, ok := CanonicalReason(reason); ok {
		return reasonCodes[r]
	}
	switch strings.ToLower(reason) {
	case "key-compromise", "compromised":
		return 1
	case "retired", "decommissioned":
		return 5
	}
	return 0 // unspecified
}
