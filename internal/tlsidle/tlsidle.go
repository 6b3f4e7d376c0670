// Package tlsidle releases what a server-side crypto/tls connection keeps
// for its whole life but needs no longer once the handshake is over and
// the connection is idle: the buffers the handshake was read into and the
// parsed peer certificate chain.
//
// Why this exists. A *tls.Conn keeps its record-input buffer and its
// handshake buffer at the largest size they ever grew to. Both grew while
// the ClientHello was read (about 1.5 KiB with an X25519MLKEM768 key share,
// so 2 KiB of record input and 1.5 KiB of handshake buffer), and neither
// shrinks. It also keeps the client's parsed certificate (about 2.6 KiB,
// plus the handshake message it was parsed from) for ConnectionState. For
// an MQTT gateway holding a million idle device sessions that is about
// 7 KiB of a 12.6 KiB live session, and crypto/tls has no API to release
// any of it. Forking crypto/tls is not an option for a security product:
// it builds on the standard library's internal packages (FIPS 140 module,
// HPKE, ML-KEM) and would stop receiving Go's security fixes. Event-loop
// listeners with a TLS of their own (nbio's llib) are such forks.
//
// So Release reaches into the connection's unexported fields, narrowly:
// it finds them by name and type through reflect when the package is
// initialised, and does nothing at all (Supported reports false, with the
// reason) unless every field it touches has exactly the expected type, and
// the record-layer mutex is where it expects it. It takes the same locks
// crypto/tls takes for those fields (the handshake mutex, then the input
// half-connection's mutex, in crypto/tls's order), with TryLock, so it
// never waits behind a read, a handshake or ConnectionState; and it
// releases the buffers only when they hold no bytes, so no record or
// plaintext can be lost. Crypto state (keys, sequence numbers, traffic
// secrets) is never touched. A Go upgrade that changes crypto/tls's layout
// turns Release into a no-op, and TestLayoutSupported fails in CI so the
// change is noticed rather than silently costing memory.
//
// After Release, ConnectionState reports no peer certificates and no
// verified chains: callers read what they need from the certificate before
// (Ward's gateway keeps the device ID, serial and expiry from admission).
// Buffers are allocated again, at the size the next record needs, by the
// next read.
package tlsidle

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"unsafe"
)

// offsets are the byte offsets, within tls.Conn, of the fields Release
// touches; ok is false (and why says why) when the layout is not the one
// this package knows.
var layout = findLayout(reflect.TypeFor[tls.Conn]())

type connLayout struct {
	ok  bool
	why string

	complete, handshakeMu, inMu                      uintptr
	rawInput, input, hand, peerCerts, verifiedChains uintptr
}

// findLayout checks t (tls.Conn) for the fields Release touches, by name
// and exact type.
func findLayout(t reflect.Type) connLayout {
	var l connLayout
	want := []struct {
		name string
		typ  reflect.Type
		off  *uintptr
	}{
		{"isHandshakeComplete", reflect.TypeFor[atomic.Bool](), &l.complete},
		{"handshakeMutex", reflect.TypeFor[sync.Mutex](), &l.handshakeMu},
		{"rawInput", reflect.TypeFor[bytes.Buffer](), &l.rawInput},
		{"input", reflect.TypeFor[bytes.Reader](), &l.input},
		{"hand", reflect.TypeFor[bytes.Buffer](), &l.hand},
		{"peerCertificates", reflect.TypeFor[[]*x509.Certificate](), &l.peerCerts},
		{"verifiedChains", reflect.TypeFor[[][]*x509.Certificate](), &l.verifiedChains},
	}
	if t.Kind() != reflect.Struct {
		l.why = fmt.Sprintf("%v is not a struct", t)
		return l
	}
	for _, w := range want {
		f, ok := t.FieldByName(w.name)
		if !ok || len(f.Index) != 1 {
			l.why = fmt.Sprintf("crypto/tls.Conn has no field %s", w.name)
			return l
		}
		if f.Type != w.typ {
			l.why = fmt.Sprintf("crypto/tls.Conn.%s is a %v, not a %v", w.name, f.Type, w.typ)
			return l
		}
		*w.off = f.Offset
	}
	// The input half-connection: its record-layer mutex, embedded first.
	in, ok := t.FieldByName("in")
	if !ok || len(in.Index) != 1 || in.Type.Kind() != reflect.Struct || in.Type.NumField() == 0 {
		l.why = "crypto/tls.Conn has no input half-connection field in"
		return l
	}
	mu := in.Type.Field(0)
	if !mu.Anonymous || mu.Type != reflect.TypeFor[sync.Mutex]() || mu.Offset != 0 {
		l.why = fmt.Sprintf("crypto/tls.Conn.in (%v) does not start with its sync.Mutex", in.Type)
		return l
	}
	l.inMu = in.Offset
	l.ok = true
	return l
}

// Supported reports whether Release works with this Go's crypto/tls, and
// if not, why.
func Supported() (bool, string) {
	return layout.ok, layout.why
}

// Release drops the handshake leftovers of c, an idle server-side (or
// client-side) connection whose handshake is complete: its empty
// record-input and handshake buffers and its peer certificate chains. It
// reports whether it released anything. It does nothing when the layout is
// unsupported, the handshake is not complete, a read, handshake or
// ConnectionState holds c's locks at this moment, or bytes are buffered.
// Safe to call concurrently with Write and Close, and from any goroutine.
func Release(c *tls.Conn) bool {
	if !layout.ok || c == nil {
		return false
	}
	base := unsafe.Pointer(c)
	if !(*atomic.Bool)(unsafe.Add(base, layout.complete)).Load() {
		return false
	}
	hmu := (*sync.Mutex)(unsafe.Add(base, layout.handshakeMu))
	if !hmu.TryLock() {
		return false
	}
	defer hmu.Unlock()
	imu := (*sync.Mutex)(unsafe.Add(base, layout.inMu))
	if !imu.TryLock() {
		return false
	}
	defer imu.Unlock()
	raw := (*bytes.Buffer)(unsafe.Add(base, layout.rawInput))
	input := (*bytes.Reader)(unsafe.Add(base, layout.input))
	hand := (*bytes.Buffer)(unsafe.Add(base, layout.hand))
	if raw.Len() != 0 || input.Len() != 0 || hand.Len() != 0 {
		return false // a record or plaintext waits: leave everything
	}
	released := raw.Cap() != 0 || hand.Cap() != 0 || input.Size() != 0
	*raw = bytes.Buffer{}
	input.Reset(nil)
	*hand = bytes.Buffer{}
	certs := (*[]*x509.Certificate)(unsafe.Add(base, layout.peerCerts))
	chains := (*[][]*x509.Certificate)(unsafe.Add(base, layout.verifiedChains))
	if *certs != nil || *chains != nil {
		*certs, *chains = nil, nil
		released = true
	}
	return released
}
