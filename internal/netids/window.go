package netids

import "net/netip"

// WindowOptions configure the per-host score window. Zero values mean the
// documented defaults.
type WindowOptions struct {
	// Alpha is the weight of a new packet's score in each host's moving
	// average (about 1/Alpha packets of memory). Default 0.1.
	Alpha float64
	// On enables the window (an evaluation baseline: the old pipeline).
	On bool
	// MaxHosts caps the hosts tracked; the least recently seen are evicted
	// first when full. Default 65,536.
	MaxHosts int
}

// window smooths per-packet scores over each host's recent packets. A
// packet's windowed score is the smaller of its two endpoints' moving
// averages: one odd packet of a well-behaved host is diluted by that
// host's normal traffic, while a host whose traffic is persistently
// unusual (and the peer it talks to) keeps a high score.
type window struct {
	opts  WindowOptions
	hosts map[[16]byte]*hostScore
	seq   uint64 // packets seen, the clock of eviction
}

type hostScore struct {
	v    float64
	last uint64
}

func newWindow(opts WindowOptions) *window {
	if opts.Alpha <= 0 || opts.Alpha > 1 {
		opts.Alpha = 0.1
	}
	if opts.MaxHosts <= 0 {
		opts.MaxHosts = 1 << 16
	}
	return &window{opts: opts, hosts: map[[16]byte]*hostScore{}}
}

func (w *window) host(k [16]byte) (*hostScore, bool) {
	h, ok := w.hosts[k]
	if ok {
		return h, false
	}
	if len(w.hosts) >= w.opts.MaxHosts {
		var victim [16]byte
		oldest := ^uint64(0)
		n := 0
		for k, h := range w.hosts {
			if h.last < oldest {
				victim, oldest = k, h.last
			}
			if n++; n == 8 {
				break
			}
		}
		delete(w.hosts, victim)
	}
	h = &hostScore{}
	w.hosts[k] = h
	return h, true
}

func (w *window) update(p *Packet, score float64) float64 {
	w.seq++
	a := w.opts.Alpha
	var out [2]float64
	for i, k := range [2][16]byte{hostKey(p.SrcIP, p.SrcMAC), hostKey(p.DstIP, p.DstMAC)} {
		h, isNew := w.host(k)
		if isNew {
			h.v = score
		} else {
			h.v += a * (score - h.v)
		}
		h.last = w.seq
		out[i] = h.v
	}
	return min(out[0], out[1])
}

// hostKey is the key of a host: its IP address, or its MAC address for
// packets without one.
func hostKey(ip netip.Addr, mac [6]byte) [16]byte {
	if ip.IsValid() {
		return ip.Unmap().As16()
	}
	var k [16]byte
	k[0], k[1] = 0xff, 0xfe
	copy(k[10:], mac[:])
	return k
}
