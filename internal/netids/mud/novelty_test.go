package mud

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/wardproject/ward/internal/netids"
)

// frames builds Ethernet frames with gopacket and runs them through a
// sensor.
type frames struct {
	t   *testing.T
	s   *netids.Sensor
	n   uint64
	buf gopacket.SerializeBuffer
}

func (f *frames) send(at float64, src, dst string, l4 gopacket.SerializableLayer, payload gopacket.SerializableLayer) netids.Result {
	f.t.Helper()
	sip, dip := net.ParseIP(src).To4(), net.ParseIP(dst).To4()
	proto := layers.IPProtocolTCP
	if _, ok := l4.(*layers.UDP); ok {
		proto = layers.IPProtocolUDP
	}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: sip, DstIP: dip}
	switch l := l4.(type) {
	case *layers.TCP:
		_ = l.SetNetworkLayerForChecksum(ip)
	case *layers.UDP:
		_ = l.SetNetworkLayerForChecksum(ip)
	}
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{0, 0xaa, 0, 0, 0, sip[3]}, DstMAC: net.HardwareAddr{0, 0xaa, 0, 0, 0, dip[3]}, EthernetType: layers.EthernetTypeIPv4}
	ls := []gopacket.SerializableLayer{eth, ip, l4}
	if payload != nil {
		ls = append(ls, payload)
	}
	if err := gopacket.SerializeLayers(f.buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		f.t.Fatal(err)
	}
	f.n++
	b := bytes.Clone(f.buf.Bytes())
	r, err := f.s.Process(f.t.Context(), &netids.Frame{Number: f.n, Data: b, LinkType: layers.LinkTypeEthernet,
		Info: gopacket.CaptureInfo{Timestamp: time.Unix(1796516692, 0).Add(time.Duration(at * float64(time.Second))), CaptureLength: len(b), Length: len(b)}})
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

// TestPolicyNovelty: with a MUD profile, the sensor's novelty term is the
// profile's verdict, not the services learnt. A camera infected before the
// sensor learnt (its IRC C&C connection is in the learnt profile) gets
// novelty on that connection because its MUD profile does not allow it;
// a new address of its cloud name, never learnt, gets none because the
// profile allows it. Without the profile the learnt one decides, the other
// way round.
func TestPolicyNovelty(t *testing.T) {
	const cam, gw, cloud1, cloud2, cnc = "192.168.1.20", "192.168.1.1", "52.1.2.3", "52.1.2.4", "185.244.25.235"
	for _, withMUD := range []bool{true, false} {
		opts := netids.Options{Learn: 400}
		if withMUD {
			c := netip.MustParseAddr(cam)
			pl, err := NewPolicy(Options{Profiles: map[string]*Profile{"camera-x1": load(t)},
				Lookup: func(_ [6]byte, ip netip.Addr) (string, bool) { return "camera-x1", ip == c }})
			if err != nil {
				t.Fatal(err)
			}
			opts.Inspectors = []netids.Inspector{pl}
		}
		s, err := netids.New(opts)
		if err != nil {
			t.Fatal(err)
		}
		f := &frames{t: t, s: s, buf: gopacket.NewSerializeBuffer()}
		dns := func(at float64, addr string) {
			f.send(at, gw, cam, &layers.UDP{SrcPort: 53, DstPort: 40053}, &layers.DNS{ID: 1, QR: true,
				Questions: []layers.DNSQuestion{{Name: []byte("cloud.example.com"), Type: layers.DNSTypeA, Class: layers.DNSClassIN}},
				Answers:   []layers.DNSResourceRecord{{Name: []byte("cloud.example.com"), Type: layers.DNSTypeA, Class: layers.DNSClassIN, TTL: 60, IP: net.ParseIP(addr).To4()}}})
		}
		port := layers.TCPPort(40000)
		// conn runs a short TCP connection and returns the result of the
		// client's first packet after the handshake.
		conn := func(at float64, server string, dp layers.TCPPort) netids.Result {
			port++
			f.send(at, cam, server, &layers.TCP{SrcPort: port, DstPort: dp, SYN: true, Window: 1024}, nil)
			f.send(at+0.01, server, cam, &layers.TCP{SrcPort: dp, DstPort: port, SYN: true, ACK: true, Window: 1024}, nil)
			return f.send(at+0.02, cam, server, &layers.TCP{SrcPort: port, DstPort: dp, ACK: true, PSH: true, Window: 1024}, gopacket.Payload("data"))
		}
		at := 0.0
		dns(at, cloud1)
		for f.n < 420 { // learning: the cloud and, already, the C&C
			conn(at, cloud1, 443)
			conn(at+1, cnc, 6667)
			at += 10
		}
		dns(at, cloud2)
		toCloud2 := conn(at+1, cloud2, 443)
		toCNC := conn(at+2, cnc, 6667)
		if toCloud2.Learning || toCNC.Learning {
			t.Fatal("still learning")
		}
		nc, nn := toCloud2.Evidence[netids.TermNovelty], toCNC.Evidence[netids.TermNovelty]
		if withMUD && (nc != 0 || nn != 1) || !withMUD && (nc != 1 || nn != 0) {
			t.Errorf("MUD profile %v: novelty of the cloud's new address %v, of the learnt C&C %v", withMUD, nc, nn)
		}
	}
}
