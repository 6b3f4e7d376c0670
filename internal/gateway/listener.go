package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	mqtt "github.com/wardproject/ward/internal/mochi"
	"github.com/wardproject/ward/internal/mochi/listeners"
)

// listener implements mochi's listeners.Listener: it accepts TCP, admits
// the connection to the handshake table (per-address, per-prefix and total
// caps; at the total cap the oldest stalled entry is evicted, see
// handshakes), waits HelloTimeout for the
// first byte, runs the TLS handshake itself with a deadline, and hands
// mochi a frameConn that releases only whole packets and caps the CONNECT.
// The handshake slot is held until the CONNECT has arrived. It owns every
// goroutine it starts; Close returns after all of them have exited.
type listener struct {
	id string
	ln net.Listener
	g  *Gateway
	hs *handshakes

	// poller parks idle sessions (park_linux.go); nil where it cannot.
	poller *poller

	ctx    context.Context // cancelled by Close; aborts handshakes
	cancel context.CancelFunc

	mu      sync.Mutex // guards closed, started and conns
	closed  bool
	started bool // Serve has begun
	// conns maps each accepted connection to what closes it: itself, or
	// after the handshake its recordConn, whose Close also wakes a parked
	// session.
	conns map[net.Conn]io.Closer

	serving   chan struct{} // closed when Serve returns
	wg        sync.WaitGroup
	closeOnce sync.Once
}

var _ listeners.Listener = (*listener)(nil)

func newListener(id string, ln net.Listener, g *Gateway) *listener {
	ctx, cancel := context.WithCancel(context.Background())
	return &listener{
		id: id, ln: ln, g: g,
		hs:  newHandshakes(maxHandshakes, g.opts.Limits.HandshakesPerAddress, g.opts.Limits.HandshakesPerPrefix),
		ctx: ctx, cancel: cancel,
		poller:  newPoller(g.log, g.m.parked),
		conns:   map[net.Conn]io.Closer{},
		serving: make(chan struct{}),
	}
}

func (l *listener) ID() string              { return l.id }
func (l *listener) Address() string         { return l.ln.Addr().String() }
func (l *listener) Protocol() string        { return "tcp" }
func (l *listener) Init(*slog.Logger) error { return nil }

// Serve accepts connections until the listener is closed.
func (l *listener) Serve(establish listeners.EstablishFn) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.started = true
	l.mu.Unlock()
	defer close(l.serving)
	var backoff time.Duration
	for {
		c, err := l.ln.Accept()
		if err != nil {
			if l.isClosed() {
				return
			}
			// Out of file descriptors or similar: back off like net/http.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			l.g.log.Warn("MQTT accept failed; retrying", "error", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
			case <-l.ctx.Done():
				return
			}
			continue
		}
		backoff = 0
		if !l.track(c) {
			_ = c.Close()
			return
		}
		pc, evicted, refused := l.hs.acquire(c)
		if evicted != nil {
			l.g.m.dropped.WithLabelValues(DropEvicted).Inc()
			_ = evicted.conn.Close()
		}
		if refused != "" {
			l.g.m.dropped.WithLabelValues(refused).Inc()
			l.untrack(c)
			_ = c.Close()
			continue
		}
		l.wg.Add(1)
		go l.handle(c, pc, establish)
	}
}

func (l *listener) track(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.conns[c] = c
	return true
}

// setCloser makes rc what closes raw (see conns).
func (l *listener) setCloser(raw net.Conn, rc *recordConn) {
	l.mu.Lock()
	if _, ok := l.conns[raw]; ok {
		l.conns[raw] = rc
	}
	l.mu.Unlock()
}

func (l *listener) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

func (l *listener) untrack(c net.Conn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
}

// handle waits for the first byte and runs the handshake, then starts the
// session on a goroutine of its own and returns: the handshake (key
// exchange, certificate parsing and verification) grows this goroutine's
// stack to 16 KiB or more, which an idle session's read loop would
// otherwise keep for the life of the connection.
func (l *listener) handle(raw net.Conn, pc *pendingConn, establish listeners.EstablishFn) {
	defer l.wg.Done()
	hc := l.handshake(raw, pc)
	if hc == nil {
		l.hs.release(pc)
		_ = raw.Close()
		l.untrack(raw)
		return
	}
	l.wg.Add(1)
	go l.session(raw, pc, hc, establish)
}

// handshake waits HelloTimeout for the first byte and runs the TLS
// handshake within HandshakeTimeout; nil when either fails.
func (l *listener) handshake(raw net.Conn, pc *pendingConn) *handshaken {
	start := time.Now() // I/O deadlines: wall clock
	_ = raw.SetReadDeadline(start.Add(HelloTimeout))
	var first [1]byte
	if _, err := io.ReadFull(raw, first[:]); err != nil {
		if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
			l.g.m.dropped.WithLabelValues(DropHelloTimeout).Inc()
		}
		return nil
	}
	l.hs.talked(pc)
	deadline := start.Add(HandshakeTimeout)
	_ = raw.SetDeadline(deadline)
	rc := newRecordConn(raw, first[0])
	rc.poller = l.poller
	tc := tls.Server(rc, l.g.tls)
	ctx, cancel := context.WithDeadline(l.ctx, deadline)
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		l.g.handshakeFailed(raw, err)
		return nil
	}
	return &handshaken{tc: tc, rec: rc}
}

// handshaken is a connection whose TLS handshake succeeded.
type handshaken struct {
	tc  *tls.Conn
	rec *recordConn // under tc
}

// session runs mochi's connection handling on a handshaken connection.
// The deadline stays set until mochi has read CONNECT and applied the
// client's keepalive; the handshake slot is released when CONNECT has
// arrived. When mochi parks the session (frameConn.ParkRead) this
// goroutine returns and the session ends later on another one: what ends
// the connection is in the frameConn's onEnd, which mochi runs once
// (SessionEnded), or this goroutine if mochi did not.
func (l *listener) session(raw net.Conn, pc *pendingConn, hc *handshaken, establish listeners.EstablishFn) {
	l.setCloser(raw, hc.rec)
	// Only onFirst refers to pc: frameConn drops it once run, so an
	// admitted session does not keep its handshake-table entry.
	fc := &frameConn{Conn: hc.tc, tls: hc.tc, rec: hc.rec, maxPacket: l.g.opts.Limits.MaxPacketBytes, linger: l.g.linger,
		onFirst:  func() { l.hs.release(pc) },
		onRefuse: l.refused,
	}
	fc.onEnd = func(err error) {
		defer l.wg.Done()
		if fc.onFirst != nil { // no CONNECT: the slot is still held
			fc.onFirst()
		}
		l.g.connClosed(fc, err)
		_ = hc.rec.Close() // leaves the poller, closes raw
		l.untrack(raw)
	}
	if err := establish(l.id, fc); !errors.Is(err, mqtt.ErrSessionParked) {
		fc.SessionEnded(err) // a no-op when mochi has called it
	}
}

// refused counts a packet frameConn refused before the broker read it.
func (l *listener) refused(reason string) { l.g.m.dropped.WithLabelValues(reason).Inc() }

// Close stops accepting, disconnects every client (mochi's closeClients),
// closes every remaining connection and waits for all goroutines.
func (l *listener) Close(closeClients listeners.CloseFn) {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.closed = true
		started := l.started
		l.mu.Unlock()
		l.cancel()
		_ = l.ln.Close()
		closeClients(l.id)
		l.mu.Lock()
		for _, c := range l.conns {
			_ = c.Close()
		}
		l.mu.Unlock()
		if started {
			<-l.serving
		}
		l.wg.Wait()
		if l.poller != nil {
			l.poller.close()
		}
	})
}
