package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
)

// MaxCSRBytes bounds the DER size of a certificate request.
const MaxCSRBytes = 16 << 10

// Errors returned by ParseCSR and CheckCSR; callers map them to protocol
// errors (EST answers 400 with the message).
var (
	ErrCSRMalformed = errors.New("malformed certificate request")
	ErrCSRSignature = errors.New("certificate request signature does not verify")
	ErrCSRKeyType   = errors.New("unsupported key type: use an ECDSA P-256 (or P-384) key")
	ErrCSRIdentity  = errors.New("certificate request names another identity")
	ErrCSRHash      = errors.New("certificate request signed with a weak or unknown hash: sign it with ECDSA and SHA-256 (openssl req -sha256)")
)

// ParseCSR parses a DER PKCS#10 request, checks its self-signature (proof
// of possession) and its key type.
func ParseCSR(der []byte) (*x509.CertificateRequest, error) {
	if len(der) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrCSRMalformed)
	}
	if len(der) > MaxCSRBytes {
		return nil, fmt.Errorf("%w: %d bytes is over the %d-byte limit", ErrCSRMalformed, len(der), MaxCSRBytes)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCSRMalformed, err)
	}
	pub, ok := csr.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w (got %s)", ErrCSRKeyType, csr.PublicKeyAlgorithm)
	}
	if c := pub.Curve; c != elliptic.P256() && c != elliptic.P384() {
		return nil, fmt.Errorf("%w (got curve %s)", ErrCSRKeyType, c.Params().Name)
	}
	switch csr.SignatureAlgorithm {
	case x509.ECDSAWithSHA256, x509.ECDSAWithSHA384, x509.ECDSAWithSHA512:
	default:
		// SHA-1 (and MD5) signatures prove possession of the key no
		// better than a collision costs; Go still verifies them on CSRs.
		return nil, fmt.Errorf("%w (got %s)", ErrCSRHash, csr.SignatureAlgorithm)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCSRSignature, err)
	}
	return csr, nil
}

// CheckCSR verifies that a request asks only for deviceID's identity: its
// CN must be the device ID, and any URI SAN must be urn:ward:device:<id>.
// DNS, IP and e-mail SANs are refused (a device certificate is a client
// identity). The issued certificate takes its names from Ward anyway; this
// check makes a request for another device fail loudly instead of silently.
func CheckCSR(csr *x509.CertificateRequest, deviceID string) error {
	if csr.Subject.CommonName != deviceID {
		return fmt.Errorf("%w: subject CN is %q but the enrolling device is %q (set CN=%s)", ErrCSRIdentity, csr.Subject.CommonName, deviceID, deviceID)
	}
	for _, u := range csr.URIs {
		if u.String() != DeviceURIPrefix+deviceID {
			return fmt.Errorf("%w: URI SAN %q (only %s%s is allowed)", ErrCSRIdentity, u.String(), DeviceURIPrefix, deviceID)
		}
	}
	if len(csr.DNSNames)+len(csr.IPAddresses)+len(csr.EmailAddresses) > 0 {
		return fmt.Errorf("%w: DNS, IP and e-mail SANs are not allowed in a device certificate (%s)", ErrCSRIdentity,
			strings.Join(append(csr.DNSNames, csr.EmailAddresses...), ","))
	}
	return nil
}
