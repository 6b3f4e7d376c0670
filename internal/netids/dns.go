package netids

import (
	"math"
	"net/netip"
)

// dnsEvidence carries behavioural evidence from addresses to the DNS names
// that resolved to them, and from the names to every other address they
// resolve to. Both tables are bounded; when one is full it is cleared (the
// evidence is a hint that decays within hours, and losing it costs one
// inheritance, never a wrong one).
type dnsEvidence struct {
	names map[netip.Addr]string // address → the last name it answered for
	ev    map[string]nameEv
}

type nameEv struct {
	v, t float64
}

const (
	maxDNSAddrs = 1 << 16
	maxDNSNames = 1 << 14
)

func newDNSEvidence() dnsEvidence {
	return dnsEvidence{names: map[netip.Addr]string{}, ev: map[string]nameEv{}}
}

// observe records the address records of a DNS response.
func (d *dnsEvidence) observe(answers []DNSAnswer) {
	for _, a := range answers {
		if a.Name == "" {
			continue
		}
		if len(d.names) >= maxDNSAddrs {
			clear(d.names)
		}
		d.names[a.Addr] = a.Name
	}
}

// name returns the name server resolved from ("" when none).
func (d *dnsEvidence) name(server netip.Addr) string { return d.names[server] }

// inherit returns the DNS term of a connection to server with evidence e
// at time t, and passes the connection's own behavioural evidence on to
// the server's name.
func (d *dnsEvidence) inherit(server netip.Addr, e *Evidence, o *EvidenceOptions, t float64) float64 {
	n, ok := d.names[server]
	if !ok {
		return 0
	}
	// What the connection says about the server itself: failed handshakes
	// to it that it never answered (a dead C&C). Fan-out and bursts
	// describe the client, and a scan or brute-force rule makes the server
	// a victim, so neither passes to the server's name: every device
	// resolves the gateway's names, and an infected one's fan-out must not
	// reach them all. Nothing inherited feeds back.
	var own Evidence
	own[TermFailed] = e[TermFailed]
	v := o.Fuse(&own)
	cur, ok := d.ev[n]
	if ok && t > cur.t {
		cur.v *= math.Exp2(-(t - cur.t) / hlDNS)
		cur.t = t
	}
	if v > cur.v && v >= o.Threshold {
		if !ok && len(d.ev) >= maxDNSNames {
			clear(d.ev)
		}
		cur = nameEv{v: v, t: t}
		d.ev[n] = cur
	} else if ok {
		d.ev[n] = cur
	}
	return cur.v
}
