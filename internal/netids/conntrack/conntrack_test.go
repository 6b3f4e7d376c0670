package conntrack

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/wardproject/ward/internal/netids/afterimage"
)

var t0 = time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)

const (
	tcp  = afterimage.ProtoTCP
	udp  = afterimage.ProtoUDP
	icmp = afterimage.ProtoICMP
	arp  = afterimage.ProtoARP
)

var (
	client = netip.MustParseAddr("10.0.0.15")
	server = netip.MustParseAddr("10.0.0.1")
	other  = netip.MustParseAddr("10.0.1.7")
)

// pk is a crafted packet at t0 + at seconds.
func pk(at float64, src netip.Addr, sport uint16, dst netip.Addr, dport uint16, proto Proto, flags Flags, payload int) Packet {
	return Packet{Time: t0.Add(time.Duration(at * float64(time.Second))), Src: src, Dst: dst,
		SrcPort: sport, DstPort: dport, Proto: proto, Flags: flags, Payload: payload}
}

func icmpPk(at float64, src, dst netip.Addr, k ICMPKind, q Quote) Packet {
	p := pk(at, src, 0, dst, 0, icmp, 0, 0)
	p.ICMP = ICMP{Kind: k, Quoted: q}
	return p
}

func arpPk(at float64, src, dst netip.Addr, reply bool) Packet {
	p := pk(at, src, 0, dst, 0, arp, 0, 0)
	p.ARPReply = reply
	p.Broadcast = !reply
	return p
}

func TestOutcomes(t *testing.T) {
	type want struct {
		key              Key
		outcome          Outcome
		attempts, failed uint32
		proven           bool
	}
	k := func(c, s netip.Addr, port uint16, proto Proto) Key {
		return Key{Client: c, Server: s, Port: port, Proto: proto}
	}
	tests := []struct {
		name    string
		packets []Packet
		want    []want
		absent  []Key // keys that must not exist (a reply never opens a connection)
		conns   int
	}{
		{
			name: "tcp answered with data both ways",
			packets: []Packet{
				pk(0, client, 40000, server, 80, tcp, SYN, 0),
				pk(0.01, server, 80, client, 40000, tcp, SYN|ACK, 0),
				pk(0.02, client, 40000, server, 80, tcp, ACK, 0),
				pk(0.03, client, 40000, server, 80, tcp, ACK, 120),
				pk(0.04, server, 80, client, 40000, tcp, ACK, 1400),
			},
			want:  []want{{k(client, server, 80, tcp), Answered, 1, 0, true}},
			conns: 1,
		},
		{
			name: "tcp refused before data",
			packets: []Packet{
				pk(0, client, 40001, other, 23, tcp, SYN, 0),
				pk(0.01, other, 23, client, 40001, tcp, RST|ACK, 0),
			},
			want:   []want{{k(client, other, 23, tcp), Refused, 1, 1, false}},
			absent: []Key{k(other, client, 40001, tcp)},
			conns:  1,
		},
		{
			name: "tcp unanswered: retransmissions are one attempt, the timeout ends it",
			packets: []Packet{
				pk(0, client, 40002, other, 666, tcp, SYN, 0),
				pk(1, client, 40002, other, 666, tcp, SYN, 0),
				pk(3, client, 40002, other, 666, tcp, SYN, 0),
				pk(9, client, 40003, server, 53, udp, 0, 30), // advances the clock
			},
			want: []want{{k(client, other, 666, tcp), Unanswered, 1, 1, false}},
		},
		{
			name: "slow retries to a dead server: each new socket is an attempt",
			packets: []Packet{
				pk(0, client, 40010, other, 666, tcp, SYN, 0),
				pk(60, client, 40011, other, 666, tcp, SYN, 0),
				pk(120, client, 40012, other, 666, tcp, SYN, 0),
				pk(180, client, 40013, server, 53, udp, 0, 30),
			},
			want: []want{{k(client, other, 666, tcp), Unanswered, 3, 3, false}},
		},
		{
			name: "udp to a closed port: ICMP port unreachable",
			packets: []Packet{
				pk(0, client, 36679, other, 9999, udp, 0, 512),
				icmpPk(0.01, other, client, ICMPUnreachable, Quote{Src: client, Dst: other, SrcPort: 36679, DstPort: 9999, Proto: udp, OK: true}),
			},
			want:   []want{{k(client, other, 9999, udp), Unreachable, 1, 1, false}},
			absent: []Key{k(other, client, 0, icmp), k(client, other, 0, icmp)},
			conns:  1,
		},
		{
			name: "dns: the resolver answering is the server, never a client",
			packets: []Packet{
				pk(0, client, 51000, server, 53, udp, 0, 30),
				pk(0.005, server, 53, client, 51000, udp, 0, 90),
				pk(1, other, 52000, server, 53, udp, 0, 30),
				pk(1.005, server, 53, other, 52000, udp, 0, 90),
			},
			want: []want{
				{k(client, server, 53, udp), Answered, 1, 0, true},
				{k(other, server, 53, udp), Answered, 1, 0, true},
			},
			absent: []Key{k(server, client, 51000, udp), k(server, other, 52000, udp)},
			conns:  2,
		},
		{
			name: "dns reply whose query was not captured",
			packets: []Packet{
				pk(0, server, 53, client, 51001, udp, 0, 90),
			},
			absent: []Key{k(server, client, 51001, udp)},
			want:   []want{{k(client, server, 53, udp), Pending, 0, 0, false}},
			conns:  1,
		},
		{
			name: "udp stream never answered is one-way, not failed",
			packets: func() []Packet {
				var ps []Packet
				for i := 0; i < 10; i++ {
					ps = append(ps, pk(float64(i)*0.1, client, 5004, server, 5004, udp, 0, 1400))
				}
				return append(ps, pk(8, client, 51002, server, 53, udp, 0, 30))
			}(),
			want: []want{{k(client, server, 5004, udp), OneWay, 1, 0, false}},
		},
		{
			name: "multicast, broadcast and DHCP discover are exempt",
			packets: func() []Packet {
				m := pk(0, client, 5353, netip.MustParseAddr("224.0.0.251"), 5353, udp, 0, 40)
				b := pk(0, client, 68, netip.MustParseAddr("255.255.255.255"), 67, udp, 0, 300)
				d := pk(0, netip.MustParseAddr("0.0.0.0"), 68, server, 67, udp, 0, 300)
				sb := pk(0, client, 40000, netip.MustParseAddr("10.0.255.255"), 9, udp, 0, 10)
				sb.Broadcast = true
				return []Packet{m, b, d, sb}
			}(),
			conns: 0,
		},
		{
			name: "arp: unanswered request fails, a reply answers, probes are exempt",
			packets: []Packet{
				arpPk(0, client, other, false),
				arpPk(0.1, client, server, false),
				arpPk(0.11, server, client, true),
				arpPk(0.2, netip.MustParseAddr("0.0.0.0"), client, false),
				arpPk(0.3, client, client, false), // announcement
				pk(9, client, 51003, server, 53, udp, 0, 30),
			},
			want: []want{
				{k(client, other, 0, arp), Unanswered, 1, 1, false},
				{k(client, server, 0, arp), Answered, 1, 0, false},
			},
			absent: []Key{k(server, client, 0, arp)},
		},
		{
			name: "tcp mid-stream: the well-known port is the server",
			packets: []Packet{
				pk(0, server, 443, client, 50000, tcp, ACK, 1400),
				pk(0.1, client, 50000, server, 443, tcp, ACK, 0),
			},
			want:   []want{{k(client, server, 443, tcp), Pending, 0, 0, false}},
			absent: []Key{k(server, client, 50000, tcp)},
			conns:  1,
		},
		{
			name: "icmp echo answered",
			packets: []Packet{
				icmpPk(0, client, server, ICMPEchoRequest, Quote{}),
				icmpPk(0.01, server, client, ICMPEchoReply, Quote{}),
			},
			want:  []want{{k(client, server, 0, icmp), Answered, 1, 0, false}},
			conns: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := New(Options{})
			for i := range tt.packets {
				tr.Observe(&tt.packets[i])
			}
			for _, w := range tt.want {
				c := tr.Lookup(w.key)
				if c == nil {
					t.Fatalf("no connection %+v", w.key)
				}
				if c.Outcome != w.outcome || c.Ever.Attempts != w.attempts || c.Ever.Failed != w.failed || c.Proven() != w.proven {
					t.Errorf("%+v: outcome %v, attempts %d, failed %d, proven %v; want %v, %d, %d, %v",
						w.key, c.Outcome, c.Ever.Attempts, c.Ever.Failed, c.Proven(), w.outcome, w.attempts, w.failed, w.proven)
				}
			}
			for _, k := range tt.absent {
				if tr.Lookup(k) != nil {
					t.Errorf("connection %+v exists: a reply opened a connection", k)
				}
			}
			if tt.conns > 0 || tt.name == "multicast, broadcast and DHCP discover are exempt" {
				if tr.Len() != tt.conns {
					t.Errorf("%d connections, want %d", tr.Len(), tt.conns)
				}
			}
		})
	}
}

func TestOnOutcomeAndDecay(t *testing.T) {
	var got []Outcome
	var at []time.Time
	tr := New(Options{HalfLife: time.Minute, OnOutcome: func(c *Conn, o Outcome, t time.Time) {
		got = append(got, o)
		at = append(at, t)
	}})
	ps := []Packet{
		pk(0, client, 40000, other, 666, tcp, SYN, 0),
		pk(65, client, 40001, server, 80, tcp, SYN, 0), // ends the first attempt at 5 s
		pk(65.01, server, 80, client, 40001, tcp, SYN|ACK, 0),
	}
	for i := range ps {
		tr.Observe(&ps[i])
	}
	if len(got) != 2 || got[0] != Unanswered || got[1] != Answered || !at[0].Equal(t0.Add(5*time.Second)) {
		t.Fatalf("outcomes %v at %v; want unanswered at +5s, then answered", got, at)
	}
	c := tr.Lookup(Key{client, other, 666, tcp})
	d := c.Decayed(t0.Add(125*time.Second), time.Minute)
	if d.Attempts < 0.235 || d.Attempts > 0.237 || d.Unanswered < 0.249 || d.Unanswered > 0.251 {
		t.Errorf("decayed to %+v at 125 s with a 60 s half-life; want the attempt (0 s) at 2^-(125/60) = 0.236 and the timeout (5 s) at 0.25", d)
	}
}

func TestBounds(t *testing.T) {
	t.Run("idle sweep", func(t *testing.T) {
		tr := New(Options{IdleTimeout: time.Minute})
		a := pk(0, client, 40000, server, 80, tcp, SYN, 0)
		b := pk(70, other, 40000, server, 80, tcp, SYN, 0)
		tr.Observe(&a)
		tr.Observe(&b)
		if tr.Len() != 1 || tr.Stats().Swept != 1 || tr.Lookup(Key{client, server, 80, tcp}) != nil {
			t.Errorf("after the idle timeout: %d connections, stats %+v", tr.Len(), tr.Stats())
		}
	})
	t.Run("full table evicts the least recently seen", func(t *testing.T) {
		tr := New(Options{MaxConns: 2})
		ps := []Packet{
			pk(0, client, 40000, server, 80, tcp, SYN, 0),
			pk(1, client, 40001, server, 81, tcp, SYN, 0),
			pk(2, client, 40002, server, 80, tcp, ACK, 0), // touches :80
			pk(3, client, 40003, server, 82, tcp, SYN, 0),
		}
		for i := range ps {
			tr.Observe(&ps[i])
		}
		if tr.Len() != 2 || tr.Stats().Evicted != 1 || tr.Lookup(Key{client, server, 81, tcp}) != nil || tr.Lookup(Key{client, server, 80, tcp}) == nil {
			t.Errorf("%d connections, stats %+v; want :81 evicted", tr.Len(), tr.Stats())
		}
	})
	t.Run("pending handshakes are capped", func(t *testing.T) {
		tr := New(Options{MaxPending: 3})
		for i := 0; i < 10; i++ {
			p := pk(float64(i)*0.01, client, uint16(40000+i), other, 23, tcp, SYN, 0)
			tr.Observe(&p)
		}
		if s := tr.Stats(); s.Pending != 3 || s.PendingEvicted != 7 {
			t.Errorf("stats %+v, want 3 pending and 7 evicted", s)
		}
	})
	t.Run("random traffic stays within the caps", func(t *testing.T) {
		tr := New(Options{MaxConns: 100, MaxPending: 50})
		rng := rand.New(rand.NewPCG(1, 2))
		for i := 0; i < 20000; i++ {
			p := pk(float64(i)*0.001, netip.AddrFrom4([4]byte{10, 0, 0, byte(rng.IntN(50))}), uint16(rng.IntN(70000)),
				netip.AddrFrom4([4]byte{10, 0, 1, byte(rng.IntN(50))}), uint16(rng.IntN(3000)),
				Proto(rng.IntN(5)), Flags(rng.IntN(16)), rng.IntN(100))
			p.ICMP.Kind = ICMPKind(rng.IntN(4))
			if p.ICMP.Kind == ICMPUnreachable {
				p.ICMP.Quoted = Quote{Src: p.Dst, Dst: p.Src, SrcPort: p.DstPort, DstPort: p.SrcPort, Proto: udp, OK: true}
			}
			tr.Observe(&p)
			if s := tr.Stats(); s.Conns > 100 || s.Pending > 50 {
				t.Fatalf("packet %d: stats %+v beyond the caps", i, s)
			}
		}
	})
}

func TestClockNeverRunsBackwards(t *testing.T) {
	tr := New(Options{})
	a := pk(10, client, 40000, other, 666, tcp, SYN, 0)
	b := pk(0, client, 40001, server, 80, tcp, SYN, 0) // older timestamp
	c := pk(14, client, 40002, server, 81, tcp, SYN, 0)
	for _, p := range []*Packet{&a, &b, &c} {
		tr.Observe(p)
	}
	if s := tr.Stats(); s.Outcomes[Unanswered] != 0 {
		t.Errorf("a packet stamped in the past expired attempts: %+v", s)
	}
	d := pk(15.5, client, 40003, server, 82, tcp, SYN, 0)
	tr.Observe(&d)
	if s := tr.Stats(); s.Outcomes[Unanswered] != 2 {
		t.Errorf("stats %+v, want the attempts of 10 s and (clamped) 10 s ended at 15 s", s)
	}
}

func TestParseQuote(t *testing.T) {
	v4 := make([]byte, 28)
	v4[0] = 0x45
	v4[9] = 17
	copy(v4[12:], []byte{10, 0, 0, 15})
	copy(v4[16:], []byte{10, 0, 1, 7})
	binary.BigEndian.PutUint16(v4[20:], 36679)
	binary.BigEndian.PutUint16(v4[22:], 9999)
	v6 := make([]byte, 48)
	v6[0] = 0x60
	v6[6] = 6
	v6[23], v6[39] = 1, 2
	binary.BigEndian.PutUint16(v6[40:], 50000)
	binary.BigEndian.PutUint16(v6[42:], 443)
	frag := append([]byte(nil), v4...)
	frag[7] = 8 // a later fragment: no transport header
	tests := []struct {
		name string
		in   []byte
		want Quote
	}{
		{"ipv4 udp", v4, Quote{Src: client, Dst: other, SrcPort: 36679, DstPort: 9999, Proto: udp, OK: true}},
		{"ipv6 tcp", v6, Quote{Src: netip.MustParseAddr("::1"), Dst: netip.MustParseAddr("::2"), SrcPort: 50000, DstPort: 443, Proto: tcp, OK: true}},
		{"ipv4 fragment", frag, Quote{Src: client, Dst: other, Proto: udp, OK: true}},
		{"ipv4 without ports", v4[:20], Quote{Src: client, Dst: other, Proto: udp, OK: true}},
		{"short", v4[:19], Quote{}},
		{"bad ihl", append([]byte{0x41}, v4[1:]...), Quote{}},
		{"ihl past the end", append([]byte{0x4f}, v4[1:]...), Quote{}},
		{"empty", nil, Quote{}},
		{"not ip", []byte{0x25, 0, 0}, Quote{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ParseQuote(tt.in); got != tt.want {
				t.Errorf("ParseQuote = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func FuzzParseQuote(f *testing.F) {
	v4 := make([]byte, 28)
	v4[0], v4[9] = 0x45, 6
	f.Add(v4)
	v6 := make([]byte, 48)
	v6[0], v6[6] = 0x60, 17
	f.Add(v6)
	f.Add([]byte{0x4f})
	f.Fuzz(func(t *testing.T, b []byte) {
		q := ParseQuote(b)
		if q.OK && (!q.Src.IsValid() || !q.Dst.IsValid()) {
			t.Fatalf("OK quote with invalid addresses: %+v", q)
		}
		// A quote the tracker receives must not break it.
		tr := New(Options{MaxConns: 4, MaxPending: 2})
		p := pk(0, q.Dst, q.DstPort, q.Src, q.SrcPort, udp, 0, 1)
		tr.Observe(&p)
		e := icmpPk(1, q.Dst, q.Src, ICMPUnreachable, q)
		tr.Observe(&e)
	})
}

// BenchmarkObserve: a mix of handshakes, data, DNS, unanswered probes and
// ICMP errors over 10,000 clients and 100 servers; a packet costs O(1).
func BenchmarkObserve(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	const n = 1 << 16
	ps := make([]Packet, n)
	for i := range ps {
		c := netip.AddrFrom4([4]byte{10, 1, byte(rng.IntN(4)), byte(rng.IntN(250))})
		s := netip.AddrFrom4([4]byte{10, 2, 0, byte(rng.IntN(20))})
		at := float64(i) * 1e-4
		cport := uint16(32768 + rng.IntN(12000))
		switch rng.IntN(6) {
		case 0:
			ps[i] = pk(at, c, cport, s, 80, tcp, SYN, 0)
		case 1:
			ps[i] = pk(at, s, 80, c, cport, tcp, SYN|ACK, 0)
		case 2:
			ps[i] = pk(at, c, cport, s, 80, tcp, ACK, 100)
		case 3:
			ps[i] = pk(at, c, cport, s, 53, udp, 0, 30)
		case 4:
			ps[i] = pk(at, s, 53, c, cport, udp, 0, 90)
		default:
			ps[i] = icmpPk(at, s, c, ICMPUnreachable, Quote{Src: c, Dst: s, SrcPort: cport, DstPort: 9, Proto: udp, OK: true})
		}
	}
	tr := New(Options{})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := &ps[i%n]
		if i >= n { // keep time moving forward on later laps
			p.Time = p.Time.Add(time.Duration(n) * 100 * time.Microsecond)
		}
		tr.Observe(p)
	}
}
