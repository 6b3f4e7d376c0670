package netids

import (
	"bytes"
	"flag"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// updating reports whether -update (defined by wardtest, linked into this
// test binary) asks to rewrite testdata files.
func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// synthPackets returns a deterministic synthetic capture: n packets of a
// quiet IoT network (a few devices polling a cloud server and DNS), then,
// if scan is set, a port scan from a new host.
func synthPackets(t testing.TB, n int, scan bool) [][]byte {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	gw := net.HardwareAddr{0, 0x11, 0x22, 0x33, 0x44, 0x01}
	var out [][]byte
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	mk := func(srcMAC, dstMAC net.HardwareAddr, src, dst net.IP, l4 gopacket.SerializableLayer, payload int) []byte {
		eth := &layers.Ethernet{SrcMAC: srcMAC, DstMAC: dstMAC, EthernetType: layers.EthernetTypeIPv4}
		proto := layers.IPProtocolUDP
		if tcp, ok := l4.(*layers.TCP); ok {
			proto = layers.IPProtocolTCP
			_ = tcp
		}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: src, DstIP: dst}
		switch l := l4.(type) {
		case *layers.TCP:
			_ = l.SetNetworkLayerForChecksum(ip)
		case *layers.UDP:
			_ = l.SetNetworkLayerForChecksum(ip)
		}
		if err := gopacket.SerializeLayers(buf, opts, eth, ip, l4, gopacket.Payload(make([]byte, payload))); err != nil {
			t.Fatal(err)
		}
		return bytes.Clone(buf.Bytes())
	}
	cloud := net.IPv4(52, 1, 2, 3).To4()
	for i := 0; len(out) < n; i++ {
		dev := byte(10 + i%4)
		mac := net.HardwareAddr{0, 0xaa, 0, 0, 0, dev}
		ip := net.IPv4(192, 168, 1, dev).To4()
		switch i % 3 {
		case 0, 1:
			sport := layers.TCPPort(40000 + int(dev))
			out = append(out, mk(mac, gw, ip, cloud, &layers.TCP{SrcPort: sport, DstPort: 443, PSH: true, ACK: true, Window: 1024}, 100+rng.IntN(20)))
			out = append(out, mk(gw, mac, cloud, ip, &layers.TCP{SrcPort: 443, DstPort: sport, ACK: true, Window: 1024}, 60+rng.IntN(20)))
		case 2:
			out = append(out, mk(mac, gw, ip, net.IPv4(192, 168, 1, 1).To4(), &layers.UDP{SrcPort: 5353, DstPort: 53}, 40))
		}
	}
	if scan {
		mac := net.HardwareAddr{0, 0xbb, 0, 0, 0, 0x66}
		ip := net.IPv4(192, 168, 1, 66).To4()
		for p := 1; p <= 200; p++ {
			out = append(out, mk(mac, gw, ip, net.IPv4(192, 168, 1, 10).To4(), &layers.TCP{SrcPort: 55555, DstPort: layers.TCPPort(p), SYN: true, Window: 1024}, 0))
		}
	}
	return out
}

// writeSynth writes packets as pcap (ng=false) or pcapng, 10 ms apart.
func writeSynth(t testing.TB, path string, pkts [][]byte, ng bool) {
	t.Helper()
	var b bytes.Buffer
	start := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	var write func(gopacket.CaptureInfo, []byte) error
	if ng {
		w, err := pcapgo.NewNgWriter(&b, layers.LinkTypeEthernet)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { w.Flush(); os.WriteFile(path, b.Bytes(), 0o644) }()
		write = w.WritePacket
	} else {
		w := pcapgo.NewWriter(&b)
		if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
			t.Fatal(err)
		}
		defer func() { os.WriteFile(path, b.Bytes(), 0o644) }()
		write = w.WritePacket
	}
	for i, p := range pkts {
		ci := gopacket.CaptureInfo{Timestamp: start.Add(time.Duration(i) * 10 * time.Millisecond), CaptureLength: len(p), Length: len(p)}
		if err := write(ci, p); err != nil {
			t.Fatal(err)
		}
	}
}

// TestWriteTestdata regenerates testdata/small.pcap{,ng} with -update.
func TestWriteTestdata(t *testing.T) {
	if !updating() {
		t.Skip("run with -update to regenerate testdata/small.pcap and small.pcapng")
	}
	pkts := synthPackets(t, 40, false)
	writeSynth(t, filepath.Join("testdata", "small.pcap"), pkts, false)
	writeSynth(t, filepath.Join("testdata", "small.pcapng"), pkts, true)
}
