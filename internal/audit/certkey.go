package audit

import (
	"crypto/sha256"
	"encoding/asn1"
	"errors"
	"math/bits"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// keyInfo is what the audit needs to know about a certificate's key and
// signature.
type keyInfo struct {
	Alg    string // "RSA", "ECDSA", "Ed25519", "Ed448", "DSA", or the OID
	Bits   int    // RSA modulus bits, curve size; 0 when unknown
	Curve  string // "P-256"…, for ECDSA
	SigAlg string // "SHA256-RSA", "ECDSA-SHA256", "SHA1-RSA"…, or the OID
	// WeakSig: the signature uses SHA-1, MD5 or MD2.
	WeakSig bool
	// KeyHash identifies the SubjectPublicKeyInfo (first 16 bytes of its
	// SHA-256).
	KeyHash [16]byte
}

var errCert = errors.New("malformed certificate")

var (
	oidRSA     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidRSAPSS  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}
	oidEC      = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidDSA     = asn1.ObjectIdentifier{1, 2, 840, 10040, 4, 1}
	oidEd25519 = asn1.ObjectIdentifier{1, 3, 101, 112}
	oidEd448   = asn1.ObjectIdentifier{1, 3, 101, 113}
)

type curveInfo struct {
	oid  asn1.ObjectIdentifier
	name string
	bits int
}

var curves = []curveInfo{
	{asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}, "P-256", 256},
	{asn1.ObjectIdentifier{1, 3, 132, 0, 34}, "P-384", 384},
	{asn1.ObjectIdentifier{1, 3, 132, 0, 35}, "P-521", 521},
	{asn1.ObjectIdentifier{1, 3, 132, 0, 33}, "P-224", 224},
	{asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 1}, "P-192", 192},
	{asn1.ObjectIdentifier{1, 3, 132, 0, 10}, "secp256k1", 256},
	{asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 7}, "brainpoolP256r1", 256},
	{asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 11}, "brainpoolP384r1", 384},
	{asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 13}, "brainpoolP512r1", 512},
}

type sigInfo struct {
	oid  asn1.ObjectIdentifier
	name string
	weak bool
}

var sigAlgs = []sigInfo{
	{asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}, "ECDSA-SHA256", false},
	{asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}, "ECDSA-SHA384", false},
	{asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}, "ECDSA-SHA512", false},
	{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}, "SHA256-RSA", false},
	{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 12}, "SHA384-RSA", false},
	{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 13}, "SHA512-RSA", false},
	{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}, "RSA-PSS", false},
	{asn1.ObjectIdentifier{1, 3, 101, 112}, "Ed25519", false},
	{asn1.ObjectIdentifier{1, 3, 101, 113}, "Ed448", false},
	{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 5}, "SHA1-RSA", true},
	{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 4}, "MD5-RSA", true},
	{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 2}, "MD2-RSA", true},
	{asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 1}, "ECDSA-SHA1", true},
	{asn1.ObjectIdentifier{1, 2, 840, 10040, 4, 3}, "DSA-SHA1", true},
	{asn1.ObjectIdentifier{1, 3, 14, 3, 2, 29}, "SHA1-RSA", true},
}

// parseCertKey reads the public key algorithm and size, the signature
// algorithm and a hash of the SubjectPublicKeyInfo from a DER X.509
// certificate (RFC 5280 §4.1). It does not verify the certificate.
func parseCertKey(der []byte) (keyInfo, error) {
	var ki keyInfo
	input := cryptobyte.String(der)
	var cert, tbs, sigAlg, spki cryptobyte.String
	if !input.ReadASN1(&cert, cbasn1.SEQUENCE) || !input.Empty() ||
		!cert.ReadASN1(&tbs, cbasn1.SEQUENCE) ||
		!cert.ReadASN1(&sigAlg, cbasn1.SEQUENCE) {
		return ki, errCert
	}
	var sigOID asn1.ObjectIdentifier
	if !sigAlg.ReadASN1ObjectIdentifier(&sigOID) {
		return ki, errCert
	}
	ki.SigAlg = sigOID.String()
	for _, s := range sigAlgs {
		if s.oid.Equal(sigOID) {
			ki.SigAlg, ki.WeakSig = s.name, s.weak
			break
		}
	}
	// tbsCertificate: [0] version, serial, signature, issuer, validity,
	// subject, subjectPublicKeyInfo, ...
	if !tbs.SkipOptionalASN1(cbasn1.Tag(0).Constructed().ContextSpecific()) ||
		!tbs.SkipASN1(cbasn1.INTEGER) ||
		!tbs.SkipASN1(cbasn1.SEQUENCE) ||
		!tbs.SkipASN1(cbasn1.SEQUENCE) ||
		!tbs.SkipASN1(cbasn1.SEQUENCE) ||
		!tbs.SkipASN1(cbasn1.SEQUENCE) ||
		!tbs.ReadASN1Element(&spki, cbasn1.SEQUENCE) {
		return ki, errCert
	}
	sum := sha256.Sum256(spki)
	copy(ki.KeyHash[:], sum[:16])
	var body, alg cryptobyte.String
	var key asn1.BitString
	var keyOID asn1.ObjectIdentifier
	if !spki.ReadASN1(&body, cbasn1.SEQUENCE) ||
		!body.ReadASN1(&alg, cbasn1.SEQUENCE) ||
		!alg.ReadASN1ObjectIdentifier(&keyOID) ||
		!body.ReadASN1BitString(&key) {
		return ki, errCert
	}
	switch {
	case keyOID.Equal(oidRSA), keyOID.Equal(oidRSAPSS):
		ki.Alg = "RSA"
		pub := cryptobyte.String(key.RightAlign())
		var seq, mod cryptobyte.String
		if !pub.ReadASN1(&seq, cbasn1.SEQUENCE) || !seq.ReadASN1(&mod, cbasn1.INTEGER) {
			return ki, errCert
		}
		for len(mod) > 0 && mod[0] == 0 {
			mod = mod[1:]
		}
		if len(mod) > 0 {
			ki.Bits = (len(mod)-1)*8 + bits.Len8(mod[0])
		}
	case keyOID.Equal(oidEC):
		ki.Alg = "ECDSA"
		var curve asn1.ObjectIdentifier
		if !alg.ReadASN1ObjectIdentifier(&curve) {
			ki.Curve = "explicit parameters"
			break
		}
		ki.Curve = curve.String()
		for _, c := range curves {
			if c.oid.Equal(curve) {
				ki.Curve, ki.Bits = c.name, c.bits
				break
			}
		}
	case keyOID.Equal(oidEd25519):
		ki.Alg, ki.Bits = "Ed25519", 256
	case keyOID.Equal(oidEd448):
		ki.Alg, ki.Bits = "Ed448", 448
	case keyOID.Equal(oidDSA):
		ki.Alg = "DSA"
	default:
		ki.Alg = keyOID.String()
	}
	return ki, nil
}

// weakness says why a key is weak, or "" when it is not. sigToo also
// judges the signature algorithm.
func (ki keyInfo) weakness(o *Options, sigToo bool) string {
	var why string
	switch ki.Alg {
	case "RSA":
		if ki.Bits < o.MinRSABits {
			why = "RSA " + itoa(ki.Bits) + "-bit key (minimum " + itoa(o.MinRSABits) + ")"
		}
	case "ECDSA":
		if ki.Bits == 0 {
			why = "ECDSA key on an unrecognised curve (" + ki.Curve + ")"
		} else if ki.Bits < o.MinECBits {
			why = "ECDSA " + ki.Curve + " key (minimum " + itoa(o.MinECBits) + "-bit curve)"
		}
	case "Ed25519", "Ed448":
	case "DSA":
		why = "DSA key (deprecated, FIPS 186-5)"
	default:
		why = "unrecognised key algorithm " + ki.Alg
	}
	if sigToo && ki.WeakSig {
		if why != "" {
			why += "; "
		}
		why += ki.SigAlg + " signature (collision-prone hash)"
	}
	return why
}
