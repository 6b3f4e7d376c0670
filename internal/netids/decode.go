package netids

import (
	"net/netip"
	"strings"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/wardproject/ward/internal/netids/afterimage"
	"github.com/wardproject/ward/internal/netids/conntrack"
)

// Packet is a decoded packet: what the features, rules and asset inventory
// need, nothing more.
type Packet struct {
	afterimage.Packet
	Number   uint64
	TCPFlags TCPFlags
	HasEth   bool
	// Payload is the transport payload length from the IP and transport
	// headers (the bytes sent, also when the capture cut them).
	Payload int
	// Data is the TCP payload as captured (none when the capture cut it):
	// it aliases the frame and is valid only while the sensor processes
	// the packet. The sensor reads the first bytes a client sends on a
	// connection to recognise a command-and-control protocol (TermIRC).
	Data []byte
	// Broadcast: the frame went to a link-layer broadcast or multicast
	// address.
	Broadcast bool
	// ARPReply: an ARP reply (the sender answers for its own address).
	ARPReply bool
	// ICMP: echo request or reply, or a destination-unreachable error with
	// the packet it quotes.
	ICMP conntrack.ICMP
	// Set by the sensor's connection tracker before the inspectors run:
	// Opens, the packet opened a new connection attempt (client-initiated,
	// never a reply or a retransmission); Up, it went from the client of
	// its connection to the server.
	Opens, Up bool
	// Policy is set by a policy inspector (internal/netids/mud) before the
	// sensor's evidence: whether this packet, from a device with a MUD
	// profile, is inside the profile. The sensor's novelty term uses it
	// in place of the learnt profile where there is one.
	Policy PolicyVerdict
	// DNS holds the address records of a DNS response (at most 16), so
	// policies written with DNS names can match the addresses.
	DNS []DNSAnswer
}

// DNSAnswer is one A or AAAA record seen in a DNS response.
type DNSAnswer struct {
	Name string
	Addr netip.Addr
}

// PolicyVerdict is a policy inspector's verdict on a packet from a device
// with a profile.
type PolicyVerdict int8

// Policy verdicts.
const (
	PolicyNone    PolicyVerdict = iota // no profile, or traffic every device needs (DHCP, DNS)
	PolicyAllowed                      // inside the sender's profile
	PolicyOutside                      // outside it
)

// TCPFlags are the TCP header flags the rules look at.
type TCPFlags uint8

// TCP flags.
const (
	FlagFIN TCPFlags = 1 << iota
	FlagSYN
	FlagRST
	FlagPSH
	FlagACK
)

// decoder turns frames into Packets with gopacket's allocation-free
// DecodingLayerParser. It is not safe for concurrent use.
type decoder struct {
	eth     layers.Ethernet
	sll     layers.LinuxSLL
	sll2    layers.LinuxSLL2
	loop    layers.Loopback
	dot1q   layers.Dot1Q
	ip4     layers.IPv4
	ip6     layers.IPv6
	tcp     layers.TCP
	udp     layers.UDP
	icmp4   layers.ICMPv4
	icmp6   layers.ICMPv6
	arp     layers.ARP
	dns     layers.DNS
	dnsBuf  []DNSAnswer
	payload gopacket.Payload
	parsers map[gopacket.LayerType]*gopacket.DecodingLayerParser
	found   []gopacket.LayerType
}

func newDecoder() *decoder {
	d := &decoder{parsers: map[gopacket.LayerType]*gopacket.DecodingLayerParser{}}
	d.found = make([]gopacket.LayerType, 0, 8)
	return d
}

func (d *decoder) parser(first gopacket.LayerType) *gopacket.DecodingLayerParser {
	p, ok := d.parsers[first]
	if !ok {
		p = gopacket.NewDecodingLayerParser(first, &d.eth, &d.sll, &d.sll2, &d.loop, &d.dot1q, &d.ip4, &d.ip6,
			&d.tcp, &d.udp, &d.icmp4, &d.icmp6, &d.arp, &d.dns, &d.payload)
		p.IgnoreUnsupported = true
		d.parsers[first] = p
	}
	return p
}

// firstLayer maps the link types Ward decodes to their first layer:
// Ethernet (with 802.1Q), Linux cooked capture v1 and v2 (tcpdump -i any),
// raw IPv4/IPv6, and BSD loopback (DLT_NULL, DLT_LOOP).
func firstLayer(lt layers.LinkType) (gopacket.LayerType, bool) {
	switch lt {
	case layers.LinkTypeEthernet:
		return layers.LayerTypeEthernet, true
	case layers.LinkTypeLinuxSLL:
		return layers.LayerTypeLinuxSLL, true
	case layers.LinkTypeLinuxSLL2:
		return layers.LayerTypeLinuxSLL2, true
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		return layers.LayerTypeLoopback, true
	case layers.LinkTypeRaw, layers.LinkTypeIPv4:
		return layers.LayerTypeIPv4, true
	case layers.LinkTypeIPv6:
		return layers.LayerTypeIPv6, true
	}
	return 0, false
}

// decode fills p from f. It returns false for a frame of a link type it
// does not know; a frame whose inner layers do not parse still yields what
// was decoded (and its length and time).
func (d *decoder) decode(f *Frame, p *Packet) bool {
	*p = Packet{Number: f.Number}
	p.Time = f.Info.Timestamp
	p.Length = f.Info.Length
	if p.Length == 0 {
		p.Length = len(f.Data)
	}
	fl, ok := firstLayer(f.LinkType)
	if !ok {
		return false
	}
	if fl == layers.LayerTypeIPv4 && len(f.Data) > 0 && f.Data[0]>>4 == 6 {
		fl = layers.LayerTypeIPv6 // LINKTYPE_RAW carries either
	}
	d.found = d.found[:0]
	_ = d.parser(fl).DecodeLayers(f.Data, &d.found) // partial decodes are fine
	ipPayload := -1                                 // bytes after the IP header, from the IP header
	for _, lt := range d.found {
		switch lt {
		case layers.LayerTypeEthernet:
			p.HasEth = true
			copy(p.SrcMAC[:], d.eth.SrcMAC)
			copy(p.DstMAC[:], d.eth.DstMAC)
			p.Broadcast = p.DstMAC[0]&1 != 0 // group bit: broadcast or multicast
		case layers.LayerTypeLinuxSLL:
			if d.sll.AddrLen == 6 {
				copy(p.SrcMAC[:], d.sll.Addr)
			}
		case layers.LayerTypeLinuxSLL2:
			if d.sll2.AddrLength == 6 {
				copy(p.SrcMAC[:], d.sll2.Addr)
			}
		case layers.LayerTypeIPv4:
			p.SrcIP, _ = netip.AddrFromSlice(d.ip4.SrcIP.To4())
			p.DstIP, _ = netip.AddrFromSlice(d.ip4.DstIP.To4())
			ipPayload = int(d.ip4.Length) - int(d.ip4.IHL)*4
		case layers.LayerTypeIPv6:
			p.SrcIP, _ = netip.AddrFromSlice(d.ip6.SrcIP)
			p.DstIP, _ = netip.AddrFromSlice(d.ip6.DstIP)
			ipPayload = int(d.ip6.Length)
		case layers.LayerTypeTCP:
			p.Proto = afterimage.ProtoTCP
			p.SrcPort, p.DstPort = uint16(d.tcp.SrcPort), uint16(d.tcp.DstPort)
			p.TCPFlags = tcpFlags(&d.tcp)
			if ipPayload >= 0 {
				p.Payload = max(0, ipPayload-int(d.tcp.DataOffset)*4)
			} else {
				p.Payload = len(d.tcp.Payload)
			}
			p.Data = d.tcp.Payload
		case layers.LayerTypeUDP:
			p.Proto = afterimage.ProtoUDP
			p.SrcPort, p.DstPort = uint16(d.udp.SrcPort), uint16(d.udp.DstPort)
			p.Payload = max(0, int(d.udp.Length)-8)
		case layers.LayerTypeICMPv4:
			p.Proto = afterimage.ProtoICMP
			switch d.icmp4.TypeCode.Type() {
			case layers.ICMPv4TypeEchoRequest:
				p.ICMP.Kind = conntrack.ICMPEchoRequest
			case layers.ICMPv4TypeEchoReply:
				p.ICMP.Kind = conntrack.ICMPEchoReply
			case layers.ICMPv4TypeDestinationUnreachable:
				p.ICMP = conntrack.ICMP{Kind: conntrack.ICMPUnreachable, Quoted: conntrack.ParseQuote(d.icmp4.Payload)}
			}
		case layers.LayerTypeICMPv6:
			p.Proto = afterimage.ProtoICMP
			switch d.icmp6.TypeCode.Type() {
			case layers.ICMPv6TypeEchoRequest:
				p.ICMP.Kind = conntrack.ICMPEchoRequest
			case layers.ICMPv6TypeEchoReply:
				p.ICMP.Kind = conntrack.ICMPEchoReply
			case layers.ICMPv6TypeDestinationUnreachable:
				var q conntrack.Quote
				if len(d.icmp6.Payload) > 4 { // 4 unused bytes, then the packet
					q = conntrack.ParseQuote(d.icmp6.Payload[4:])
				}
				p.ICMP = conntrack.ICMP{Kind: conntrack.ICMPUnreachable, Quoted: q}
			}
		case layers.LayerTypeDNS:
			if !d.dns.QR {
				break
			}
			d.dnsBuf = d.dnsBuf[:0]
			qname := ""
			if len(d.dns.Questions) > 0 {
				qname = strings.ToLower(strings.TrimSuffix(string(d.dns.Questions[0].Name), "."))
			}
			for _, rr := range d.dns.Answers {
				if len(d.dnsBuf) == 16 {
					break
				}
				if rr.Type != layers.DNSTypeA && rr.Type != layers.DNSTypeAAAA {
					continue
				}
				if a, ok := netip.AddrFromSlice(rr.IP); ok {
					name := qname // the name asked for, also behind CNAMEs
					if name == "" {
						name = strings.ToLower(strings.TrimSuffix(string(rr.Name), "."))
					}
					d.dnsBuf = append(d.dnsBuf, DNSAnswer{Name: name, Addr: a.Unmap()})
				}
			}
			p.DNS = d.dnsBuf
		case layers.LayerTypeARP:
			p.Proto = afterimage.ProtoARP
			p.SrcIP, _ = netip.AddrFromSlice(d.arp.SourceProtAddress)
			p.DstIP, _ = netip.AddrFromSlice(d.arp.DstProtAddress)
			p.ARPReply = d.arp.Operation == layers.ARPReply
		}
	}
	return true
}

// Conntrack returns what the connection tracker needs to know about p.
func (p *Packet) Conntrack() conntrack.Packet {
	c := conntrack.Packet{Time: p.Time, Src: p.SrcIP, Dst: p.DstIP, SrcPort: p.SrcPort, DstPort: p.DstPort,
		Proto: p.Proto, Payload: p.Payload, Broadcast: p.Broadcast, ARPReply: p.ARPReply, ICMP: p.ICMP}
	for _, f := range [...]struct {
		from TCPFlags
		to   conntrack.Flags
	}{{FlagSYN, conntrack.SYN}, {FlagACK, conntrack.ACK}, {FlagRST, conntrack.RST}, {FlagFIN, conntrack.FIN}} {
		if p.TCPFlags&f.from != 0 {
			c.Flags |= f.to
		}
	}
	return c
}

func tcpFlags(t *layers.TCP) TCPFlags {
	var f TCPFlags
	if t.FIN {
		f |= FlagFIN
	}
	if t.SYN {
		f |= FlagSYN
	}
	if t.RST {
		f |= FlagRST
	}
	if t.PSH {
		f |= FlagPSH
	}
	if t.ACK {
		f |= FlagACK
	}
	return f
}
