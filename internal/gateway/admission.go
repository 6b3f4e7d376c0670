package gateway

import (
	"container/list"
	"net"
	"net/netip"
	"sync"
)

// handshakes is the table of connections that have not yet delivered their
// CONNECT: from accept through the TLS handshake to the first whole packet.
// It bounds them per source address, per /24 (IPv4) or /64 (IPv6) prefix
// and in total; at the total cap the oldest stalled entry is evicted
// instead of refusing the newcomer, so idle sockets cannot lock devices
// out: a flood only shortens the time each stalled socket is held. Entries
// that have not sent a byte yet go first (oldest first), then the oldest of
// those that have: a device whose handshake is under way, even a slow one
// on a loaded server, is not evicted by sockets that send nothing.
// The maps hold only addresses with a live entry, so they are bounded by
// the total cap.
type handshakes struct {
	maxTotal, maxAddr, maxPrefix int

	mu        sync.Mutex // guards the fields below
	perAddr   map[netip.Addr]int
	perPrefix map[netip.Prefix]int
	silent    list.List // *pendingConn that sent nothing yet, oldest first
	talking   list.List // *pendingConn that did, oldest first
}

// pendingConn is one entry of the handshake table.
type pendingConn struct {
	conn   net.Conn
	addr   netip.Addr
	prefix netip.Prefix
	elem   *list.Element // nil once released or evicted; guarded by handshakes.mu
	list   *list.List    // silent or talking; guarded by handshakes.mu
}

func newHandshakes(total, perAddr, perPrefix int) *handshakes {
	return &handshakes{maxTotal: total, maxAddr: perAddr, maxPrefix: perPrefix,
		perAddr: map[netip.Addr]int{}, perPrefix: map[netip.Prefix]int{}}
}

// sourceOf returns the source address of c and its /24 or /64 prefix.
func sourceOf(c net.Conn) (netip.Addr, netip.Prefix) {
	var a netip.Addr
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		a = ta.AddrPort().Addr().Unmap()
	}
	bits := 64
	if a.Is4() {
		bits = 24
	}
	p, err := a.Prefix(bits)
	if err != nil { // not an IP address (never for TCP): one shared bucket
		p = netip.Prefix{}
	}
	return a, p
}

// acquire adds c to the table. It returns the entry, or "" and the reason
// for refusing c; evicted is the entry closed to make room (its handler
// sees its connection fail and exits).
func (h *handshakes) acquire(c net.Conn) (pc *pendingConn, evicted *pendingConn, refused string) {
	a, p := sourceOf(c)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.perAddr[a] >= h.maxAddr {
		return nil, nil, DropPerAddress
	}
	if h.perPrefix[p] >= h.maxPrefix {
		return nil, nil, DropPerPrefix
	}
	if h.silent.Len()+h.talking.Len() >= h.maxTotal {
		oldest := h.silent.Front()
		if oldest == nil {
			oldest = h.talking.Front()
		}
		evicted = oldest.Value.(*pendingConn)
		h.removeLocked(evicted)
	}
	pc = &pendingConn{conn: c, addr: a, prefix: p, list: &h.silent}
	pc.elem = h.silent.PushBack(pc)
	h.perAddr[a]++
	h.perPrefix[p]++
	return pc, evicted, ""
}

// talked moves pc to the entries that have sent their first byte.
func (h *handshakes) talked(pc *pendingConn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if pc.elem != nil && pc.list == &h.silent {
		h.silent.Remove(pc.elem)
		pc.list = &h.talking
		pc.elem = h.talking.PushBack(pc)
	}
}

// release removes pc if it is still in the table; it is idempotent.
func (h *handshakes) release(pc *pendingConn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if pc.elem != nil {
		h.removeLocked(pc)
	}
}

func (h *handshakes) removeLocked(pc *pendingConn) {
	pc.list.Remove(pc.elem)
	pc.elem = nil
	if h.perAddr[pc.addr]--; h.perAddr[pc.addr] <= 0 {
		delete(h.perAddr, pc.addr)
	}
	if h.perPrefix[pc.prefix]--; h.perPrefix[pc.prefix] <= 0 {
		delete(h.perPrefix, pc.prefix)
	}
}
