// SPDX-License-Identifier: MIT
// Ward's patch to mochi-mqtt: see README.md, "Patches".

package mqtt

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// ReadWaiter is a connection that can wait until it has something to read
// without the caller lending it a buffer. Ward's gateway connection
// implements it, so that an idle client holds no read buffer at all.
type ReadWaiter interface {
	// WaitRead blocks until a Read would return data or an error without
	// blocking, or returns the error that ended the wait.
	WaitRead() error
}

// ReadParker is a connection that can wait for its next bytes with no
// goroutine at all. Ward's gateway connection implements it with an epoll
// instance of its own: an idle session then costs no goroutine and no
// stack, which is most of what a goroutine-per-connection broker spends
// on a connection that has nothing to say.
type ReadParker interface {
	// ParkRead returns false when the connection holds buffered bytes or
	// cannot park; the caller then reads as usual. Otherwise it arranges
	// for resume to run once, on a new goroutine, when the connection has
	// something to read, reaches its end or fails, is closed, or its read
	// deadline passes, and returns true: the caller must then return
	// without touching the connection, whose session goes on in resume.
	// A resume may find nothing to read (a spurious wake); it parks again.
	ParkRead(resume func()) bool
}

// SessionEnder is a connection told when its session is over and the
// broker no longer uses it. A connection that parks needs it: the
// goroutine that called Server.EstablishConnection has returned
// ErrSessionParked long before the session ends. It is called exactly once
// per EstablishConnection, with the error that ended the session (nil
// after a DISCONNECT).
type SessionEnder interface {
	SessionEnded(err error)
}

// ErrSessionParked is returned by Server.EstablishConnection when the
// session waits for its next packet parked (see ReadParker): it goes on
// without the caller's goroutine and ends on another one, which calls the
// connection's SessionEnded.
var ErrSessionParked = errors.New("mqtt: session parked until its connection is readable")

// readBuffers holds the read buffers of every client, by size: a client
// takes one when data arrives and gives it back once it has consumed
// everything buffered.
var readBuffers sync.Map // int -> *sync.Pool of *[]byte

func readPool(size int) *sync.Pool {
	if p, ok := readBuffers.Load(size); ok {
		return p.(*sync.Pool)
	}
	p, _ := readBuffers.LoadOrStore(size, &sync.Pool{New: func() any { b := make([]byte, size); return &b }})
	return p.(*sync.Pool)
}

// connReader is the buffered reader of a client's connection (bufio.Reader
// in upstream mochi, which holds its buffer for the connection's life). Its
// buffer comes from a pool when bytes are read and goes back when every
// buffered byte has been consumed; before a read on an empty buffer it
// calls WaitRead when the connection has it, so a client that waits for its
// next packet holds no buffer. It is used by the client's one reading
// goroutine only.
type connReader struct {
	conn net.Conn
	pool *sync.Pool
	size int         // length of the pool's buffers
	buf  *[]byte     // nil while nothing is buffered
	r, w int         // (*buf)[r:w] is buffered
	held atomic.Bool // buf != nil, for other goroutines (Client.ReadBufferHeld)
}

func newConnReader(c net.Conn, size int) *connReader {
	size = max(size, 16)
	return &connReader{conn: c, pool: readPool(size), size: size}
}

// wait blocks, holding no buffer, until something can be read: at once
// when bytes are buffered or the connection cannot wait (no ReadWaiter).
func (c *connReader) wait() error {
	if c.buf != nil {
		return nil
	}
	if wr, ok := c.conn.(ReadWaiter); ok {
		return wr.WaitRead()
	}
	return nil
}

// park parks the connection (ReadParker) when nothing is buffered here.
func (c *connReader) park(resume func()) bool {
	if c.buf != nil {
		return false
	}
	if p, ok := c.conn.(ReadParker); ok {
		return p.ParkRead(resume)
	}
	return false
}

// fill reads at least one byte into the (empty) buffer.
func (c *connReader) fill() error {
	if wr, ok := c.conn.(ReadWaiter); ok {
		if err := wr.WaitRead(); err != nil {
			return err
		}
	}
	c.buf = c.pool.Get().(*[]byte)
	c.held.Store(true)
	c.r, c.w = 0, 0
	for range 100 {
		n, err := c.conn.Read(*c.buf)
		c.w = n
		if n > 0 {
			return nil // an error comes again with the next read
		}
		if err != nil {
			c.release()
			return err
		}
	}
	c.release()
	return io.ErrNoProgress
}

// release gives the buffer back once everything in it has been consumed.
func (c *connReader) release() {
	if c.buf != nil && c.r == c.w {
		c.pool.Put(c.buf)
		c.buf, c.r, c.w = nil, 0, 0
		c.held.Store(false)
	}
}

// ReadByte implements io.ByteReader.
func (c *connReader) ReadByte() (byte, error) {
	if c.buf == nil {
		if err := c.fill(); err != nil {
			return 0, err
		}
	}
	b := (*c.buf)[c.r]
	c.r++
	c.release()
	return b, nil
}

// Read implements io.Reader.
func (c *connReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if c.buf == nil {
		if len(p) >= c.size {
			// A large read (a packet's body) goes straight to p.
			if wr, ok := c.conn.(ReadWaiter); ok {
				if err := wr.WaitRead(); err != nil {
					return 0, err
				}
			}
			return c.conn.Read(p)
		}
		if err := c.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, (*c.buf)[c.r:c.w])
	c.r += n
	c.release()
	return n, nil
}

// ReadBufferHeld reports whether the client's reader holds a buffer: true
// only while it has bytes of a packet not yet consumed, or while it reads
// a connection that cannot wait without one (see ReadWaiter).
func (cl *Client) ReadBufferHeld() bool {
	return cl.Net.bconn != nil && cl.Net.bconn.held.Load()
}
