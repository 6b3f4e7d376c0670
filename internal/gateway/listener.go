package gateway

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/mochi-mqtt/server/v2/listeners"
)

// listener implements mochi's listeners.Listener: it accepts TCP, runs the
// TLS handshake itself with a deadline and a concurrency cap, and hands
// only completed TLS connections to mochi. It owns every goroutine it
// starts; Close returns after all of them have exited.
type listener struct {
	id  string
	ln  net.Listener
	g   *Gateway
	sem chan struct{} // caps concurrent handshakes

	ctx    context.Context // cancelled by Close; aborts handshakes
	cancel context.CancelFunc

	mu      sync.Mutex // guards closed, started and conns
	closed  bool
	started bool // Serve has begun
	conns   map[net.Conn]struct{}

	serving   chan struct{} // closed when Serve returns
	wg        sync.WaitGroup
	closeOnce sync.Once
}

var _ listeners.Listener = (*listener)(nil)

func newListener(id string, ln net.Listener, g *Gateway) *listener {
	ctx, cancel := context.WithCancel(context.Background())
	return &listener{
		id: id, ln: ln, g: g,
		sem: make(chan struct{}, maxHandshakes),
		ctx: ctx, cancel: cancel,
		conns:   map[net.Conn]struct{}{},
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
		select {
		case l.sem <- struct{}{}:
		default:
			l.g.m.connections.WithLabelValues("tls-error").Inc()
			l.untrack(c)
			_ = c.Close()
			continue
		}
		l.wg.Add(1)
		go l.handle(c, establish)
	}
}

func (l *listener) track(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.conns[c] = struct{}{}
	return true
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

// handle runs the handshake, then mochi's connection handling.
func (l *listener) handle(raw net.Conn, establish listeners.EstablishFn) {
	defer l.wg.Done()
	defer l.untrack(raw)
	defer raw.Close()

	deadline := time.Now().Add(HandshakeTimeout) // I/O deadline: wall clock
	_ = raw.SetDeadline(deadline)
	tc := tls.Server(raw, l.g.tls)
	ctx, cancel := context.WithDeadline(l.ctx, deadline)
	err := tc.HandshakeContext(ctx)
	cancel()
	<-l.sem
	if err != nil {
		l.g.handshakeFailed(raw, err)
		return
	}
	// The deadline stays set until mochi has read CONNECT and applied the
	// client's keepalive.
	err = establish(l.id, tc)
	l.g.connClosed(tc, err)
}

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
		for c := range l.conns {
			_ = c.Close()
		}
		l.mu.Unlock()
		if started {
			<-l.serving
		}
		l.wg.Wait()
	})
}
