package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"
)

// FuzzParseCSR: arbitrary bytes never panic, and whatever parses has a
// supported key and a valid self-signature.
func FuzzParseCSR(f *testing.F) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	f.Add(csrFor(f, "dev-1", k))
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x00})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, der []byte) {
		csr, err := ParseCSR(der)
		if err != nil {
			return
		}
		if _, ok := csr.PublicKey.(*ecdsa.PublicKey); !ok {
			t.Fatalf("accepted key type %T", csr.PublicKey)
		}
		if err := csr.CheckSignature(); err != nil {
			t.Fatalf("accepted CSR with bad signature: %v", err)
		}
		_ = CheckCSR(csr, "dev-1")
	})
}
