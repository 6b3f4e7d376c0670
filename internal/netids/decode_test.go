package netids

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/wardproject/ward/internal/netids/afterimage"
	"github.com/wardproject/ward/internal/netids/conntrack"
)

// TestDecodeForTracker checks what the connection tracker reads from a
// frame: payload lengths from the headers (also when the capture cut the
// bytes), ICMP kinds with the quoted packet, ARP replies, and link-layer
// broadcast.
func TestDecodeForTracker(t *testing.T) {
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 15}
	gw := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	bcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	c, s := net.IP{10, 0, 0, 15}, net.IP{10, 0, 1, 7}
	ser := func(t *testing.T, ls ...gopacket.SerializableLayer) []byte {
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
			t.Fatal(err)
		}
		return append([]byte(nil), buf.Bytes()...)
	}
	ipv4 := func(p layers.IPProtocol, src, dst net.IP) *layers.IPv4 {
		return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: p, SrcIP: src, DstIP: dst}
	}
	eth := func(src, dst net.HardwareAddr, et layers.EthernetType) *layers.Ethernet {
		return &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: et}
	}
	tcpFrame := func(t *testing.T) []byte {
		ip := ipv4(layers.IPProtocolTCP, c, s)
		tcp := &layers.TCP{SrcPort: 40000, DstPort: 23, ACK: true, PSH: true, Window: 1024}
		_ = tcp.SetNetworkLayerForChecksum(ip)
		return ser(t, eth(mac, gw, layers.EthernetTypeIPv4), ip, tcp, gopacket.Payload(make([]byte, 300)))
	}
	// the UDP datagram an ICMP error quotes: its IP header and 8 bytes
	quoted := func(t *testing.T) []byte {
		ip := ipv4(layers.IPProtocolUDP, c, s)
		udp := &layers.UDP{SrcPort: 36679, DstPort: 9999}
		_ = udp.SetNetworkLayerForChecksum(ip)
		return ser(t, ip, udp, gopacket.Payload(make([]byte, 512)))[:28]
	}
	tests := []struct {
		name  string
		frame func(t *testing.T) []byte
		cut   int // capture only this many bytes (0: all)
		check func(t *testing.T, p *Packet)
	}{
		{"tcp payload", tcpFrame, 0, func(t *testing.T, p *Packet) {
			if p.Payload != 300 || p.TCPFlags != FlagACK|FlagPSH || p.Broadcast {
				t.Errorf("payload %d flags %v broadcast %v", p.Payload, p.TCPFlags, p.Broadcast)
			}
		}},
		{"tcp payload cut by the snap length", tcpFrame, 60, func(t *testing.T, p *Packet) {
			if p.Payload != 300 {
				t.Errorf("payload %d, want 300 from the IP header", p.Payload)
			}
		}},
		{"icmp port unreachable quoting a udp datagram", func(t *testing.T) []byte {
			ic := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeDestinationUnreachable, layers.ICMPv4CodePort)}
			return ser(t, eth(gw, mac, layers.EthernetTypeIPv4), ipv4(layers.IPProtocolICMPv4, s, c), ic, gopacket.Payload(quoted(t)))
		}, 0, func(t *testing.T, p *Packet) {
			want := conntrack.Quote{Src: netip.MustParseAddr("10.0.0.15"), Dst: netip.MustParseAddr("10.0.1.7"),
				SrcPort: 36679, DstPort: 9999, Proto: afterimage.ProtoUDP, OK: true}
			if p.ICMP.Kind != conntrack.ICMPUnreachable || p.ICMP.Quoted != want {
				t.Errorf("icmp %+v, want unreachable quoting %+v", p.ICMP, want)
			}
		}},
		{"icmp echo request", func(t *testing.T) []byte {
			ic := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 1, Seq: 1}
			return ser(t, eth(mac, gw, layers.EthernetTypeIPv4), ipv4(layers.IPProtocolICMPv4, c, s), ic)
		}, 0, func(t *testing.T, p *Packet) {
			if p.ICMP.Kind != conntrack.ICMPEchoRequest {
				t.Errorf("icmp %+v", p.ICMP)
			}
		}},
		{"arp reply", func(t *testing.T) []byte {
			a := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
				Operation: layers.ARPReply, SourceHwAddress: gw, SourceProtAddress: s, DstHwAddress: mac, DstProtAddress: c}
			return ser(t, eth(gw, mac, layers.EthernetTypeARP), a)
		}, 0, func(t *testing.T, p *Packet) {
			if !p.ARPReply || p.Proto != afterimage.ProtoARP || p.Broadcast {
				t.Errorf("arp reply %v proto %v broadcast %v", p.ARPReply, p.Proto, p.Broadcast)
			}
		}},
		{"udp to the link-layer broadcast", func(t *testing.T) []byte {
			ip := ipv4(layers.IPProtocolUDP, c, net.IP{10, 0, 255, 255})
			udp := &layers.UDP{SrcPort: 40000, DstPort: 9}
			_ = udp.SetNetworkLayerForChecksum(ip)
			return ser(t, eth(mac, bcast, layers.EthernetTypeIPv4), ip, udp, gopacket.Payload(make([]byte, 10)))
		}, 0, func(t *testing.T, p *Packet) {
			if !p.Broadcast || p.Payload != 10 {
				t.Errorf("broadcast %v payload %d", p.Broadcast, p.Payload)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := tt.frame(t)
			length := len(data)
			if tt.cut > 0 {
				data = data[:tt.cut]
			}
			f := Frame{Number: 1, Data: data, LinkType: layers.LinkTypeEthernet,
				Info: gopacket.CaptureInfo{Timestamp: time.Unix(1, 0), CaptureLength: len(data), Length: length}}
			var p Packet
			if !newDecoder().decode(&f, &p) {
				t.Fatal("not decoded")
			}
			tt.check(t, &p)
		})
	}
}
