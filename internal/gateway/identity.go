package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/wardproject/ward/internal/gwevent"
	"github.com/wardproject/ward/internal/pki"
	"github.com/wardproject/ward/internal/store"
)

// Identities names the device a verified client certificate identifies and
// says whether Ward recorded that certificate. *pki.CA implements it; the
// gateway and EST re-enrollment apply the same rule (pki.CA.DeviceID).
type Identities interface {
	// DeviceID returns the device the certificate names: its
	// urn:ward:device:<id> URI SAN (the CN only when the operator allowed
	// it); an error when it names none.
	DeviceID(c *x509.Certificate) (string, error)
	// Issued reports whether Ward recorded the serial for the device and
	// it is neither expired nor revoked. It must not block on I/O.
	Issued(serial *big.Int, deviceID string) bool
	// LearnCertificate re-reads a serial (lower-case hex) from the store
	// and reports whether it is now known as issued.
	LearnCertificate(ctx context.Context, serial string) (bool, error)
}

// refusal is the error VerifyConnection returns to refuse a device whose
// certificate chain verified; the listener records it with the remote address.
type refusal struct {
	reason   string
	deviceID string
	serial   string
}

func (r *refusal) Error() string {
	if r.deviceID == "" {
		return "gateway: connection refused: " + r.reason
	}
	return fmt.Sprintf("gateway: device %s refused: %s", r.deviceID, r.reason)
}

// verifyConnection runs at the end of every TLS handshake, after crypto/tls
// has verified the client chain against Options.TLS.ClientCAs.
func (g *Gateway) verifyConnection(cs tls.ConnectionState) error {
	leaf := verifiedLeaf(cs)
	if leaf == nil {
		return &refusal{reason: gwevent.ReasonNoCertificate}
	}
	id, err := g.opts.Identities.DeviceID(leaf)
	serial := pki.SerialHex(leaf.SerialNumber)
	if err != nil {
		return &refusal{reason: gwevent.ReasonUnknownDevice, serial: serial}
	}
	if g.opts.Revoked.IsRevoked(leaf.SerialNumber) {
		return &refusal{reason: gwevent.ReasonRevoked, deviceID: id, serial: serial}
	}
	if !g.opts.Identities.Issued(leaf.SerialNumber, id) && !g.learnCertificate(leaf.SerialNumber, serial, id) {
		return &refusal{reason: gwevent.ReasonUnknownCertificate, deviceID: id, serial: serial}
	}
	ds := g.device(id)
	if (ds == nil || statusReason(ds.policy.Load()) != "") && g.lookup(id) {
		ds = g.device(id)
	}
	if ds == nil {
		return &refusal{reason: gwevent.ReasonUnknownDevice, deviceID: id, serial: serial}
	}
	if r := statusReason(ds.policy.Load()); r != "" {
		return &refusal{reason: r, deviceID: id, serial: serial}
	}
	return nil
}

// LookupInterval is how often, at most, the gateway re-reads one device
// from the store before refusing it (see DeviceLookup).
const LookupInterval = 2 * time.Second

// lookupTimeout bounds that read; it runs in the handshake.
const lookupTimeout = 2 * time.Second

// lookup re-reads device id from the store when Options.Devices is a
// DeviceLookup and it was not read in the last LookupInterval, and
// applies the record if it is newer than what the gateway holds and
// admits the device. It reports whether it changed anything.
//
// Newer means a later UpdatedAt, compared under g.mu with what SetDevice
// stored: a change that arrived meanwhile through SetDevice (a revocation
// from another node, say) is never overwritten by this older read.
func (g *Gateway) lookup(id string) bool {
	dl, ok := g.opts.Devices.(DeviceLookup)
	if !ok {
		return false
	}
	now := g.now()
	if last, ok := g.lookups.Load(id); ok && now.Sub(last.(time.Time)) < LookupInterval {
		return false
	}
	g.lookups.Store(id, now)
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	d, err := dl.GetDevice(ctx, id)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			g.log.Warn("gateway: device lookup failed", "device_id", id, "err", err)
		}
		return false
	}
	if d.ID != id || (d.Status != store.StatusActive && !restricted(d)) {
		return false
	}
	g.mu.Lock()
	cur := g.devices[id]
	apply := cur == nil || d.UpdatedAt.After(cur.dev.UpdatedAt)
	if apply {
		g.putDeviceLocked(d)
	}
	g.mu.Unlock()
	if apply {
		g.log.Info("gateway: device admitted from the store before its notice arrived", "device_id", id, "status", d.Status)
	}
	return apply
}

// learnCertificate re-reads an unrecorded serial from the store (through
// Identities.LearnCertificate), at most once per LookupInterval per serial,
// and reports whether it is now known as issued to device id. A device
// that re-enrolled through another cluster node and connects here before
// that node's notice arrives is admitted this way.
func (g *Gateway) learnCertificate(n *big.Int, serial, id string) bool {
	if !g.certLookups.allow(serial, g.now()) {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	ok, err := g.opts.Identities.LearnCertificate(ctx, serial)
	if err != nil {
		g.log.Warn("gateway: certificate lookup failed", "device_id", id, "serial", serial, "err", err)
		return false
	}
	if ok = ok && g.opts.Identities.Issued(n, id); ok {
		g.log.Info("gateway: certificate admitted from the store before its notice arrived", "device_id", id, "serial", serial)
	}
	return ok
}

// lookupLimiter allows one lookup per key per LookupInterval, and at most
// lookupLimiterSweep lookups of distinct keys per LookupInterval: keys older
// than that are forgotten when it is full, so an attacker cycling serials
// cannot grow it, nor the store reads, without bound. The zero value is
// ready to use.
type lookupLimiter struct {
	mu     sync.Mutex
	last   map[string]time.Time
	oldest time.Time // of last's times, as of the last sweep
}

const lookupLimiterSweep = 4096

func (l *lookupLimiter) allow(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.last[key]; ok && now.Sub(t) < LookupInterval {
		return false
	}
	if l.last == nil {
		l.last = map[string]time.Time{}
	}
	if len(l.last) >= lookupLimiterSweep {
		if now.Sub(l.oldest) < LookupInterval {
			return false // full of recent keys (a flood): no store read
		}
		l.oldest = now
		for k, t := range l.last {
			if now.Sub(t) >= LookupInterval {
				delete(l.last, k)
			} else if t.Before(l.oldest) {
				l.oldest = t
			}
		}
		if len(l.last) >= lookupLimiterSweep {
			return false
		}
	}
	l.last[key] = now
	return true
}

// verifiedLeaf returns the leaf of the first verified chain, or nil.
func verifiedLeaf(cs tls.ConnectionState) *x509.Certificate {
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return nil
	}
	return cs.VerifiedChains[0][0]
}

// statusReason maps a device's policy to a refusal reason; "" admits.
func statusReason(p *policy) string {
	if p.admits() {
		return ""
	}
	switch p.status {
	case store.StatusActive:
		return ""
	case store.StatusQuarantined:
		return gwevent.ReasonQuarantined
	case store.StatusRevoked:
		return gwevent.ReasonRevoked
	case store.StatusPending:
		return gwevent.ReasonPending
	case store.StatusRetired:
		return gwevent.ReasonRetired
	}
	return gwevent.ReasonUnknownDevice
}

// handshakeFailed classifies a failed TLS handshake, counts it and, when
// the failure says something about a device, records a refused event.
// Plain garbage, timeouts and aborted handshakes are only counted.
func (g *Gateway) handshakeFailed(conn net.Conn, err error) {
	remote := conn.RemoteAddr().String()
	var ref *refusal
	var cve *tls.CertificateVerificationError
	switch {
	case errors.As(err, &ref):
		g.refuse(g.device(ref.deviceID), gwevent.Event{Device: ref.deviceID, RemoteAddr: remote, Serial: ref.serial}, ref.reason)
	case errors.As(err, &cve):
		reason, id, serial := g.classifyVerifyError(cve)
		var ds *deviceState
		if id != "" {
			ds = g.device(id)
		}
		g.refuse(ds, gwevent.Event{Device: id, RemoteAddr: remote, Serial: serial}, reason)
	case strings.Contains(err.Error(), "client didn't provide a certificate"):
		// crypto/tls has no sentinel for this; TestNoClientCertificate
		// catches a change of wording.
		g.refuse(nil, gwevent.Event{RemoteAddr: remote}, gwevent.ReasonNoCertificate)
	default:
		g.m.connections.WithLabelValues("tls-error").Inc()
		g.log.Debug("TLS handshake failed", "remote_addr", remote, "error", err)
	}
}

// classifyVerifyError tells an expired Ward certificate (attributed to its
// device, which is safe because the chain verifies at its own NotAfter) from
// a certificate of another CA or otherwise invalid (not attributed).
func (g *Gateway) classifyVerifyError(cve *tls.CertificateVerificationError) (reason, deviceID, serial string) {
	var inv x509.CertificateInvalidError
	if len(cve.UnverifiedCertificates) == 0 {
		return gwevent.ReasonUnknownCA, "", ""
	}
	leaf := cve.UnverifiedCertificates[0]
	if errors.As(cve.Err, &inv) && inv.Reason == x509.Expired {
		inter := x509.NewCertPool()
		for _, c := range cve.UnverifiedCertificates[1:] {
			inter.AddCert(c)
		}
		_, err := leaf.Verify(x509.VerifyOptions{
			Roots:         g.tls.ClientCAs,
			Intermediates: inter,
			CurrentTime:   leaf.NotAfter,
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		})
		if err == nil {
			id, err := g.opts.Identities.DeviceID(leaf)
			if err != nil {
				id = ""
			}
			return gwevent.ReasonExpired, id, pki.SerialHex(leaf.SerialNumber)
		}
	}
	return gwevent.ReasonUnknownCA, "", ""
}
