package pki

import (
	"cmp"
	"context"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"math/big"
	"slices"
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
// The set is sized for 10 M device certificates per node. A Go map of
// them costs about 53 bytes per entry, so the set is 256 shards (by the
// serial's last octet, which is random), each a sorted array of 24-byte
// records (the 16-octet serial; instead of the device ID, a 32-bit keyed
// hash of it; the expiry in Unix seconds) plus a small map of the serials
// added since the array was last rebuilt. A shard's map is merged into its
// array once it holds an eighth of it, so rebuilding touches 1/256 of the
// set under that shard's lock only. BenchmarkIssuedSetMemory measures the
// bytes per entry.

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

// issuedRec is one entry of a shard's sorted array.
type issuedRec struct {
	hi, lo uint64 // the serial key, big-endian halves
	issuedEntry
}

func recOf(k serialKey, e issuedEntry) issuedRec {
	return issuedRec{hi: binary.BigEndian.Uint64(k[:8]), lo: binary.BigEndian.Uint64(k[8:]), issuedEntry: e}
}

func (r issuedRec) key() serialKey {
	var k serialKey
	binary.BigEndian.PutUint64(k[:8], r.hi)
	binary.BigEndian.PutUint64(k[8:], r.lo)
	return k
}

func cmpRec(a, b issuedRec) int {
	if c := cmp.Compare(a.hi, b.hi); c != 0 {
		return c
	}
	return cmp.Compare(a.lo, b.lo)
}

const issuedShards = 256

// issuedSet is the set of recorded, unrevoked, unexpired device
// certificates. It is safe for concurrent use.
type issuedSet struct {
	seed   maphash.Seed
	shards [issuedShards]issuedShard
	notify atomic.Pointer[func(serial string)]
}

// issuedShard holds the serials whose last octet is its index.
type issuedShard struct {
	mu    sync.RWMutex
	base  []issuedRec               // sorted by serial, no duplicates; guarded by mu
	delta map[serialKey]issuedEntry // added since base was built; guarded by mu
}

func newIssuedSet() *issuedSet {
	return &issuedSet{seed: maphash.MakeSeed()}
}

func (s *issuedSet) shard(k serialKey) *issuedShard { return &s.shards[k[len(k)-1]] }

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

// entryOf validates a record: a device certificate with a serial Ward can
// have issued.
func (s *issuedSet) entryOf(c store.Certificate) (serialKey, issuedEntry, bool) {
	if c.Kind != "device" || c.DeviceID == "" {
		return serialKey{}, issuedEntry{}, false
	}
	k, ok := keyOfHex(c.Serial)
	return k, issuedEntry{device: s.deviceHash(c.DeviceID), expiry: unixSeconds(c.NotAfter)}, ok
}

// add records a device certificate; other kinds and malformed serials are
// ignored. It reports whether the certificate was added.
func (s *issuedSet) add(c store.Certificate) bool {
	k, e, ok := s.entryOf(c)
	if !ok {
		return false
	}
	sh := s.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.delta == nil {
		sh.delta = map[serialKey]issuedEntry{}
	}
	sh.delta[k] = e
	if len(sh.delta) >= max(64, len(sh.base)/8) {
		sh.rebuildLocked(0, nil)
	}
	return true
}

// rebuildLocked merges the delta map into a new, exactly sized array,
// leaving out entries expired at cut (Unix seconds; 0: none) and those
// drop reports, and returns how many it left out.
func (sh *issuedShard) rebuildLocked(cut uint32, drop func(serialKey) bool) int {
	recs := make([]issuedRec, 0, len(sh.delta))
	for k, e := range sh.delta {
		recs = append(recs, recOf(k, e))
	}
	slices.SortFunc(recs, cmpRec)
	out := make([]issuedRec, 0, len(sh.base)+len(recs))
	removed := 0
	keep := func(r issuedRec) {
		if r.expiry <= cut || (drop != nil && drop(r.key())) {
			removed++
			return
		}
		out = append(out, r)
	}
	i, j := 0, 0
	for i < len(sh.base) || j < len(recs) {
		switch {
		case j == len(recs) || (i < len(sh.base) && cmpRec(sh.base[i], recs[j]) < 0):
			keep(sh.base[i])
			i++
		case i == len(sh.base) || cmpRec(recs[j], sh.base[i]) < 0:
			keep(recs[j])
			j++
		default: // the same serial: the newer entry wins
			keep(recs[j])
			i++
			j++
		}
	}
	if len(out) < cap(out) {
		out = slices.Clone(out) // exact size: the array is most of the set's memory
	}
	sh.base, sh.delta = out, nil
	return removed
}

// has reports whether serial was recorded for device id and is not expired at now.
func (s *issuedSet) has(serial *big.Int, id string, now time.Time) bool {
	k, ok := keyOf(serial)
	if !ok {
		return false
	}
	sh := s.shard(k)
	sh.mu.RLock()
	e, ok := sh.delta[k]
	if !ok {
		var i int
		r := recOf(k, issuedEntry{})
		if i, ok = slices.BinarySearchFunc(sh.base, r, cmpRec); ok {
			e = sh.base[i].issuedEntry
		}
	}
	sh.mu.RUnlock()
	return ok && e.device == s.deviceHash(id) && unixSeconds(now) < e.expiry
}

func (s *issuedSet) len() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.RLock()
		n += len(sh.base) + len(sh.delta)
		sh.mu.RUnlock()
	}
	return n
}

// prune removes the entries expired at now and those drop reports, and
// returns how many it removed. Each shard is rebuilt under its own lock.
func (s *issuedSet) prune(now time.Time, drop func(serialKey) bool) int {
	removed := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		removed += sh.rebuildLocked(unixSeconds(now), drop)
		sh.mu.Unlock()
	}
	return removed
}

// load fills an empty set from each(fn), without going through the delta
// maps, and returns how many certificates it holds.
func (s *issuedSet) load(each func(fn func(store.Certificate) error) error) (int, error) {
	err := each(func(c store.Certificate) error {
		if k, e, ok := s.entryOf(c); ok {
			sh := s.shard(k)
			sh.base = append(sh.base, recOf(k, e))
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		slices.SortFunc(sh.base, cmpRec)
		sh.base = slices.Clone(slices.CompactFunc(sh.base, func(a, b issuedRec) bool { return cmpRec(a, b) == 0 }))
		n += len(sh.base)
	}
	return n, nil
}

// loadIssued fills the set from the store: every valid device certificate.
func (ca *CA) loadIssued(ctx context.Context) error {
	ca.issued = newIssuedSet()
	n, err := ca.issued.load(func(fn func(store.Certificate) error) error {
		return ca.opts.Store.EachValidDeviceCertificate(ctx, ca.now(), func(c store.Certificate) error {
			c.Kind = "device"
			return fn(c)
		})
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
