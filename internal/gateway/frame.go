package gateway

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/wardproject/ward/internal/mochi/packets"
	"github.com/wardproject/ward/internal/tlsidle"
)

// MaxConnectBytes caps the first packet of a connection, the CONNECT, before
// the device is admitted: 8 KiB holds a client ID, a user name, properties
// and a will message of a few KiB. A larger or malformed first packet closes
// the connection before the broker sees it.
const MaxConnectBytes = 8 << 10

// minFrameBuffer is the first size of a frameConn's buffer; it doubles as
// bytes arrive, up to the length of the packet being assembled.
const minFrameBuffer = 1 << 10

// errFrame is returned by frameConn.Read for a packet the gateway refuses
// before the broker reads it; reason is a label of
// ward_gateway_handshake_dropped_total.
type errFrame struct {
	reason string
	detail string
}

func (e *errFrame) Error() string { return "gateway: packet refused: " + e.detail }

// Reasons a connection is dropped before its device is admitted (label
// "reason" of ward_gateway_handshake_dropped_total).
const (
	DropPerAddress     = "per-address"       // the source address holds HandshakesPerAddress handshakes
	DropPerPrefix      = "per-prefix"        // its /24 (IPv4) or /64 (IPv6) holds HandshakesPerPrefix
	DropEvicted        = "evicted"           // the oldest handshake, closed for a new one at the global cap
	DropHelloTimeout   = "hello-timeout"     // no TLS ClientHello byte within HelloTimeout
	DropConnectTooBig  = "connect-too-large" // first packet over MaxConnectBytes
	DropNotConnect     = "not-connect"       // first packet is not a CONNECT
	DropMalformed      = "malformed"         // a remaining length over four bytes
	DropPacketTooLarge = "packet-too-large"  // a later packet over MaxPacketBytes
)

// frameConn is the *tls.Conn the gateway hands to mochi. Its Read releases
// only whole MQTT packets: mochi's Client.ReadPacket allocates a packet's
// declared remaining length before it reads the body, so a client that
// declares 1 MiB and sends nothing would cost 1 MiB per connection. Here a
// packet's bytes are held in a buffer that grows with what has arrived, and
// mochi sees the fixed header only once the whole packet is there. The
// first packet must be a CONNECT of at most MaxConnectBytes; later packets
// are capped at maxPacket (mochi checks that too, but only after this
// buffer would have held them).
//
// When no partial packet is pending, Read reads straight into the caller's
// buffer and returns its whole packets, so the common case costs no copy.
//
// Read must not be called concurrently (mochi has one reader per client).
type frameConn struct {
	net.Conn            // the TLS connection (tests: any connection)
	tls       *tls.Conn // the same connection, for its verified chains
	maxPacket int
	// onFirst, if set, runs once when the first packet is complete; it is
	// nil afterwards.
	onFirst func()
	// onRefuse, if set, runs with the reason when a packet is refused.
	onRefuse func(reason string)

	// buf[rd:cpl] are whole packets not yet returned; buf[cpl:] is the
	// start of an incomplete packet. buf is nil when nothing is pending.
	buf      []byte
	rd, cpl  int
	complete int   // packets completed so far
	err      error // read error to return once buf is drained

	// peek is the byte WaitRead read; peeked says it is not yet returned.
	peek   [1]byte
	peeked bool
	// rec, if set, is the connection under the TLS layer (the listener's);
	// drained says the last TLS read returned all the plaintext its record
	// had. With both, and rec holding nothing, the TLS layer holds nothing
	// either and WaitRead waits on the socket.
	rec     *recordConn
	drained bool
	// linger is how long ParkRead waits for a next packet before it
	// parks; lastType is the type of the last whole packet scanned.
	linger   time.Duration
	lastType byte

	// onEnd, if set, runs once when the session is over (SessionEnded).
	onEnd   func(err error)
	endOnce sync.Once
}

// ParkRead implements mochi's ReadParker: when nothing is buffered at any
// layer (this frame buffer, the TLS layer, recordConn) and nothing arrives
// within its linger (parkLinger; none after a PINGREQ, which a device
// sends only when it has nothing else to send), the session parks on the listener's poller
// (recordConn.park) and holds no goroutine until its socket is readable.
// Before parking it releases the TLS connection's handshake leftovers
// (tlsidle.Release): a parked session's ConnectionState has no peer
// certificates.
func (f *frameConn) ParkRead(resume func()) bool {
	if f.cpl > f.rd || len(f.buf) > 0 || f.peeked || f.err != nil {
		return false
	}
	if f.rec == nil || !f.drained || f.rec.buffered() != 0 {
		return false
	}
	// After a PINGREQ the device has said it is idle: park at once. After
	// any other packet wait up to linger for the next one.
	if f.lastType != packets.Pingreq && f.rec.linger(f.linger) {
		return false // the next packet came within linger
	}
	// Idle: give back what crypto/tls keeps from the handshake (its
	// grown input and handshake buffers, the parsed client certificate;
	// about 7 KiB). Admission has read the certificate already.
	tlsidle.Release(f.tls)
	return f.rec.park(resume)
}

// SessionEnded implements mochi's SessionEnder: it runs onEnd once.
func (f *frameConn) SessionEnded(err error) {
	f.endOnce.Do(func() {
		if f.onEnd != nil {
			f.onEnd(err)
		}
	})
}

// WaitRead implements mochi's ReadWaiter: it waits for the next byte
// without a buffer of the caller's, so that mochi holds no read buffer
// while the session is idle. When nothing is buffered at any layer it
// waits for the socket to become readable (recordConn.waitReadable): the
// waiting goroutine's stack is then shallow, and the collector shrinks it
// to 4 KiB. Otherwise it reads one byte through TLS, which the next Read
// returns. A read error is returned here and again by Read.
func (f *frameConn) WaitRead() error {
	if f.cpl > f.rd || len(f.buf) > 0 || f.peeked {
		return nil // Read has bytes to return or a packet to finish
	}
	if f.err != nil {
		return f.err
	}
	if f.rec != nil && f.drained && f.rec.buffered() == 0 {
		if err := f.rec.waitReadable(); err != nil && !errors.Is(err, errNoRawWait) {
			f.err = err
			return err
		}
		// Readable (or at its end): the TLS read below does not wait long.
	}
	for {
		n, err := f.Conn.Read(f.peek[:])
		f.drained = false
		if n == 1 {
			f.peeked = true
			f.err = err
			return nil
		}
		if err != nil {
			f.err = err
			return err
		}
	}
}

// Read implements net.Conn.
func (f *frameConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if f.cpl > f.rd {
			n := copy(p, f.buf[f.rd:f.cpl])
			f.rd += n
			if f.rd == len(f.buf) {
				f.buf, f.rd, f.cpl = nil, 0, 0
			}
			return n, nil
		}
		if f.err != nil && !f.peeked {
			return 0, f.err
		}
		if len(f.buf) == 0 {
			// Nothing pending: read into p (after the byte WaitRead
			// read) and return its whole packets.
			off := 0
			if f.peeked {
				p[0], f.peeked, off = f.peek[0], false, 1
			}
			var n int
			var err error
			if off < len(p) && f.err == nil {
				n, err = f.tlsRead(p[off:])
			}
			n += off
			if n > 0 {
				c, need, ferr := f.scan(p[:n])
				if ferr != nil {
					return 0, ferr
				}
				if c < n {
					f.buf = make([]byte, n-c, max(minFrameBuffer, min(need, 2*(n-c))))
					copy(f.buf, p[c:n])
				}
				if c > 0 {
					f.err = err
					return c, nil
				}
			}
			if err != nil {
				return 0, err
			}
			continue
		}
		// A partial packet is pending: compact, grow and read more.
		if f.rd > 0 {
			f.buf = f.buf[:copy(f.buf, f.buf[f.rd:])]
			f.rd, f.cpl = 0, 0
		}
		if len(f.buf) == cap(f.buf) {
			_, need, _ := f.scan(f.buf)
			nb := make([]byte, len(f.buf), max(minFrameBuffer, min(2*cap(f.buf), need)))
			copy(nb, f.buf)
			f.buf = nb
		}
		n, err := f.tlsRead(f.buf[len(f.buf):cap(f.buf)])
		f.buf = f.buf[:len(f.buf)+n]
		c, _, ferr := f.scan(f.buf)
		if ferr != nil {
			return 0, ferr
		}
		f.cpl = c
		if err != nil {
			f.err = err
		}
	}
}

// tlsRead reads from the TLS connection and notes whether the record it
// read from has no plaintext left (a read shorter than dst, or of a whole
// record's worth, took all of it).
func (f *frameConn) tlsRead(dst []byte) (int, error) {
	n, err := f.Conn.Read(dst)
	f.drained = err != nil || n < len(dst) || len(dst) >= maxPlaintext
	return n, err
}

// scan returns the length of the whole packets at the start of b and the
// total length of the incomplete packet after them (at least one byte
// more than b holds), and refuses a packet over its cap as soon as its
// fixed header has arrived. It counts completed packets; b always starts
// at a packet boundary that follows f.complete packets.
func (f *frameConn) scan(b []byte) (whole, need int, err error) {
	done := f.complete
	defer func() {
		if err == nil && f.complete == 0 && done > 0 && f.onFirst != nil {
			first := f.onFirst
			f.onFirst = nil // run once; what it refers to is freed
			first()
		}
		if err == nil {
			f.complete = done
		}
	}()
	i := 0
	for {
		if i >= len(b) {
			return i, 0, nil
		}
		// Fixed header: type byte, then 1–4 bytes of remaining length.
		rem, mul, j := 0, 1, i+1
		for {
			if j >= len(b) {
				return i, len(b) - i + 1, nil // header incomplete
			}
			if j-i > 4 {
				return 0, 0, f.refuse(DropMalformed, "remaining length longer than four bytes")
			}
			rem += int(b[j]&0x7f) * mul
			mul *= 128
			j++
			if b[j-1]&0x80 == 0 {
				break
			}
		}
		total := j - i + rem
		if done == 0 {
			if b[i]>>4 != 1 {
				return 0, 0, f.refuse(DropNotConnect, fmt.Sprintf("first packet has type %d, not CONNECT", b[i]>>4))
			}
			if total > MaxConnectBytes {
				return 0, 0, f.refuse(DropConnectTooBig, fmt.Sprintf("CONNECT of %d bytes is over the %d-byte cap before admission", total, MaxConnectBytes))
			}
		} else if total > f.maxPacket {
			return 0, 0, f.refuse(DropPacketTooLarge, fmt.Sprintf("packet of %d bytes is over the %d-byte cap", total, f.maxPacket))
		}
		if len(b)-i < total {
			return i, total, nil
		}
		f.lastType = b[i] >> 4
		i += total
		done++
	}
}

func (f *frameConn) refuse(reason, detail string) error {
	if f.onRefuse != nil {
		f.onRefuse(reason)
	}
	return &errFrame{reason: reason, detail: detail}
}
