package pki

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"math/big"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wardproject/ward/internal/store"
)

// Admission anchored to what Ward issued.
//
// A certificate that chains to Ward's issuing CA is not enough to be
// admitted: whoever else holds that key (an imported corporate issuing CA,
// a stolen backup) could mint any identity. The gateway therefore admits
// only serials Ward recorded for the device the certificate names. The CA
// keeps them in an in-memory set (issuedSet): loaded from the store at
// Open, added to on every issuance once the record is stored, learnt from
// the store on demand (LearnCertificate: another cluster node issued it),
// and pruned of expired and revoked serials (PruneIssued).
//
// An entry costs one [16]byte key and 8 bytes of value in a Go map (see
// BenchmarkIssuedSetMemory for the measured bytes per entry): the serial
// itself (Ward's serials are 16 octets) and, instead of the device ID, a
// 32-bit keyed hash of it with the expiry in Unix seconds.

// serialKey is a serial number as a fixed-width key: its big-endian
// magnitude, left-padded to 16 octets.
type serialKey [16]byte

// keyOf returns the key of a serial; false for a serial Ward cannot have
// issued (not positive, or wider than 16 octets).
func keyOf(serial *big.Int) (serialKey, bool) {
	var k serialKey
	if serial == nil || serial.Sign() <= 0 || serial.BitLen() > 8*len(k) {
		return k, false
	}
	serial.FillBytes(k[:])
	return k, true
}

// keyOfHex is keyOf for a serial as Ward stores it (lower-case hex).
func keyOfHex(s string) (serialKey, bool) {
	n, ok := new(big.Int).SetString(s, 16)
	if !ok {
		return serialKey{}, false
	}
	return keyOf(n)
}

// issuedEntry is what the set keeps per serial.
type issuedEntry struct {
	device uint32 // keyed hash of the device ID (issuedSet.deviceHash)
	expiry uint32 // NotAfter, Unix seconds
}

// issuedSet is the set of recorded, unrevoked, unexpired device
// certificates. It is safe for concurrent use.
type issuedSet struct {
	seed   maphash.Seed
	mu     sync.RWMutex
	m      map[serialKey]issuedEntry // guarded by mu
	notify atomic.Pointer[func(serial string)]
}

func newIssuedSet() *issuedSet {
	return &issuedSet{seed: maphash.MakeSeed(), m: map[serialKey]issuedEntry{}}
}

func (s *issuedSet) deviceHash(id string) uint32 { return uint32(maphash.String(s.seed, id)) }

func unixSeconds(t time.Time) uint32 {
	u := t.Unix()
	if u < 0 {
		return 0
	}
	if u > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(u)
}

// add records a device certificate; other kinds and malformed serials are
// ignored. It reports whether the certificate was added.
func (s *issuedSet) add(c store.Certificate) bool {
	if c.Kind != "device" || c.DeviceID == "" {
		return false
	}
	k, ok := keyOfHex(c.Serial)
	if !ok {
		return false
	}
	e := issuedEntry{device: s.deviceHash(c.DeviceID), expiry: unixSeconds(c.NotAfter)}
	s.mu.Lock()
	s.m[k] = e
	s.mu.Unlock()
	return true
}

// has reports whether serial was recorded for device id and is not expired at now.
func (s *issuedSet) has(serial *big.Int, id string, now time.Time) bool {
	k, ok := keyOf(serial)
	if !ok {
		return false
	}
	s.mu.RLock()
	e, ok := s.m[k]
	s.mu.RUnlock()
	return ok && e.device == s.deviceHash(id) && unixSeconds(now) < e.expiry
}

func (s *issuedSet) len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.m)
}

// prune removes the entries expired at now and those drop reports, and
// returns how many it removed. The scan runs under the read lock; only the
// deletions take the write lock, so handshakes are not held up by it.
func (s *issuedSet) prune(now time.Time, drop func(serialKey) bool) int {
	cut := unixSeconds(now)
	var gone []serialKey
	s.mu.RLock()
	for k, e := range s.m {
		if e.expiry <= cut || drop(k) {
			gone = append(gone, k)
		}
	}
	s.mu.RUnlock()
	removed := len(gone)
	const batch = 4096
	for len(gone) > 0 {
		n := min(batch, len(gone))
		s.mu.Lock()
		for _, k := range gone[:n] {
			delete(s.m, k)
		}
		s.mu.Unlock()
		gone = gone[n:]
	}
	return removed
}

// loadIssued fills the set from the store: every valid device certificate.
func (ca *CA) loadIssued(ctx context.Context) error {
	ca.issued = newIssuedSet()
	n := 0
	err := ca.opts.Store.EachValidDeviceCertificate(ctx, ca.now(), func(c store.Certificate) error {
		c.Kind = "device"
		if ca.issued.add(c) {
			n++
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("load issued device certificates: %w", err)
	}
	ca.log.Info("loaded issued device certificates", "count", n)
	return nil
}

// recordIssued adds a certificate that was just recorded in the store to
// the set and tells the NotifyIssued function. issueRecord calls it.
func (ca *CA) recordIssued(c store.Certificate) {
	if !ca.issued.add(c) {
		return
	}
	if f := ca.issued.notify.Load(); f != nil {
		(*f)(c.Serial)
	}
}

// NotifyIssued sets f, called with the serial of every device certificate
// this CA issues, after the record is stored and before the certificate is
// returned: a cluster node tells the other nodes with it, which then call
// LearnCertificate. f must not call back into the CA.
func (ca *CA) NotifyIssued(f func(serial string)) { ca.issued.notify.Store(&f) }

// Issued reports whether the certificate with this serial was recorded by
// Ward for device id and is neither expired nor revoked. It reads in-memory
// sets and never blocks on I/O.
func (ca *CA) Issued(serial *big.Int, id string) bool {
	return ca.issued.has(serial, id, ca.now()) && !ca.IsRevoked(serial)
}

// LearnCertificate re-reads a certificate from the store and adds it to
// the issued set when it is a valid device certificate: another node of
// the cluster issued it. It reports whether the certificate is now known;
// a serial the store does not hold is not an error.
func (ca *CA) LearnCertificate(ctx context.Context, serial string) (bool, error) {
	serial = strings.ToLower(strings.ReplaceAll(serial, ":", ""))
	if _, err := hex.DecodeString(serial); err != nil {
		return false, fmt.Errorf("learn certificate %q: the serial must be hex", serial)
	}
	c, err := ca.opts.Store.GetCertificate(ctx, serial)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("learn certificate %s: %w", serial, err)
	}
	if c.Kind != "device" || c.Revoked() || !ca.now().Before(c.NotAfter) {
		return false, nil
	}
	return ca.issued.add(c), nil
}

// PruneIssued removes expired and revoked certificates from the issued set
// and returns how many it removed. The server calls it every hour.
func (ca *CA) PruneIssued() int {
	ca.mu.RLock()
	revoked := make(map[serialKey]bool, len(ca.revoked))
	for s := range ca.revoked {
		if k, ok := keyOfHex(s); ok {
			revoked[k] = true
		}
	}
	ca.mu.RUnlock()
	return ca.issued.prune(ca.now(), func(k serialKey) bool { return revoked[k] })
}

// IssuedCount returns the number of serials in the issued set.
func (ca *CA) IssuedCount() int { return ca.issued.len() }

// DeviceID returns the device a verified certificate identifies, by the
// rule both the gateway and EST re-enrollment apply: the ID of its
// urn:ward:device:<id> URI SAN. A certificate with two different device
// URIs, or whose CN names another device than its URI SAN, identifies
// nobody. Without the URI SAN, the CN is the identity only when
// Options.AllowCNIdentity is set (devices enrolled before URI SANs); the
// caller must still check that Ward recorded the serial for that device
// (Issued, or the store record).
func (ca *CA) DeviceID(c *x509.Certificate) (string, error) {
	return deviceID(c, ca.opts.AllowCNIdentity)
}

// ErrNoDeviceIdentity is returned for a certificate that names no device
// (or names two).
var ErrNoDeviceIdentity = errors.New("certificate does not identify a device")

func deviceID(c *x509.Certificate, allowCN bool) (string, error) {
	id := ""
	for _, u := range c.URIs {
		s := u.String()
		if !strings.HasPrefix(s, DeviceURIPrefix) {
			continue
		}
		v := strings.TrimPrefix(s, DeviceURIPrefix)
		if id != "" && v != id {
			return "", fmt.Errorf("%w: it has URI SANs for devices %q and %q", ErrNoDeviceIdentity, id, v)
		}
		id = v
	}
	cn := c.Subject.CommonName
	switch {
	case id != "":
		if cn != "" && cn != id {
			return "", fmt.Errorf("%w: its URI SAN names device %q but its CN %q", ErrNoDeviceIdentity, id, cn)
		}
	case !allowCN:
		return "", fmt.Errorf("%w: it has no %s<id> URI SAN", ErrNoDeviceIdentity, DeviceURIPrefix)
	case cn == "":
		return "", fmt.Errorf("%w: it has neither a %s<id> URI SAN nor a common name", ErrNoDeviceIdentity, DeviceURIPrefix)
	default:
		id = cn
	}
	if err := CheckDeviceID(id); err != nil {
		return "", fmt.Errorf("%w: %w", ErrNoDeviceIdentity, err)
	}
	return id, nil
}
