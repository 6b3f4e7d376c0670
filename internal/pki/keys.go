package pki

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/crypto/scrypt"
)

// encryptedKeyType is the PEM block type of a private key encrypted by Ward:
// scrypt (N=2^15, r=8, p=1) derives an AES-256-GCM key from the passphrase;
// the headers carry the salt and nonce. Go's standard library offers only the
// insecure legacy PEM encryption (RFC 1423), hence this small format.
const encryptedKeyType = "WARD ENCRYPTED PRIVATE KEY"

// ErrPassphrase is returned when a CA key cannot be decrypted with the
// given passphrase or is encrypted and no passphrase was given.
var ErrPassphrase = errors.New("wrong or missing CA key passphrase")

func newKey() (*ecdsa.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

func deriveKey(pass, salt []byte) ([]byte, error) {
	return scrypt.Key(pass, salt, 1<<15, 8, 1, 32)
}

// MarshalPrivateKey encodes a private key (any that PKCS#8 can hold) as
// PEM, encrypted with pass (scrypt, AES-256-GCM) when pass is non-empty,
// as the CA keys are at rest.
func MarshalPrivateKey(key any, pass []byte) ([]byte, error) { return marshalKey(key, pass) }

// ParsePrivateKey decodes a PEM private key written by MarshalPrivateKey
// (or a plain PKCS#8, SEC1 or PKCS#1 key). An encrypted key without a
// passphrase, or with the wrong one, is ErrPassphrase.
func ParsePrivateKey(data, pass []byte) (any, error) { return parseKey(data, pass) }

// marshalKey encodes key as PEM, encrypted when pass is non-empty.
func marshalKey(key any, pass []byte) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	if len(pass) == 0 {
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
	}
	salt := make([]byte, 16)
	nonce := make([]byte, 12)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	k, err := deriveKey(pass, salt)
	if err != nil {
		return nil, err
	}
	block, _ := aes.NewCipher(k)
	gcm, _ := cipher.NewGCM(block)
	ct := gcm.Seal(nil, nonce, der, []byte(encryptedKeyType))
	return pem.EncodeToMemory(&pem.Block{Type: encryptedKeyType, Headers: map[string]string{
		"KDF":   "scrypt-N32768-r8-p1",
		"Salt":  fmt.Sprintf("%x", salt),
		"Nonce": fmt.Sprintf("%x", nonce),
	}, Bytes: ct}), nil
}

// parseKey decodes a PEM private key written by marshalKey (or a plain
// PKCS#8 / SEC1 / PKCS#1 key supplied by an operator).
func parseKey(data, pass []byte) (any, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	der := block.Bytes
	switch block.Type {
	case encryptedKeyType:
		if len(pass) == 0 {
			return nil, ErrPassphrase
		}
		var salt, nonce []byte
		if _, err := fmt.Sscanf(block.Headers["Salt"], "%x", &salt); err != nil {
			return nil, fmt.Errorf("bad Salt header: %w", err)
		}
		if _, err := fmt.Sscanf(block.Headers["Nonce"], "%x", &nonce); err != nil || len(nonce) != 12 {
			return nil, errors.New("bad Nonce header")
		}
		k, err := deriveKey(pass, salt)
		if err != nil {
			return nil, err
		}
		blk, _ := aes.NewCipher(k)
		gcm, _ := cipher.NewGCM(blk)
		der, err = gcm.Open(nil, nonce, block.Bytes, []byte(encryptedKeyType))
		if err != nil {
			return nil, ErrPassphrase
		}
		return x509.ParsePKCS8PrivateKey(der)
	case "PRIVATE KEY":
		return x509.ParsePKCS8PrivateKey(der)
	case "EC PRIVATE KEY":
		return x509.ParseECPrivateKey(der)
	case "RSA PRIVATE KEY":
		return x509.ParsePKCS1PrivateKey(der)
	}
	return nil, fmt.Errorf("unsupported PEM block %q", block.Type)
}

// writeFileAtomic writes data to path with mode perm via a temp file, fsync
// and rename, so a crash never leaves a half-written file.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// WriteSecretFile writes a secret (key, token) 0600 atomically.
func WriteSecretFile(path string, data []byte) error {
	return writeFileAtomic(path, data, 0o600)
}

// WritePublicFile writes a public file (certificate) 0644 atomically.
func WritePublicFile(path string, data []byte) error {
	return writeFileAtomic(path, data, 0o644)
}

// ReadSecretFile reads a secret file (a key, admin.token) and refuses one
// that group or others can read, with the chmod fix in the error.
func ReadSecretFile(path string) ([]byte, error) {
	if err := CheckSecretFileMode(path); err != nil {
		return nil, err
	}
	return os.ReadFile(path)
}

// CheckSecretFileMode refuses a secret file that group or others can
// access (mode & 0o077 != 0); the error names the chmod that fixes it.
func CheckSecretFileMode(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%s is readable by group or others (mode %#o): it must belong to the user running ward with mode 0600: chmod 600 %s", path, st.Mode().Perm(), path)
	}
	return nil
}

func encodeCerts(certs ...[]byte) []byte {
	var b bytes.Buffer
	for _, der := range certs {
		pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	return b.Bytes()
}

// ParseCertificatesPEM parses every CERTIFICATE block in data.
func ParseCertificatesPEM(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no CERTIFICATE PEM block found")
	}
	return out, nil
}

// ReadRoots reads a PEM file of trusted certificates (a server's ca.pem)
// and returns them as a pool, with the file's bytes.
func ReadRoots(path string) (*x509.CertPool, []byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read CA file: %w", err)
	}
	certs, err := ParseCertificatesPEM(data)
	if err != nil {
		return nil, nil, fmt.Errorf("read CA file %s: %w", path, err)
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, data, nil
}
