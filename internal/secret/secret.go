// Package secret generates and checks Ward's bearer secrets (enrollment
// tokens, API tokens): 32 bytes from crypto/rand, base64url encoded, stored
// only as SHA-256 hashes and compared in constant time. Secret values are
// of type Value, which never prints itself in logs or fmt output.
package secret

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
)

// Value is a secret string that redacts itself in logs and fmt output.
// Use Reveal to get the text, only where it must be shown once or sent.
type Value string

// LogValue implements slog.LogValuer.
func (Value) LogValue() slog.Value { return slog.StringValue("[REDACTED]") }

// String implements fmt.Stringer.
func (Value) String() string { return "[REDACTED]" }

// GoString implements fmt.GoStringer.
func (Value) GoString() string { return "[REDACTED]" }

// Reveal returns the secret text.
func (v Value) Reveal() string { return string(v) }

// New returns a new random secret of 32 bytes, base64url without padding.
func New() (Value, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate secret: %w", err)
	}
	return Value(base64.RawURLEncoding.EncodeToString(b)), nil
}

// NewID returns a random public identifier of n bytes, hex encoded.
func NewID(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// Hash returns the SHA-256 of a secret's text.
func Hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// Equal compares a presented secret against a stored hash in constant time.
func Equal(presented string, hash []byte) bool {
	return subtle.ConstantTimeCompare(Hash(presented), hash) == 1
}

// EqualText compares a presented secret text with the expected text in
// constant time (of their hashes, so the length does not show either).
// An empty expected text matches nothing.
func EqualText(presented, expected string) bool {
	if expected == "" {
		return false
	}
	return subtle.ConstantTimeCompare(Hash(presented), Hash(expected)) == 1
}
