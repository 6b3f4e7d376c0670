// Package password hashes and checks people's passwords with argon2id
// (RFC 9106), from golang.org/x/crypto/argon2, and holds Ward's password
// policy. Hashes are PHC strings
// ($argon2id$v=19$m=65536,t=1,p=1$<salt>$<key>, unpadded standard base64)
// that carry their own parameters: a hash made with older parameters still
// verifies, and NeedsRehash tells the caller to replace it after a
// successful sign-in.
//
// argon2id is memory-hard on purpose: each hash holds Params.Memory (64 MiB
// by default) for its duration. A Hasher therefore runs at most a fixed
// number of hashes at once and makes the others wait, so that a burst of
// sign-in attempts cannot exhaust the server's memory.
//
// API tokens, enrollment tokens and session secrets are not passwords:
// they are 32 random bytes, hashed with SHA-256 by package secret.
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id's cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8  // lanes
}

// DefaultParams are the parameters of new hashes: 64 MiB, one pass, one
// lane. RFC 9106 section 4 recommends 64 MiB as the memory of its second
// option; OWASP's password storage cheat sheet accepts one pass from
// 46 MiB up. One lane keeps a hash on one core of a small server.
var DefaultParams = Params{Memory: 64 * 1024, Time: 1, Threads: 1}

// Bounds of the parameters a PHC string may carry: a stored hash with
// larger ones is refused rather than run (it would pin the server's
// memory or CPU).
const (
	maxMemory  = 1 << 20 // 1 GiB
	maxTime    = 10
	maxThreads = 16
	saltLen    = 16
	keyLen     = 32
)

// Policy limits.
const (
	MinLength = 12   // characters
	MaxBytes  = 1024 // bytes: argon2 hashes any length, but a body must be bounded
)

// ErrMalformed is returned for a hash that is not a PHC string of argon2id
// version 19 within the bounds above.
var ErrMalformed = errors.New("malformed argon2id password hash")

// CheckPolicy returns an error, worded for the person choosing the
// password, when pw is shorter than MinLength characters, longer than
// MaxBytes bytes or equal to the user name.
func CheckPolicy(user, pw string) error {
	if n := utf8.RuneCountInString(pw); n < MinLength {
		return fmt.Errorf("password too short: %d characters, at least %d characters needed", n, MinLength)
	}
	if len(pw) > MaxBytes {
		return fmt.Errorf("password too long: %d bytes, at most %d bytes allowed", len(pw), MaxBytes)
	}
	if strings.EqualFold(pw, user) {
		return errors.New("password must not be the user name")
	}
	return nil
}

var b64 = base64.RawStdEncoding

// hashWith derives the PHC string of pw with salt and p.
func hashWith(pw string, salt []byte, p Params) string {
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, keyLen)
	return format(p, salt, key)
}

func format(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// Parse reads a PHC string of argon2id: its parameters, salt and key.
// It refuses other algorithms and versions, parameters out of bounds and
// any deviation from the canonical form (Parse then format gives back the
// input).
func Parse(phc string) (Params, []byte, []byte, error) {
	var p Params
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, ErrMalformed
	}
	ps := strings.Split(parts[3], ",")
	if len(ps) != 3 {
		return p, nil, nil, ErrMalformed
	}
	m, okm := param(ps[0], "m=", maxMemory)
	t, okt := param(ps[1], "t=", maxTime)
	th, okp := param(ps[2], "p=", maxThreads)
	if !okm || !okt || !okp || m < 8*th {
		return p, nil, nil, ErrMalformed
	}
	p = Params{Memory: uint32(m), Time: uint32(t), Threads: uint8(th)}
	salt, ok := decode(parts[4], 8, 64)
	if !ok {
		return p, nil, nil, ErrMalformed
	}
	key, ok := decode(parts[5], 16, 64)
	if !ok {
		return p, nil, nil, ErrMalformed
	}
	return p, salt, key, nil
}

// decode reads canonical unpadded base64 of min..max bytes (the decoder
// alone skips line breaks).
func decode(s string, min, max int) ([]byte, bool) {
	b, err := b64.Strict().DecodeString(s)
	if err != nil || len(b) < min || len(b) > max || b64.EncodeToString(b) != s {
		return nil, false
	}
	return b, true
}

// param reads "name=N" with 1 <= N <= max, in canonical decimal.
func param(s, name string, max uint64) (uint64, bool) {
	v, ok := strings.CutPrefix(s, name)
	if !ok || v == "" || (len(v) > 1 && v[0] == '0') {
		return 0, false
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || n < 1 || n > max {
		return 0, false
	}
	return n, true
}

// Hasher hashes and verifies passwords, at most a fixed number at once.
type Hasher struct {
	params Params
	slots  chan struct{}
	// dummy is a hash of a random password with params, verified against
	// for unknown users so that they cost what a known one does.
	dummyOnce sync.Once
	dummy     string
	dummyErr  error
}

// NewHasher returns a Hasher that makes hashes with p (zero: DefaultParams)
// and runs at most concurrent hashes at once (0: 2).
func NewHasher(p Params, concurrent int) (*Hasher, error) {
	if p == (Params{}) {
		p = DefaultParams
	}
	if p.Memory > maxMemory || p.Time < 1 || p.Time > maxTime || p.Threads < 1 || p.Threads > maxThreads || p.Memory < 8*uint32(p.Threads) {
		return nil, fmt.Errorf("argon2id parameters m=%d t=%d p=%d out of bounds (m 8p..%d KiB, t 1..%d, p 1..%d)", p.Memory, p.Time, p.Threads, maxMemory, maxTime, maxThreads)
	}
	if concurrent <= 0 {
		concurrent = 2
	}
	return &Hasher{params: p, slots: make(chan struct{}, concurrent)}, nil
}

// acquire waits for a hashing slot.
func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait to hash a password: %w", ctx.Err())
	}
}

func (h *Hasher) release() { <-h.slots }

// Hash returns the PHC string of pw with a fresh random salt.
func (h *Hasher) Hash(ctx context.Context, pw string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("generate salt: %w", err)
	}
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	return hashWith(pw, salt, h.params), nil
}

// Verify reports whether pw matches the PHC string phc, comparing in
// constant time. ErrMalformed for a hash Parse refuses.
func (h *Hasher) Verify(ctx context.Context, pw, phc string) (bool, error) {
	p, salt, key, err := Parse(phc)
	if err != nil {
		return false, err
	}
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// VerifyNone spends the time of a Verify against a hash of the current
// parameters and matches nothing: call it for an unknown user, so that
// whether a user exists does not show in the answer's time.
func (h *Hasher) VerifyNone(ctx context.Context, pw string) error {
	h.dummyOnce.Do(func() {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			h.dummyErr = fmt.Errorf("generate dummy password: %w", err)
			return
		}
		h.dummy, h.dummyErr = h.Hash(ctx, b64.EncodeToString(b))
	})
	if h.dummyErr != nil {
		return h.dummyErr
	}
	_, err := h.Verify(ctx, pw, h.dummy)
	return err
}

// NeedsRehash reports whether phc was made with other parameters than the
// Hasher's (or is malformed).
func (h *Hasher) NeedsRehash(phc string) bool {
	p, _, _, err := Parse(phc)
	return err != nil || p != h.params
}
