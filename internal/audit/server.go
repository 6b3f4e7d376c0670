package audit

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"fmt"
)

// checkCA audits the root and issuing CA certificates.
func (a *auditor) checkCA() {
	for _, ca := range []struct {
		name string
		cert *x509.Certificate
		root bool
	}{{"root", a.s.Root, true}, {"issuer", a.s.Issuer, false}} {
		if ca.cert == nil {
			continue
		}
		res := "ca:" + ca.name
		subj := ca.cert.Subject.String()
		left := ca.cert.NotAfter.Sub(a.now)
		switch {
		case left <= 0:
			a.add(CheckCACertExpiring, Critical, fmt.Sprintf("%s CA certificate %q expired on %s (%s ago)",
				ca.name, subj, date(ca.cert.NotAfter), days(-left)), res)
		case left <= a.o.CAExpiringWithin:
			a.add(CheckCACertExpiring, "", fmt.Sprintf("%s CA certificate %q expires on %s (in %s; threshold %s)",
				ca.name, subj, date(ca.cert.NotAfter), days(left), days(a.o.CAExpiringWithin)), res)
		}
		// A trust anchor's self-signature is not relied on (RFC 5280
		// §6.1.1), so only the issuing CA's signature algorithm counts.
		if why := x509KeyInfo(ca.cert).weakness(&a.o, !ca.root); why != "" {
			a.add(CheckCACertWeakKey, "", fmt.Sprintf("%s CA certificate %q: %s", ca.name, subj, why), res)
		}
	}
	if !a.s.Server.CAKeyEncrypted {
		a.add(CheckCAKeyUnencrypted, "", "the CA private key is stored unencrypted (ServerFacts.CAKeyEncrypted is false)", "ca:key")
	}
}

// x509KeyInfo is parseCertKey for an already parsed certificate.
func x509KeyInfo(c *x509.Certificate) keyInfo {
	if len(c.Raw) > 0 {
		if ki, err := parseCertKey(c.Raw); err == nil {
			return ki
		}
	}
	var ki keyInfo
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		ki.Alg, ki.Bits = "RSA", k.N.BitLen()
	case *ecdsa.PublicKey:
		ki.Alg, ki.Bits, ki.Curve = "ECDSA", k.Curve.Params().BitSize, k.Curve.Params().Name
	case ed25519.PublicKey:
		ki.Alg, ki.Bits = "Ed25519", 256
	default:
		ki.Alg = c.PublicKeyAlgorithm.String()
	}
	ki.SigAlg = c.SignatureAlgorithm.String()
	switch c.SignatureAlgorithm {
	case x509.MD2WithRSA, x509.MD5WithRSA, x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1:
		ki.WeakSig = true
	}
	return ki
}

// checkServer audits Ward's own configuration.
func (a *auditor) checkServer() {
	f := a.s.Server
	if f.PasswordAuth {
		a.add(CheckPasswordAuth, "", "the MQTT gateway accepts username/password authentication", "server")
	}
	if f.PlaintextMQTT {
		a.add(CheckPlaintextMQTT, "", "a plaintext (non-TLS) MQTT listener is enabled", "server")
	}
	// 0 means Go's default, which is TLS 1.2 for servers.
	if f.MinTLSVersion != 0 && f.MinTLSVersion < tls.VersionTLS12 {
		a.add(CheckTLSVersion, "", "the minimum TLS version is "+tls.VersionName(f.MinTLSVersion), "server")
	}
	switch {
	case !f.AuditLogEnabled:
		a.add(CheckAuditLogDisabled, "", "the hash-chained audit trail is disabled", "server:audit-log")
	case !f.AuditLogIntact:
		a.add(CheckAuditLogBroken, "", "the audit trail's hash chain does not verify", "server:audit-log")
	}
	if !f.EventLogEnabled {
		a.add(CheckEventLogDisabled, "", "device events are not recorded; connection-based checks had no data", "server:event-log")
	}
	if f.MaxMessageBytes <= 0 {
		a.add(CheckMessageSizeUnlimited, "", "gateway maximum message size is not set (0: unlimited)", "server")
	}
	if f.ConnectsPerMin <= 0 {
		a.add(CheckConnectRateUnlimited, "", "gateway connections per device per minute are not limited", "server")
	}
	if f.TokenTTL > a.o.MaxTokenTTL {
		a.add(CheckEnrollTokenTTL, "", fmt.Sprintf("enrollment tokens are valid for %s (threshold %s)", days(f.TokenTTL), days(a.o.MaxTokenTTL)), "server")
	}
}
