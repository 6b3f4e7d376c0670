// Package conntrack is the network sensor's bounded connection tracker. It
// groups packets into connections keyed by (client, server, server port,
// protocol), so that every socket a client opens to one service is one
// connection, and records how each attempt ended:
//
//   - answered: the server replied (TCP SYN-ACK, a UDP datagram back to the
//     client's port, an ICMP echo reply, an ARP reply);
//   - refused: the server reset the handshake before sending any data;
//   - unreachable: an ICMP destination-unreachable quoted the attempt;
//   - unanswered: nothing came back within Options.HandshakeTimeout;
//   - one-way: a UDP flow of several datagrams that was never answered (a
//     media stream or a sensor feed, not a failed attempt).
//
// Per connection it keeps exponentially decayed counters of those outcomes
// and of the packets and payload bytes each way, and whether data has gone
// both ways (a proven flow). The client of a connection is the host that
// opened it: the sender of a TCP SYN, or of the first UDP datagram unless
// that datagram comes from a well-known port to an ephemeral one (a reply
// whose request was missed), so a DNS reply never makes a server a client.
//
// Multicast, broadcast and unspecified addresses are exempt: discovery
// protocols (mDNS, SSDP, DHCP) never form connections.
//
// # Bounds and cost
//
// Connections live in a slab with an intrusive least-recently-used list, so
// the idle sweep and eviction are O(1) per packet: a packet touches a
// connection (moving it to the list's tail) and drops the idle ones at the
// head. Pending handshakes (keyed by the full 5-tuple) sit in a FIFO ring
// that is also their deadline queue, since every deadline is the packet
// time plus one constant timeout. Both tables have a fixed cap; when full,
// the least recently seen entry is evicted and counted. A Tracker is not
// safe for concurrent use: one goroutine owns it.
package conntrack

import (
	"math"
	"net/netip"
	"time"

	"github.com/wardproject/ward/internal/netids/afterimage"
)

// Proto is the transport of a connection (afterimage's kinds).
type Proto = afterimage.Proto

// Flags are the TCP flags the tracker reads.
type Flags uint8

// TCP flags.
const (
	FIN Flags = 1 << iota
	SYN
	RST
	ACK
)

// Packet is what the tracker needs to know about one packet.
type Packet struct {
	Time             time.Time
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Proto            Proto
	Flags            Flags // TCP only
	// Payload is the transport payload length from the IP and transport
	// headers (not the captured bytes).
	Payload int
	// Broadcast is set for a link-layer broadcast or multicast frame.
	Broadcast bool
	// ARPReply is set for an ARP reply (Src answers for itself to Dst).
	ARPReply bool
	// ICMP describes an ICMP message: echo request or reply, or a
	// destination-unreachable error quoting the packet it answers.
	ICMP ICMP
}

// ICMPKind is what an ICMP message is to the tracker.
type ICMPKind uint8

// ICMP kinds.
const (
	ICMPOther ICMPKind = iota
	ICMPEchoRequest
	ICMPEchoReply
	ICMPUnreachable
)

// ICMP is an ICMP message's kind and, for errors, the quoted packet.
type ICMP struct {
	Kind   ICMPKind
	Quoted Quote // valid when Kind is ICMPUnreachable and Quoted.OK
}

// Outcome is how one connection attempt ended.
type Outcome uint8

// Outcomes.
const (
	Pending Outcome = iota
	Answered
	Refused
	Unreachable
	Unanswered
	OneWay
)

func (o Outcome) String() string {
	return [...]string{"pending", "answered", "refused", "unreachable", "unanswered", "one-way"}[o]
}

// ckey is a Key in a form that hashes as plain memory.
type ckey struct {
	client, server [16]byte
	port           uint16
	proto          Proto
}

func (k Key) compact() ckey {
	return ckey{k.Client.As16(), k.Server.As16(), k.Port, k.Proto}
}

func (k ckey) expand() Key {
	return Key{netip.AddrFrom16(k.client).Unmap(), netip.AddrFrom16(k.server).Unmap(), k.port, k.proto}
}

// Key identifies a connection.
type Key struct {
	Client, Server netip.Addr
	Port           uint16 // the server's port (0 for ICMP and ARP)
	Proto          Proto
}

// Counters are decayed counts: each halves every Options.HalfLife of
// capture time without events.
type Counters struct {
	Attempts, Answered, Refused, Unreachable, Unanswered, OneWay float64
	PacketsUp, PacketsDown                                       float64 // client to server, server to client
	BytesUp, BytesDown                                           float64 // payload bytes
}

// Conn is one connection's state. A *Conn returned by Observe is valid
// until the next call.
type Conn struct {
	Key
	First, Last time.Time
	// Last outcome of an attempt on this connection (Pending until one
	// ended).
	Outcome Outcome
	// Counters as of Last; Decayed brings them to a later time.
	Counters
	// DataUp and DataDown: the client and the server have each sent
	// payload at least once.
	DataUp, DataDown bool
	// Ever counts outcomes without decay.
	Ever struct{ Attempts, Answered, Failed uint32 }
	// Mark is the caller's: the sensor keeps the connection's evidence
	// there. It is zero when the connection is created.
	Mark Mark

	ck         ckey
	last       float64 // seconds
	prev, next int32   // LRU list (indexes into the slab; -1: none)
	used       bool
}

// Mark is per-connection state kept for the tracker's caller.
type Mark struct {
	V [8]float64
	T float64
	N uint32
}

// Proven reports whether the connection was answered and carried data
// both ways: evidence of failure or fan-out does not apply to it.
func (c *Conn) Proven() bool { return c.Ever.Answered > 0 && c.DataUp && c.DataDown }

// Decayed returns the counters decayed to t.
func (c *Conn) Decayed(t time.Time, halfLife time.Duration) Counters {
	return decayed(c.Counters, seconds(t)-c.last, halfLife.Seconds())
}

func decayed(k Counters, dt, hl float64) Counters {
	if dt <= 0 {
		return k
	}
	f := math.Exp2(-dt / hl)
	k.Attempts *= f
	k.Answered *= f
	k.Refused *= f
	k.Unreachable *= f
	k.Unanswered *= f
	k.OneWay *= f
	k.PacketsUp *= f
	k.PacketsDown *= f
	k.BytesUp *= f
	k.BytesDown *= f
	return k
}

// Options configure a Tracker. Zero values mean the documented defaults.
type Options struct {
	// MaxConns caps the connections tracked. Default 1<<18.
	MaxConns int
	// MaxPending caps the handshakes awaiting an answer. Default 1<<16.
	MaxPending int
	// HandshakeTimeout is how long (capture time) an attempt may wait for
	// an answer before it counts as unanswered. Default 5 s.
	HandshakeTimeout time.Duration
	// IdleTimeout drops a connection silent for this long. Default 1 h, so
	// that a bot retrying a dead C&C server every few minutes keeps one
	// connection with its history.
	IdleTimeout time.Duration
	// HalfLife of the decayed counters. Default 10 minutes.
	HalfLife time.Duration
	// OneWayPackets: a UDP attempt that is never answered counts as
	// one-way rather than unanswered once the client sent this many
	// datagrams on it. Default 4.
	OneWayPackets int
	// OnOutcome, if set, is called when an attempt ends, with the
	// connection (valid during the call only) and the time it ended.
	OnOutcome func(c *Conn, o Outcome, at time.Time)
}

// Stats are the tracker's table sizes and counts.
type Stats struct {
	Conns, Pending          int
	Evicted, PendingEvicted uint64 // live entries dropped because a table was full
	Swept                   uint64 // idle connections dropped
	Exempt                  uint64 // packets to multicast or broadcast
	Outcomes                [OneWay + 1]uint64
}

// Tracker follows connections. Create it with New.
type Tracker struct {
	opts     Options
	timeout  float64
	idle     float64
	halfLife float64
	now      float64

	slab       []Conn
	free       []int32
	head, tail int32 // LRU: head is the least recently seen
	conns      map[ckey]int32

	pend  map[sock]pendState
	ring  []pendEntry // FIFO of deadlines
	rhead int
	rlen  int
	gen   uint32

	stats Stats
}

// sock is one attempt: the connection and the client's port.
type sock struct {
	key   ckey
	cport uint16
}

type pendState struct {
	gen      uint32
	deadline float64
	sent     uint32 // datagrams the client sent while pending
}

type pendEntry struct {
	s        sock
	gen      uint32
	deadline float64
}

// New returns an empty Tracker.
func New(opts Options) *Tracker {
	if opts.MaxConns <= 0 {
		opts.MaxConns = 1 << 18
	}
	if opts.MaxPending <= 0 {
		opts.MaxPending = 1 << 16
	}
	if opts.HandshakeTimeout <= 0 {
		opts.HandshakeTimeout = 5 * time.Second
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = time.Hour
	}
	if opts.HalfLife <= 0 {
		opts.HalfLife = 10 * time.Minute
	}
	if opts.OneWayPackets <= 0 {
		opts.OneWayPackets = 4
	}
	return &Tracker{
		opts: opts, timeout: opts.HandshakeTimeout.Seconds(), idle: opts.IdleTimeout.Seconds(),
		halfLife: opts.HalfLife.Seconds(), head: -1, tail: -1,
		conns: make(map[ckey]int32), pend: make(map[sock]pendState),
		ring: make([]pendEntry, opts.MaxPending),
	}
}

// HalfLife returns the counters' half-life.
func (t *Tracker) HalfLife() time.Duration { return t.opts.HalfLife }

// Stats returns the table sizes and counts.
func (t *Tracker) Stats() Stats {
	s := t.stats
	s.Conns, s.Pending = len(t.conns), len(t.pend)
	return s
}

// Len returns the number of connections tracked.
func (t *Tracker) Len() int { return len(t.conns) }

// Lookup returns the connection with key k, or nil.
func (t *Tracker) Lookup(k Key) *Conn {
	if i, ok := t.conns[k.compact()]; ok {
		return &t.slab[i]
	}
	return nil
}

func seconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// Exempt reports whether a packet to dst never forms a connection:
// multicast, broadcast, unspecified or invalid addresses.
func Exempt(src, dst netip.Addr) bool {
	if !src.IsValid() || !dst.IsValid() || src.IsUnspecified() || dst.IsUnspecified() || dst.IsMulticast() || src.IsMulticast() {
		return true
	}
	if dst.Is4() {
		b := dst.As4()
		return b == [4]byte{255, 255, 255, 255}
	}
	return false
}

// Event is what Observe says about one packet.
type Event struct {
	// Conn is the packet's connection (valid until the next Observe), nil
	// for packets that form none: exempt addresses, ICMP errors (which
	// update the connection they quote), non-IP traffic other than ARP.
	Conn *Conn
	// Up: the packet went from the client to the server.
	Up bool
	// Opened: the packet opened a new attempt (a TCP SYN that is not a
	// retransmission, a client's first UDP datagram on a socket or its
	// first after an answer, an echo request, an ARP request). Replies
	// never open one.
	Opened bool
}

// Observe records p and says which connection it belongs to.
func (t *Tracker) Observe(p *Packet) Event {
	now := seconds(p.Time)
	if now < t.now {
		now = t.now // never run the clock backwards
	}
	t.now = now
	t.expire(now)
	t.sweep(now)
	if p.Proto == afterimage.ProtoICMP && p.ICMP.Kind == ICMPUnreachable {
		t.unreachable(p, now)
		return Event{}
	}
	if p.Proto != afterimage.ProtoARP && (p.Broadcast || Exempt(p.Src, p.Dst)) {
		t.stats.Exempt++
		return Event{}
	}
	if p.Proto == afterimage.ProtoARP && (!p.Src.IsValid() || !p.Dst.IsValid() || p.Src.IsUnspecified() || p.Src == p.Dst) {
		t.stats.Exempt++ // probes and announcements (RFC 5227)
		return Event{}
	}
	k, i, cport, up, opens := t.orient(p)
	if i < 0 {
		i = t.alloc(k, p.Time)
	}
	c := &t.slab[i]
	t.touch(i, now)
	c.Last = p.Time
	if up {
		c.PacketsUp++
		c.BytesUp += float64(p.Payload)
		if p.Payload > 0 {
			c.DataUp = true
		}
	} else {
		c.PacketsDown++
		c.BytesDown += float64(p.Payload)
		if p.Payload > 0 {
			c.DataDown = true
		}
	}
	s := sock{k, cport}
	ev := Event{Conn: c, Up: up}
	switch {
	case up && opens:
		ev.Opened = t.attempt(c, s, now)
	case up:
		if ps, ok := t.pend[s]; ok {
			ps.sent++
			t.pend[s] = ps
		}
	default:
		t.reply(c, s, p)
	}
	return ev
}

// orient finds p's connection key, the client's port, whether p goes from
// client to server, and whether p opens an attempt.
func (t *Tracker) orient(p *Packet) (k ckey, idx int32, cport uint16, up, opens bool) {
	src, dst := p.Src.As16(), p.Dst.As16()
	fwd := ckey{client: src, server: dst, port: p.DstPort, proto: p.Proto}
	rev := ckey{client: dst, server: src, port: p.SrcPort, proto: p.Proto}
	switch p.Proto {
	case afterimage.ProtoTCP, afterimage.ProtoUDP:
	default:
		fwd.port, rev.port = 0, 0
	}
	iF, okF := t.conns[fwd]
	if !okF {
		iF = -1
	}
	if p.Proto == afterimage.ProtoTCP && p.Flags&SYN != 0 && p.Flags&ACK == 0 {
		return fwd, iF, p.SrcPort, true, true
	}
	iR, okR := t.conns[rev]
	if !okR {
		iR = -1
	}
	switch p.Proto {
	case afterimage.ProtoTCP:
		switch {
		case p.Flags&SYN != 0, // SYN-ACK: the sender is the server
			!okF && okR,
			!okF && serverSide(p.SrcPort, p.DstPort): // mid-stream, handshake not seen
			return rev, iR, p.DstPort, false, false
		}
		return fwd, iF, p.SrcPort, true, false
	case afterimage.ProtoUDP:
		if okR {
			if !okF {
				return rev, iR, p.DstPort, false, false
			}
			if _, ok := t.pend[sock{rev, p.DstPort}]; ok {
				return rev, iR, p.DstPort, false, false
			}
		}
		if !okF && serverSide(p.SrcPort, p.DstPort) {
			return rev, iR, p.DstPort, false, false // a reply whose request was missed
		}
		_, pending := t.pend[sock{fwd, p.SrcPort}]
		return fwd, iF, p.SrcPort, true, !pending
	case afterimage.ProtoICMP:
		if p.ICMP.Kind == ICMPEchoReply {
			return rev, iR, 0, false, false
		}
		return fwd, iF, 0, true, p.ICMP.Kind == ICMPEchoRequest
	case afterimage.ProtoARP:
		if p.ARPReply {
			return rev, iR, 0, false, false
		}
		_, pending := t.pend[sock{fwd, 0}]
		return fwd, iF, 0, true, !pending
	}
	if !okF && okR {
		return rev, iR, 0, false, false
	}
	return fwd, iF, 0, true, false
}

// serverSide reports whether a packet from port src to port dst comes
// from the server: a well-known port (below 1024) talking to a higher one.
func serverSide(src, dst uint16) bool { return src < 1024 && dst >= 1024 }

// attempt opens an attempt on c, unless it retransmits a pending one.
func (t *Tracker) attempt(c *Conn, s sock, now float64) bool {
	if ps, ok := t.pend[s]; ok { // a retransmission of the same attempt
		ps.sent++
		t.pend[s] = ps
		return false
	}
	c.Attempts++
	c.Ever.Attempts++
	c.Outcome = Pending
	if len(t.pend) >= t.opts.MaxPending || t.rlen == len(t.ring) {
		t.popPending(true)
	}
	t.gen++
	d := now + t.timeout
	t.pend[s] = pendState{gen: t.gen, deadline: d, sent: 1}
	t.ring[(t.rhead+t.rlen)%len(t.ring)] = pendEntry{s, t.gen, d}
	t.rlen++
	return true
}

// reply ends a pending attempt that the server answered or reset.
func (t *Tracker) reply(c *Conn, s sock, p *Packet) {
	refused := p.Proto == afterimage.ProtoTCP && p.Flags&RST != 0 && !c.DataDown
	if _, ok := t.pend[s]; ok {
		delete(t.pend, s)
		if refused {
			t.end(c, Refused, p.Time)
		} else {
			t.end(c, Answered, p.Time)
		}
	}
}

func (t *Tracker) unreachable(p *Packet, now float64) {
	q := p.ICMP.Quoted
	if !q.OK {
		return
	}
	k := ckey{client: q.Src.As16(), server: q.Dst.As16(), port: q.DstPort, proto: q.Proto}
	cport := q.SrcPort
	if q.Proto == afterimage.ProtoICMP {
		k.port, cport = 0, 0
	}
	i, ok := t.conns[k]
	if !ok {
		return
	}
	c := &t.slab[i]
	t.touch(i, now)
	s := sock{k, cport}
	if _, ok := t.pend[s]; ok {
		delete(t.pend, s)
		t.end(c, Unreachable, p.Time)
		return
	}
	if !c.DataDown { // an error on a flow that was never answered
		t.end(c, Unreachable, p.Time)
	}
}

func (t *Tracker) end(c *Conn, o Outcome, at time.Time) {
	c.Outcome = o
	switch o {
	case Answered:
		c.Answered++
		c.Ever.Answered++
	case Refused:
		c.Refused++
		c.Ever.Failed++
	case Unreachable:
		c.Unreachable++
		c.Ever.Failed++
	case Unanswered:
		c.Unanswered++
		c.Ever.Failed++
	case OneWay:
		c.OneWay++
	}
	t.stats.Outcomes[o]++
	if t.opts.OnOutcome != nil {
		t.opts.OnOutcome(c, o, at)
	}
}

// expire ends the attempts whose deadline passed.
func (t *Tracker) expire(now float64) {
	for t.rlen > 0 && t.ring[t.rhead].deadline <= now {
		t.popPending(false)
	}
}

// popPending removes the oldest pending attempt: timed out, or evicted
// early when the table is full.
func (t *Tracker) popPending(evict bool) {
	e := t.ring[t.rhead]
	t.ring[t.rhead] = pendEntry{}
	t.rhead = (t.rhead + 1) % len(t.ring)
	t.rlen--
	ps, ok := t.pend[e.s]
	if !ok || ps.gen != e.gen {
		return // answered already
	}
	delete(t.pend, e.s)
	if evict {
		t.stats.PendingEvicted++
		return
	}
	i, ok := t.conns[e.s.key]
	if !ok {
		return
	}
	t.touch(i, e.deadline)
	c := &t.slab[i]
	o := Unanswered
	if e.s.key.proto == afterimage.ProtoUDP && ps.sent >= uint32(t.opts.OneWayPackets) {
		o = OneWay
	}
	t.end(c, o, time.Unix(0, int64(e.deadline*1e9)))
}

// alloc adds a connection, evicting the least recently seen when full.
func (t *Tracker) alloc(k ckey, at time.Time) int32 {
	if len(t.conns) >= t.opts.MaxConns && t.head >= 0 {
		t.stats.Evicted++
		t.remove(t.head)
	}
	var i int32
	if n := len(t.free); n > 0 {
		i = t.free[n-1]
		t.free = t.free[:n-1]
	} else {
		t.slab = append(t.slab, Conn{})
		i = int32(len(t.slab) - 1)
	}
	t.slab[i] = Conn{Key: k.expand(), ck: k, First: at, Last: at, prev: -1, next: -1, used: true, last: seconds(at)}
	t.conns[k] = i
	// link at the tail
	t.slab[i].prev = t.tail
	if t.tail >= 0 {
		t.slab[t.tail].next = i
	} else {
		t.head = i
	}
	t.tail = i
	return i
}

// touch decays connection i's counters to now and moves it to the tail.
func (t *Tracker) touch(i int32, now float64) {
	c := &t.slab[i]
	if now > c.last {
		c.Counters = decayed(c.Counters, now-c.last, t.halfLife)
		c.last = now
	}
	if t.tail == i {
		return
	}
	t.unlink(i)
	c.prev, c.next = t.tail, -1
	if t.tail >= 0 {
		t.slab[t.tail].next = i
	} else {
		t.head = i
	}
	t.tail = i
}

func (t *Tracker) unlink(i int32) {
	c := &t.slab[i]
	if c.prev >= 0 {
		t.slab[c.prev].next = c.next
	} else {
		t.head = c.next
	}
	if c.next >= 0 {
		t.slab[c.next].prev = c.prev
	} else {
		t.tail = c.prev
	}
	c.prev, c.next = -1, -1
}

func (t *Tracker) remove(i int32) {
	t.unlink(i)
	delete(t.conns, t.slab[i].ck)
	t.slab[i] = Conn{prev: -1, next: -1}
	t.free = append(t.free, i)
}

// sweep drops connections idle for longer than IdleTimeout; the LRU head
// is the stalest, so this looks at one entry when nothing is idle.
func (t *Tracker) sweep(now float64) {
	for t.head >= 0 && now-t.slab[t.head].last > t.idle {
		t.stats.Swept++
		t.remove(t.head)
	}
}
