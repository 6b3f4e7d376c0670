package gateway

import (
	"net"
	"sync"
	"syscall"
)

// TLS record framing (RFC 8446 section 5.1): a 5-byte header whose last
// two bytes are the length of the record's body.
const (
	recordHeaderLen = 5
	// maxPlaintext is the most plaintext one TLS record carries (2^14
	// bytes, TLS 1.2 and 1.3): a read of at least this much from a
	// tls.Conn returns everything the record had left.
	maxPlaintext = 1 << 14
	// recordBufferSize holds a whole record of the largest size TLS 1.3
	// allows (header, 2^14 + 256 bytes of ciphertext).
	recordBufferSize = recordHeaderLen + maxPlaintext + 256
)

// smallRecordBuffer is the read-ahead buffer a session takes first: a
// PINGREQ or a small publish fits, so thousands of sessions woken at once
// (devices whose keep-alives line up) take 1 KiB each, not 16.
const smallRecordBuffer = 1 << 10

// recordBuffers and smallRecordBuffers are recordConn's read-ahead
// buffers, held only while bytes that the TLS layer has not taken are
// buffered. A session takes a large one after a read filled a small one.
var (
	recordBuffers      = sync.Pool{New: func() any { b := make([]byte, recordBufferSize); return &b }}
	smallRecordBuffers = sync.Pool{New: func() any { b := make([]byte, smallRecordBuffer); return &b }}
)

// getRecordBuffer returns a large read-ahead buffer if big, else a small one.
func getRecordBuffer(big bool) *[]byte {
	if big {
		return recordBuffers.Get().(*[]byte)
	}
	return smallRecordBuffers.Get().(*[]byte)
}

// putRecordBuffer gives b back to its pool.
func putRecordBuffer(b *[]byte) {
	if len(*b) == recordBufferSize {
		recordBuffers.Put(b)
	} else {
		smallRecordBuffers.Put(b)
	}
}

// recordConn is the TCP connection under a session's TLS layer. It reads
// from the socket into a pooled buffer and hands the TLS layer at most the
// rest of the current record per read, never bytes of the next one. Go's
// TLS connection would otherwise read ahead into its own buffer, and a
// session could not tell whether TLS still holds unread bytes. With this,
// once TLS has returned the last plaintext of a record and the pooled
// buffer is empty, nothing is buffered anywhere, and frameConn.WaitRead
// waits for the socket itself to become readable (waitReadable), on a
// shallow stack and with no buffer.
//
// The first byte of the connection, read by the listener, is buffered at
// construction. Read is called by the TLS layer only (which serialises
// reads); buffered and waitReadable by the session's reading goroutine
// when TLS is not reading.
type recordConn struct {
	net.Conn
	buf  *[]byte         // nil while nothing is buffered
	r, w int             // (*buf)[r:w] is buffered
	left int             // bytes of the current record not yet handed over; 0: at a record boundary
	err  error           // read error to return once buf is drained
	big  bool            // the last read filled its buffer: take a large one next
	raw  syscall.RawConn // the socket, for waitReadable and park; nil until first needed
	pk   parkState       // see park (Linux)
	// poller is the listener's (nil: the session never parks).
	poller *poller
}

func newRecordConn(c net.Conn, first byte) *recordConn {
	rc := &recordConn{Conn: c, buf: getRecordBuffer(false)}
	(*rc.buf)[0] = first
	rc.w = 1
	return rc
}

// Read implements net.Conn for the TLS layer.
func (rc *recordConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if rc.left == 0 {
		// At a record boundary: learn the record's length first.
		for rc.w-rc.r < recordHeaderLen {
			if err := rc.fill(); err != nil {
				if rc.w > rc.r {
					break // hand over the partial header; TLS reports it
				}
				return 0, err
			}
		}
		if rc.w-rc.r >= recordHeaderLen {
			h := (*rc.buf)[rc.r : rc.r+recordHeaderLen]
			rc.left = recordHeaderLen + (int(h[3])<<8 | int(h[4]))
		} else {
			rc.left = rc.w - rc.r
		}
	}
	for rc.w == rc.r {
		if err := rc.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p[:min(len(p), rc.left)], (*rc.buf)[rc.r:rc.w])
	rc.r += n
	rc.left -= n
	if rc.r == rc.w {
		putRecordBuffer(rc.buf)
		rc.buf, rc.r, rc.w = nil, 0, 0
	}
	return n, nil
}

// fill reads more bytes after those buffered, or returns the read error.
func (rc *recordConn) fill() error {
	if rc.err != nil {
		return rc.err
	}
	if rc.buf == nil {
		rc.buf, rc.r, rc.w = getRecordBuffer(rc.big), 0, 0
	}
	if rc.w == len(*rc.buf) {
		rc.w = copy(*rc.buf, (*rc.buf)[rc.r:rc.w])
		rc.r = 0
	}
	space := len(*rc.buf) - rc.w
	n, err := rc.Conn.Read((*rc.buf)[rc.w:])
	rc.w += n
	rc.big = n == space
	if err != nil {
		rc.err = err
		if n > 0 {
			return nil
		}
	}
	if rc.w == rc.r {
		putRecordBuffer(rc.buf)
		rc.buf, rc.r, rc.w = nil, 0, 0
		if err == nil {
			return nil
		}
	}
	return err
}

// buffered is the number of bytes read from the socket that the TLS layer
// has not taken.
func (rc *recordConn) buffered() int { return rc.w - rc.r }
