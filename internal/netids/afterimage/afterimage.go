// Package afterimage computes Kitsune's per-packet traffic features: damped
// incremental statistics (AfterImage, Mirsky et al., NDSS 2018) over five
// decay windows for four channels of every packet:
//
//   - source MAC–IP (weight, mean, variance of packet sizes),
//   - source host with host–host 2-D statistics (weight, mean, variance,
//     radius, magnitude, covariance, correlation),
//   - host–host jitter (weight, mean, variance of inter-arrival times),
//   - socket–socket (the seven host–host statistics per port pair).
//
// That is 20 numbers per window and [NumFeatures] = 100 per packet, in the
// order of Kitsune's netStat.updateGetStats. Each packet costs a constant
// number of map look-ups and arithmetic (O(1)); the reference Python code
// also updates every covariance a stream takes part in, which is O(degree).
//
// Memory is bounded: each table holds at most Options.MaxKeys entries, keys
// idle for longer than Options.IdleTimeout (capture time) are swept out, and
// when a table is full of live keys an arbitrary entry is evicted and counted.
//
// No maintained Go library implements AfterImage, so Ward writes its own;
// this package holds the statistics only, the detector is in package kitnet.
package afterimage

import (
	"math"
	"net/netip"
	"time"
)

// NumFeatures is the length of a feature vector: 4 channels, 5 windows.
const NumFeatures = 100

// Lambdas are the decay factors of the five windows (half-lives 0.2 s to
// 100 s): a statistic's weight decays by 2^(-λ·Δt).
var Lambdas = [nWin]float64{5, 3, 1, 0.1, 0.01}

const nWin = 5

// Offsets of each channel's block in a feature vector.
const (
	offMI     = 0                  // 5 × 3
	offHH     = offMI + nWin*3     // 5 × 7
	offJitter = offHH + nWin*7     // 5 × 3
	offSocket = offJitter + nWin*3 // 5 × 7
)

// Proto is the transport kind of a packet as the features see it.
type Proto uint8

// Transport kinds. Ports are only meaningful for TCP and UDP.
const (
	ProtoOther Proto = iota
	ProtoTCP
	ProtoUDP
	ProtoICMP
	ProtoARP
)

// Packet is what the extractor needs to know about one packet.
type Packet struct {
	Time             time.Time
	Length           int // bytes on the wire
	SrcMAC, DstMAC   [6]byte
	SrcIP, DstIP     netip.Addr // invalid when the packet has no network layer
	SrcPort, DstPort uint16
	Proto            Proto
}

// Options configure an Extractor. Zero values mean the documented defaults.
type Options struct {
	// MaxKeys caps the entries of each table (streams and stream pairs).
	// Default 1<<18 per table, about 60 MB for all tables when full.
	MaxKeys int
	// IdleTimeout is how long (in capture time) a key may stay silent
	// before it is swept out. Default 30 minutes: after that the slowest
	// window (λ = 0.01) has decayed to 2^-18 of its weight.
	IdleTimeout time.Duration
}

// Extractor keeps the damped statistics and turns packets into feature
// vectors. It is not safe for concurrent use; one goroutine owns it.
type Extractor struct {
	opts  Options
	idle  float64 // seconds
	mi    *table[macHost, stat1, *stat1]
	hosts *table[host, stat1, *stat1]
	hcov  *table[hostPair, cov2, *cov2]
	jit   *table[hostPair, stat1, *stat1]
	socks *table[sock, stat1, *stat1]
	scov  *table[sockPair, cov2, *cov2]

	lastSweep float64
	now       float64
	started   bool
}

// New returns an Extractor with empty statistics.
func New(opts Options) *Extractor {
	if opts.MaxKeys <= 0 {
		opts.MaxKeys = 1 << 18
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 30 * time.Minute
	}
	e := &Extractor{opts: opts, idle: opts.IdleTimeout.Seconds()}
	e.mi = newTable[macHost, stat1, *stat1](opts.MaxKeys)
	e.hosts = newTable[host, stat1, *stat1](opts.MaxKeys)
	e.hcov = newTable[hostPair, cov2, *cov2](opts.MaxKeys)
	e.jit = newTable[hostPair, stat1, *stat1](opts.MaxKeys)
	e.socks = newTable[sock, stat1, *stat1](opts.MaxKeys)
	e.scov = newTable[sockPair, cov2, *cov2](opts.MaxKeys)
	return e
}

// Stats reports table sizes and evictions, for memory accounting.
type Stats struct {
	Keys      int   // entries across all tables
	Evictions int64 // live entries evicted because a table was full
	Swept     int64 // idle entries removed
}

// Stats returns the current table sizes and eviction counts.
func (e *Extractor) Stats() Stats {
	var s Stats
	for _, t := range []interface {
		size() int
		counts() (int64, int64)
	}{e.mi, e.hosts, e.hcov, e.jit, e.socks, e.scov} {
		s.Keys += t.size()
		ev, sw := t.counts()
		s.Evictions += ev
		s.Swept += sw
	}
	return s
}

// host identifies a network endpoint: an IP address, or a MAC address for
// packets without a network layer (as Kitsune does).
type host [16]byte

type macHost struct {
	mac [6]byte
	h   host
}

type hostPair struct{ a, b host }

type sock struct {
	h     host
	port  uint16
	proto Proto
}

type sockPair struct{ a, b sock }

func hostOf(ip netip.Addr, mac [6]byte) host {
	var h host
	if ip.IsValid() {
		if ip.Is4() || ip.Is4In6() {
			a := ip.Unmap().As4()
			h[10], h[11] = 0xff, 0xff
			copy(h[12:], a[:])
			return h
		}
		return host(ip.As16())
	}
	// Non-IP: the MAC address in a range no IP address maps to.
	h[0] = 0xff
	h[1] = 0xfe
	copy(h[10:], mac[:])
	return h
}

// Extract updates the statistics with p and writes p's feature vector into
// out, which must have length NumFeatures.
func (e *Extractor) Extract(p *Packet, out []float64) {
	_ = out[NumFeatures-1]
	t := float64(p.Time.UnixNano()) / 1e9
	if !e.started {
		e.started, e.lastSweep = true, t
	}
	if t < e.now {
		t = e.now // out-of-order timestamps: never decay backwards
	}
	e.now = t
	if t-e.lastSweep > e.idle/4 {
		e.sweep(t)
	}
	v := float64(p.Length)
	src := hostOf(p.SrcIP, p.SrcMAC)
	dst := hostOf(p.DstIP, p.DstMAC)

	// MAC–IP.
	mi, _ := e.mi.get(macHost{p.SrcMAC, src}, t)
	mi.insert(t, v)
	mi.write(out[offMI:], 3)

	// Host bandwidth with host–host 2-D statistics.
	hs, _ := e.hosts.get(src, t)
	hs.insert(t, v)
	hd, _ := e.hosts.get(dst, t)
	hd.decay(t)
	c, first := e.hcov.getOrdered(hostPair{src, dst}, hostPair{dst, src}, t)
	c.update(t, v, hs, hd, first)
	write2D(out[offHH:], hs, hd, c)

	// Host–host jitter: inter-arrival times of the directed pair.
	j, isNew := e.jit.get(hostPair{src, dst}, t)
	gap := t - j.last
	if isNew || gap < 0 {
		gap = 0
	}
	j.insert(t, gap)
	j.write(out[offJitter:], 3)

	// Socket–socket. ARP uses MAC addresses, as Kitsune does.
	var ss, sd sock
	if p.Proto == ProtoARP {
		ss = sock{h: hostOf(netip.Addr{}, p.SrcMAC), proto: ProtoARP}
		sd = sock{h: hostOf(netip.Addr{}, p.DstMAC), proto: ProtoARP}
	} else {
		ss = sock{h: src, port: p.SrcPort, proto: p.Proto}
		sd = sock{h: dst, port: p.DstPort, proto: p.Proto}
	}
	so, _ := e.socks.get(ss, t)
	so.insert(t, v)
	sdst, _ := e.socks.get(sd, t)
	sdst.decay(t)
	sc, sfirst := e.scov.getOrdered(sockPair{ss, sd}, sockPair{sd, ss}, t)
	sc.update(t, v, so, sdst, sfirst)
	write2D(out[offSocket:], so, sdst, sc)
}

func (e *Extractor) sweep(t float64) {
	e.lastSweep = t
	cut := t - e.idle
	e.mi.sweep(cut)
	e.hosts.sweep(cut)
	e.hcov.sweep(cut)
	e.jit.sweep(cut)
	e.socks.sweep(cut)
	e.scov.sweep(cut)
}

// stat1 is a 1-D damped statistic over the five windows; all windows are
// updated together, so they share one timestamp.
type stat1 struct {
	last      float64
	w, s1, s2 [nWin]float64
}

func (s *stat1) lastSeen() float64 { return s.last }

func (s *stat1) init(t float64) {
	s.last = t
	for i := range s.w {
		s.w[i] = 1e-20
	}
}

func (s *stat1) decay(t float64) {
	dt := t - s.last
	if dt <= 0 {
		return
	}
	for i, l := range Lambdas {
		f := math.Exp2(-l * dt)
		s.w[i] *= f
		s.s1[i] *= f
		s.s2[i] *= f
	}
	s.last = t
}

func (s *stat1) insert(t, v float64) {
	s.decay(t)
	for i := range s.w {
		s.w[i]++
		s.s1[i] += v
		s.s2[i] += v * v
	}
}

// mean and variance are 0 for a stream whose weight has decayed to
// nothing (a destination that never sent, idle for hours).
func (s *stat1) mean(i int) float64 {
	if s.w[i] <= 0 {
		return 0
	}
	return s.s1[i] / s.w[i]
}

func (s *stat1) variance(i int) float64 {
	if s.w[i] <= 0 {
		return 0
	}
	m := s.s1[i] / s.w[i]
	return math.Abs(s.s2[i]/s.w[i] - m*m)
}

// write stores weight, mean, variance per window with the given stride.
func (s *stat1) write(out []float64, stride int) {
	for i := range s.w {
		o := out[i*stride:]
		o[0] = s.w[i]
		o[1] = s.mean(i)
		o[2] = s.variance(i)
	}
}

// cov2 holds the damped sum of residual products of two streams.
type cov2 struct {
	last    float64
	cf3, w3 [nWin]float64
	res     [2][nWin]float64 // last residual of each stream (index 0 = key's first)
}

func (c *cov2) lastSeen() float64 { return c.last }

func (c *cov2) init(t float64) {
	c.last = t
	for i := range c.w3 {
		c.w3[i] = 1e-20
	}
}

// update adds value v of stream a (already inserted into a) at time t.
// first says whether a is the first stream of the pair's key.
func (c *cov2) update(t, v float64, a, b *stat1, first bool) {
	self, other := 0, 1
	if !first {
		self, other = 1, 0
	}
	dt := t - c.last
	for i, l := range Lambdas {
		if dt > 0 {
			f := math.Exp2(-l * dt)
			c.cf3[i] *= f
			c.w3[i] *= f
			c.res[other][i] *= f
		}
		r := v - a.mean(i)
		c.cf3[i] += r * c.res[other][i]
		c.w3[i]++
		c.res[self][i] = r
	}
	if dt > 0 {
		c.last = t
	}
}

// write2D stores weight, mean, variance, radius, magnitude, covariance and
// correlation coefficient per window.
func write2D(out []float64, a, b *stat1, c *cov2) {
	for i := range a.w {
		o := out[i*7:]
		ma, mb := a.mean(i), b.mean(i)
		va, vb := a.variance(i), b.variance(i)
		var cv float64
		if c.w3[i] > 0 {
			cv = c.cf3[i] / c.w3[i]
		}
		o[0] = a.w[i]
		o[1] = ma
		o[2] = va
		o[3] = math.Sqrt(va*va + vb*vb)
		o[4] = math.Sqrt(ma*ma + mb*mb)
		o[5] = cv
		if ss := math.Sqrt(va) * math.Sqrt(vb); ss != 0 {
			o[6] = cv / ss
		} else {
			o[6] = 0
		}
	}
}

// Uncoupled returns the indexes of the features that describe a packet's
// sender alone: every 1-D statistic (weight, mean, variance) of the four
// channels, without the 2-D radius, magnitude, covariance and correlation,
// which mix in the statistics of the destination host or socket. Those
// couple every client of a shared server: one large download from it
// raises them for every packet any client sends it. 60 of the 100.
func Uncoupled() []int {
	idx := make([]int, 0, NumFeatures)
	for w := 0; w < nWin; w++ {
		for k := 0; k < 3; k++ {
			idx = append(idx, offMI+w*3+k)
		}
	}
	for w := 0; w < nWin; w++ {
		for k := 0; k < 3; k++ {
			idx = append(idx, offHH+w*7+k)
		}
	}
	for w := 0; w < nWin; w++ {
		for k := 0; k < 3; k++ {
			idx = append(idx, offJitter+w*3+k)
		}
	}
	for w := 0; w < nWin; w++ {
		for k := 0; k < 3; k++ {
			idx = append(idx, offSocket+w*7+k)
		}
	}
	return idx
}
