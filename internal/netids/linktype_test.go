package netids

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// ipTCP serializes an IPv4 TCP SYN 10.0.0.5:40000 -> 10.0.0.9:23.
func ipTCP(t *testing.T) []byte {
	t.Helper()
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP,
		SrcIP: net.IPv4(10, 0, 0, 5), DstIP: net.IPv4(10, 0, 0, 9)}
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 23, SYN: true, Window: 1024}
	tcp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ip, tcp); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestLinkTypes decodes the same TCP SYN behind every link-layer header a
// capture from tcpdump, Wireshark or a BSD/macOS host commonly has.
func TestLinkTypes(t *testing.T) {
	pkt := ipTCP(t)
	mac := []byte{0x02, 0, 0, 0, 0, 0x05}
	le := binary.LittleEndian.AppendUint32(nil, 2) // AF_INET, host order
	be := binary.BigEndian.AppendUint32(nil, 2)    // DLT_LOOP: network order
	sll := append([]byte{0, 0, 0, 1, 0, 6}, append(append([]byte{}, mac...), 0, 0, 0x08, 0x00)...)
	sll2 := append([]byte{0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6}, append(append([]byte{}, mac...), 0, 0)...)
	eth := append(append(append([]byte{0x02, 0, 0, 0, 0, 0x09}, mac...), 0x81, 0x00, 0x00, 0x0a, 0x08, 0x00), pkt...) // 802.1Q VLAN 10
	tests := []struct {
		name    string
		lt      layers.LinkType
		frame   []byte
		wantMAC bool
	}{
		{"ethernet-vlan", layers.LinkTypeEthernet, eth, true},
		{"linux-sll", layers.LinkTypeLinuxSLL, append(sll, pkt...), true},
		{"linux-sll2", layers.LinkTypeLinuxSLL2, append(sll2, pkt...), true},
		{"raw", layers.LinkTypeRaw, pkt, false},
		{"null", layers.LinkTypeNull, append(le, pkt...), false},
		{"loop", layers.LinkTypeLoop, append(be, pkt...), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			w := pcapgo.NewWriter(&b)
			if err := w.WriteFileHeader(65535, tt.lt); err != nil {
				t.Fatal(err)
			}
			ci := gopacket.CaptureInfo{Timestamp: time.Unix(1700000000, 0), CaptureLength: len(tt.frame), Length: len(tt.frame)}
			if err := w.WritePacket(ci, tt.frame); err != nil {
				t.Fatal(err)
			}
			r, err := NewReader(&b, FileOptions{})
			if err != nil {
				t.Fatalf("NewReader: %v", err)
			}
			f, err := r.Next()
			if err != nil {
				t.Fatal(err)
			}
			var p Packet
			if !newDecoder().decode(&f, &p) {
				t.Fatalf("link type %s not decoded", tt.lt)
			}
			if p.SrcIP != netip.MustParseAddr("10.0.0.5") || p.DstIP != netip.MustParseAddr("10.0.0.9") ||
				p.SrcPort != 40000 || p.DstPort != 23 || p.TCPFlags != FlagSYN {
				t.Errorf("decoded %v:%d -> %v:%d flags %b", p.SrcIP, p.SrcPort, p.DstIP, p.DstPort, p.TCPFlags)
			}
			if got := bytes.Equal(p.SrcMAC[:], mac); got != tt.wantMAC {
				t.Errorf("source MAC %x, want it taken from the link header: %v", p.SrcMAC, tt.wantMAC)
			}
		})
	}
}

func TestUnsupportedLinkTypeRefused(t *testing.T) {
	var b bytes.Buffer
	w := pcapgo.NewWriter(&b)
	if err := w.WriteFileHeader(65535, layers.LinkTypeIEEE80211Radio); err != nil {
		t.Fatal(err)
	}
	_, err := NewReader(&b, FileOptions{})
	if !errors.Is(err, ErrLinkType) {
		t.Fatalf("NewReader of an 802.11 radiotap capture: %v, want ErrLinkType", err)
	}
	t.Log(err)
}
