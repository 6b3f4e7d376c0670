package pki

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
)

// tlsBase is the one TLS policy of Ward: TLS 1.2 floor (1.3 preferred by
// Go's negotiation), ECDHE with AEAD suites only, X25519 and P-256.
func tlsBase() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		CurvePreferences: []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256},
	}
}

// RootPool returns a pool holding the CA root.
func (ca *CA) RootPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.root)
	return p
}

// clientCAs is the pool that verifies device certificates: Ward's issuing
// CA alone, as the trust anchor. Not the root: with an imported issuing CA
// the root is the operator's corporate root, and every other intermediate
// under it would then be trusted to issue device certificates. A device
// presenting only its leaf (what EST returns) verifies against it, and so
// does one sending the chain too (crypto/x509 stops at the first anchor).
// The CertificateRequest names this CA only, which is the issuer of every
// device leaf, so TLS clients that pick a certificate by the acceptable-CA
// list (Go's crypto/tls) still present it.
func (ca *CA) clientCAs() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.issuer)
	return p
}

// serverCert builds a tls.Certificate with the full chain.
func (ca *CA) serverCert(crt *x509.Certificate, key crypto.Signer) tls.Certificate {
	chain := [][]byte{crt.Raw}
	for _, c := range ca.chain {
		if c != ca.root || len(ca.chain) == 1 {
			chain = append(chain, c.Raw)
		}
	}
	return tls.Certificate{Certificate: chain, PrivateKey: key, Leaf: crt}
}

// HTTPSConfig is the TLS configuration of the EST and API listener: a
// client certificate is verified when given (EST simplereenroll) but not
// required (operators use bearer tokens, devices Basic auth for enroll).
func (ca *CA) HTTPSConfig(crt *x509.Certificate, key crypto.Signer) *tls.Config {
	c := tlsBase()
	c.Certificates = []tls.Certificate{ca.serverCert(crt, key)}
	c.ClientAuth = tls.VerifyClientCertIfGiven
	c.ClientCAs = ca.clientCAs()
	c.NextProtos = []string{"h2", "http/1.1"}
	return c
}

// MQTTConfig is the TLS configuration of the device gateway: a verified
// client certificate from Ward's CA is required. verify, when not nil, runs
// after chain verification (revocation, quarantine) and refuses the
// handshake when it returns an error.
func (ca *CA) MQTTConfig(crt *x509.Certificate, key crypto.Signer, verify func(tls.ConnectionState) error) *tls.Config {
	c := tlsBase()
	c.Certificates = []tls.Certificate{ca.serverCert(crt, key)}
	c.ClientAuth = tls.RequireAndVerifyClientCert
	c.ClientCAs = ca.clientCAs()
	c.VerifyConnection = verify
	return c
}

// ClientConfig is the TLS configuration of a Ward client (CLI, device)
// that trusts roots; cert, when not nil, is presented for mutual TLS.
func ClientConfig(roots *x509.CertPool, cert *tls.Certificate) *tls.Config {
	c := tlsBase()
	c.RootCAs = roots
	if cert != nil {
		c.Certificates = []tls.Certificate{*cert}
	}
	return c
}
