package netids

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// FuzzCapture feeds arbitrary bytes through the capture reader, decoder,
// features and detector: it must never panic, and every failure must be
// io.EOF or a *CaptureError naming a packet after the ones returned.
func FuzzCapture(f *testing.F) {
	for _, name := range []string{"small.pcap", "small.pcapng"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
		if name == "small.pcap" {
			// The same frames under every other link type decoded: the
			// link-type field of the little-endian pcap header is at 20.
			for _, lt := range []uint32{0, 101, 108, 113, 228, 229, 276} {
				c := bytes.Clone(b)
				binary.LittleEndian.PutUint32(c[20:], lt)
				f.Add(c)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReader(bytes.NewReader(data), FileOptions{MaxPacket: 4096})
		if err != nil {
			return
		}
		s, err := New(Options{Learn: 20, FMGrace: 5})
		if err != nil {
			t.Fatal(err)
		}
		n := uint64(0)
		for {
			fr, err := r.Next()
			if err != nil {
				var ce *CaptureError
				if !errors.Is(err, io.EOF) && !(errors.As(err, &ce) && ce.Packet == n+1) {
					t.Fatalf("after %d packets: unexpected error %v", n, err)
				}
				return
			}
			n++
			if fr.Number != n {
				t.Fatalf("packet %d numbered %d", n, fr.Number)
			}
			if _, err := s.Process(context.Background(), &fr); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// FuzzFrame fuzzes one frame's bytes behind a valid capture, so that the
// mutations reach the decoder's parsers (Ethernet, 802.1Q, Linux cooked,
// IPv4/IPv6, TCP with its payload, UDP, DNS answers, ICMP errors and the
// packet they quote, ARP) and the tracker, evidence and IRC recogniser
// behind them, instead of breaking the file's framing. Seeds are frames
// of each kind built with gopacket. The frame is processed six times (four
// learning, two scored): never a panic, never an error.
func FuzzFrame(f *testing.F) {
	for _, s := range fuzzFrameSeeds(f) {
		f.Add(s.lt, s.data)
	}
	f.Fuzz(func(t *testing.T, lt uint8, data []byte) {
		s, err := New(Options{Learn: 4, FMGrace: 1, Calibrate: 1})
		if err != nil {
			t.Fatal(err)
		}
		link := []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL, layers.LinkTypeRaw, layers.LinkTypeNull}[int(lt)%4]
		for i := range 6 {
			fr := Frame{Number: uint64(i + 1), Data: data, LinkType: link,
				Info: gopacket.CaptureInfo{Timestamp: time.Unix(1700000000+int64(i), 0), CaptureLength: len(data), Length: len(data)}}
			if _, err := s.Process(t.Context(), &fr); err != nil {
				t.Fatal(err)
			}
		}
	})
}

type fuzzSeed struct {
	lt   uint8
	data []byte
}

func fuzzFrameSeeds(tb testing.TB) []fuzzSeed {
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	a, b := net.IPv4(192, 168, 1, 10).To4(), net.IPv4(192, 168, 1, 1).To4()
	eth := func(t layers.EthernetType) *layers.Ethernet {
		return &layers.Ethernet{SrcMAC: net.HardwareAddr{0, 1, 2, 3, 4, 5}, DstMAC: net.HardwareAddr{0, 1, 2, 3, 4, 6}, EthernetType: t}
	}
	ip4 := func(p layers.IPProtocol) *layers.IPv4 {
		return &layers.IPv4{Version: 4, TTL: 64, Protocol: p, SrcIP: a, DstIP: b}
	}
	ser := func(ls ...gopacket.SerializableLayer) []byte {
		for _, l := range ls {
			switch l := l.(type) {
			case *layers.TCP:
				for _, n := range ls {
					if nl, ok := n.(gopacket.NetworkLayer); ok {
						_ = l.SetNetworkLayerForChecksum(nl)
					}
				}
			case *layers.UDP:
				for _, n := range ls {
					if nl, ok := n.(gopacket.NetworkLayer); ok {
						_ = l.SetNetworkLayerForChecksum(nl)
					}
				}
			}
		}
		if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
			tb.Fatal(err)
		}
		return bytes.Clone(buf.Bytes())
	}
	irc := ser(eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), &layers.TCP{SrcPort: 40000, DstPort: 2407, ACK: true, PSH: true, Window: 1024},
		gopacket.Payload("NICK A5|1|x\nUSER muhstik localhost localhost :muhstik\n"))
	syn := ser(&layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: b, DstIP: a}, &layers.TCP{SrcPort: 40000, DstPort: 23, SYN: true, Window: 1024})
	unreach := ser(eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeDestinationUnreachable, layers.ICMPv4CodePort)}, gopacket.Payload(syn[:28]))
	dns := &layers.DNS{ID: 1, QR: true, Questions: []layers.DNSQuestion{{Name: []byte("cnc.example"), Type: layers.DNSTypeA, Class: layers.DNSClassIN}},
		Answers: []layers.DNSResourceRecord{{Name: []byte("cnc.example"), Type: layers.DNSTypeA, Class: layers.DNSClassIN, TTL: 60, IP: net.IPv4(203, 0, 113, 9)}}}
	dnsFrame := ser(eth(layers.EthernetTypeIPv4), &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: b, DstIP: a}, &layers.UDP{SrcPort: 53, DstPort: 40001}, dns)
	arp := ser(eth(layers.EthernetTypeARP), &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: layers.ARPReply, SourceHwAddress: []byte{0, 1, 2, 3, 4, 5}, SourceProtAddress: a, DstHwAddress: []byte{0, 1, 2, 3, 4, 6}, DstProtAddress: b})
	v6 := ser(eth(layers.EthernetTypeIPv6), &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP, SrcIP: net.ParseIP("fe80::1"), DstIP: net.ParseIP("fe80::2")},
		&layers.UDP{SrcPort: 5353, DstPort: 5353}, gopacket.Payload("x"))
	vlan := ser(eth(layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 7, Type: layers.EthernetTypeIPv4}, ip4(layers.IPProtocolTCP), &layers.TCP{SrcPort: 40002, DstPort: 80, SYN: true, Window: 1024})
	// Linux cooked capture v1 (gopacket cannot serialise it): packet
	// type, ARPHRD_ETHER, address length 6, the address, IPv4.
	sll := append([]byte{0, 4, 0, 1, 0, 6, 0, 1, 2, 3, 4, 5, 0, 0, 8, 0}, ser(ip4(layers.IPProtocolTCP),
		&layers.TCP{SrcPort: 40003, DstPort: 1883, ACK: true, PSH: true, Window: 1024}, gopacket.Payload("\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c"))...)
	return []fuzzSeed{{0, irc}, {0, unreach}, {0, dnsFrame}, {0, arp}, {0, v6}, {0, vlan}, {1, sll}, {2, syn}, {3, []byte{2, 0, 0, 0}}}
}
