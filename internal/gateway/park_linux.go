//go:build linux

package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Parking an idle session (issue 13). A goroutine that waits on a socket
// costs its stack (4 KiB at least, 8 KiB after a ping burst until the
// collector shrinks it twice) and the goroutine itself, for every idle
// device. A parked session instead has its socket registered, one-shot,
// in an epoll instance of the gateway's: one goroutine waits on that
// instance for all of them and starts a session's goroutine when its
// socket is readable, hung up or failed. A timer per parked session fires
// at its read deadline (the MQTT keep-alive), and closing the connection
// wakes it too, so a parked session ends exactly as a waiting one would.
//
// The standard library has no way to wait for readiness without a
// goroutine, and the event-loop libraries (nbio, gnet) bring their own
// TLS or none: this keeps Go's crypto/tls and every line of the admission
// path, and parks only between packets, when recordConn and the TLS layer
// hold nothing (frameConn.ParkRead).

// poller is an epoll instance and the goroutine that waits on it, one
// per listener. Events carry a registration id, not the file descriptor,
// so an event for a socket closed (and its descriptor reused) meanwhile
// finds nothing; id 0 is the pipe that stops the goroutine.
type poller struct {
	epfd   int
	stopR  int // read end of the stop pipe, registered as id 0
	stopW  int
	done   chan struct{} // closed when run has returned
	mu     sync.Mutex
	next   uint64
	conns  map[uint64]*recordConn
	closed bool
	parked prometheus.Gauge // ward_gateway_sessions_parked
}

// newPoller starts a poller; nil (sessions then wait on goroutines) when
// the kernel refuses one, which it logs.
func newPoller(log *slog.Logger, parked prometheus.Gauge) *poller {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		log.Warn("epoll unavailable; idle MQTT sessions keep a goroutine each", "error", err)
		return nil
	}
	var pipe [2]int
	if err := syscall.Pipe2(pipe[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		_ = syscall.Close(fd)
		log.Warn("pipe for the epoll poller refused; idle MQTT sessions keep a goroutine each", "error", err)
		return nil
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN}
	if err := syscall.EpollCtl(fd, syscall.EPOLL_CTL_ADD, pipe[0], &ev); err != nil {
		_ = syscall.Close(fd)
		_ = syscall.Close(pipe[0])
		_ = syscall.Close(pipe[1])
		log.Warn("epoll refused its stop pipe; idle MQTT sessions keep a goroutine each", "error", err)
		return nil
	}
	p := &poller{epfd: fd, stopR: pipe[0], stopW: pipe[1], done: make(chan struct{}), conns: map[uint64]*recordConn{}, parked: parked}
	go p.run(log)
	return p
}

// run waits for readiness events until close and wakes the sessions they
// name.
func (p *poller) run(log *slog.Logger) {
	defer close(p.done)
	events := make([]syscall.EpollEvent, 256)
	for {
		n, err := syscall.EpollWait(p.epfd, events, -1)
		if err != nil {
			if err == syscall.EINTR {
				continue
			}
			// Not expected on a valid epoll descriptor; parked sessions
			// still wake at their deadline or when closed.
			log.Error("epoll wait failed; parked MQTT sessions wake only at their keep-alive deadline or when closed", "error", err)
			return
		}
		for _, ev := range events[:n] {
			id := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			if id == 0 {
				return // close
			}
			p.mu.Lock()
			rc := p.conns[id]
			p.mu.Unlock()
			if rc != nil {
				rc.wake()
			}
		}
	}
}

// close stops the goroutine and releases the descriptors. The listener
// calls it after every session has ended, so nothing is registered.
func (p *poller) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()
	_, _ = syscall.Write(p.stopW, []byte{0})
	<-p.done
	_ = syscall.Close(p.epfd)
	_ = syscall.Close(p.stopR)
	_ = syscall.Close(p.stopW)
}

// parkLinger is how long a session that has just handled a packet waits
// for the next one on its goroutine before it parks. A device that talks
// more often than this never parks, so the park and wake (two system
// calls, a goroutine start and a timer) are not paid per packet; an idle
// one parks after it.
const parkLinger = 250 * time.Millisecond

// linger waits up to d for the socket to become readable, on the
// session's goroutine: true when it is (or failed, or the connection's
// own deadline comes first), and the caller reads instead of parking.
func (rc *recordConn) linger(d time.Duration) bool {
	rc.pk.mu.Lock()
	keep, closed := rc.pk.deadline, rc.pk.closed
	rc.pk.mu.Unlock()
	until := time.Now().Add(d)
	if closed || (!keep.IsZero() && keep.Before(until)) {
		return true
	}
	if rc.rawConn() != nil || rc.Conn.SetReadDeadline(until) != nil {
		return true
	}
	err := rc.raw.Read(peekReadable)
	if rc.Conn.SetReadDeadline(keep) != nil {
		return true // the read that follows reports the closed connection
	}
	return !errors.Is(err, os.ErrDeadlineExceeded)
}

// parkState is recordConn's parking state, guarded by mu.
type parkState struct {
	mu       sync.Mutex
	id       uint64 // registration in the poller; 0: not registered
	parked   bool
	closed   bool
	resume   func()
	timer    *time.Timer // wakes at deadline; created on first need
	deadline time.Time   // the read deadline last set
}

const parkEvents = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT

// park implements the parking half of frameConn.ParkRead: the caller has
// checked that nothing is buffered above this connection.
func (rc *recordConn) park(resume func()) bool {
	if rc.buffered() > 0 || rc.err != nil {
		return false
	}
	p := rc.poller
	if p == nil || rc.rawConn() != nil {
		return false
	}
	ps := &rc.pk
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.closed {
		return false
	}
	var wait time.Duration
	if !ps.deadline.IsZero() {
		if wait = time.Until(ps.deadline); wait <= 0 {
			return false // the read that follows reports the timeout
		}
	}
	op := syscall.EPOLL_CTL_MOD
	if ps.id == 0 {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return false
		}
		p.next++
		ps.id = p.next
		p.conns[ps.id] = rc
		p.mu.Unlock()
		op = syscall.EPOLL_CTL_ADD
	}
	// Parked before arming: an event that fires at once waits for mu.
	ps.parked, ps.resume = true, resume
	ev := syscall.EpollEvent{Events: parkEvents, Fd: int32(uint32(ps.id)), Pad: int32(uint32(ps.id >> 32))}
	var ctlErr error
	readable := false
	if err := rc.raw.Control(func(fd uintptr) {
		// Bytes already there (the session was just woken for them):
		// read them now rather than park and be woken again at once.
		if readable = peekReadable(fd); !readable {
			ctlErr = syscall.EpollCtl(p.epfd, op, int(fd), &ev)
		}
	}); err != nil {
		ctlErr = err
	}
	if readable || ctlErr != nil {
		ps.parked, ps.resume = false, nil
		if op == syscall.EPOLL_CTL_ADD {
			rc.unregisterLocked(p) // not added: the next park adds again
		}
		return false
	}
	p.parked.Inc()
	if wait > 0 {
		if ps.timer == nil {
			ps.timer = time.AfterFunc(wait, rc.wake)
		} else {
			ps.timer.Reset(wait)
		}
	}
	return true
}

// wake starts the parked session's goroutine, once per park; otherwise
// (a late timer or event, a close of a session that was not parked) it
// does nothing.
func (rc *recordConn) wake() {
	ps := &rc.pk
	ps.mu.Lock()
	if !ps.parked {
		ps.mu.Unlock()
		return
	}
	resume := ps.resume
	ps.parked, ps.resume = false, nil
	if ps.timer != nil {
		ps.timer.Stop()
	}
	ps.mu.Unlock()
	rc.poller.parked.Dec()
	go resume()
}

// unregisterLocked removes the connection from the poller (ps.mu held).
func (rc *recordConn) unregisterLocked(p *poller) {
	p.mu.Lock()
	delete(p.conns, rc.pk.id)
	p.mu.Unlock()
	rc.pk.id = 0
}

// Close removes the socket from the poller before closing it, then wakes
// a parked session, whose read then fails as a waiting one's would.
func (rc *recordConn) Close() error {
	ps := &rc.pk
	ps.mu.Lock()
	ps.closed = true
	if p := rc.poller; ps.id != 0 && p != nil {
		_ = rc.raw.Control(func(fd uintptr) { _ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, int(fd), nil) })
		rc.unregisterLocked(p)
	}
	ps.mu.Unlock()
	err := rc.Conn.Close()
	rc.wake()
	return err
}

// SetDeadline implements net.Conn, noting the read deadline for park.
func (rc *recordConn) SetDeadline(t time.Time) error {
	rc.noteDeadline(t)
	return rc.Conn.SetDeadline(t)
}

// SetReadDeadline implements net.Conn, noting the deadline for park.
func (rc *recordConn) SetReadDeadline(t time.Time) error {
	rc.noteDeadline(t)
	return rc.Conn.SetReadDeadline(t)
}

func (rc *recordConn) noteDeadline(t time.Time) {
	rc.pk.mu.Lock()
	rc.pk.deadline = t
	rc.pk.mu.Unlock()
}

// rawConn sets rc.raw, the socket for waiting and parking.
func (rc *recordConn) rawConn() error {
	if rc.raw != nil {
		return nil
	}
	sc, ok := rc.Conn.(syscall.Conn)
	if !ok {
		return errNoRawWait
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return fmt.Errorf("gateway: socket of connection: %w", err)
	}
	rc.raw = raw
	return nil
}
