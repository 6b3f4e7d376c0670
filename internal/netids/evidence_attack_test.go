package netids

import (
	"bytes"
	"math"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/wardproject/ward/internal/netids/conntrack"
	"github.com/wardproject/ward/internal/netids/kitnet"
)

func TestIRCCommands(t *testing.T) {
	tests := []struct {
		name string
		data string
		want uint32
	}{
		{"registration in one segment", "NICK A5|1|5358668|black-pe\nUSER muhstik localhost localhost :muhstik-11052018\n", markIRC},
		{"CRLF and lower case", "nick bot\r\nuser a b c :d e\r\n", markIRC},
		{"NICK alone", "NICK [ARM4T|PCVREB]\n", markIRCNick},
		{"FTP USER has one parameter", "USER anonymous\r\n", 0},
		{"HTTP header", "GET / HTTP/1.1\r\nUser-Agent: NICK bot\r\nHost: x\r\n\r\n", 0},
		{"no space after the command", "NICKNAME x\nUSERS a b c d\n", 0},
		{"binary", "\x10\x1e\x00\x04MQTT\x04\x02\x00<\x00\x04NICK", 0},
		{"beyond 512 bytes", string(bytes.Repeat([]byte{'x'}, 600)) + "\nNICK a\nUSER a b c d\n", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ircCommands([]byte(tt.data)); got != tt.want {
				t.Errorf("ircCommands = %b, want %b", got, tt.want)
			}
		})
	}
}

// frameSender builds Ethernet frames with gopacket and runs them through a sensor (TestIRCTerm, TestFloodTerm).
type frameSender struct {
	t   *testing.T
	s   *Sensor
	n   uint64
	buf gopacket.SerializeBuffer
}

// tcp sends one TCP segment at second at and returns the evidence of its
// connection.
func (f *frameSender) tcp(at float64, src, dst string, sp, dp uint16, flags string, data string) Evidence {
	f.t.Helper()
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sp), DstPort: layers.TCPPort(dp), Window: 1024, Seq: 1}
	for _, c := range flags {
		switch c {
		case 'S':
			tcp.SYN = true
		case 'A':
			tcp.ACK = true
		case 'P':
			tcp.PSH = true
		case 'R':
			tcp.RST = true
		}
	}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
	_ = tcp.SetNetworkLayerForChecksum(ip)
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{0, 0xaa, 0, 0, 0, ip.SrcIP[3]}, DstMAC: net.HardwareAddr{0, 0xaa, 0, 0, 0, ip.DstIP[3]}, EthernetType: layers.EthernetTypeIPv4}
	if err := gopacket.SerializeLayers(f.buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp, gopacket.Payload(data)); err != nil {
		f.t.Fatal(err)
	}
	f.n++
	b := bytes.Clone(f.buf.Bytes())
	r, err := f.s.Process(f.t.Context(), &Frame{Number: f.n, Data: b, LinkType: layers.LinkTypeEthernet,
		Info: gopacket.CaptureInfo{Timestamp: evT0.Add(time.Duration(at * float64(time.Second))), CaptureLength: len(b), Length: len(b)}})
	if err != nil {
		f.t.Fatal(err)
	}
	return r.Evidence
}

// TestIRCTerm performs the Muhstik bot's command-and-control (IoT-23 3-1)
// on synthetic frames: it registers on an IRC server on port 2407, then
// rotates to other servers on the same port, one of which never answers.
// Its registration connection and the later attempts carry TermIRC, at a
// high severity; a benign device's HTTPS and an IRC server talking to a
// client do not.
func TestIRCTerm(t *testing.T) {
	s, err := New(Options{Learn: 1000})
	if err != nil {
		t.Fatal(err)
	}
	f := &frameSender{t: t, s: s, buf: gopacket.NewSerializeBuffer()}
	const bot, cc1, cc2, dead = "192.168.2.5", "111.230.241.23", "54.39.23.28", "185.47.129.56"
	// a benign device's HTTPS with "NICK"-like text going down to it
	f.tcp(0, "192.168.2.9", "52.1.2.3", 40000, 443, "S", "")
	f.tcp(0.1, "52.1.2.3", "192.168.2.9", 443, 40000, "SA", "")
	f.tcp(0.2, "192.168.2.9", "52.1.2.3", 40000, 443, "AP", "GET / HTTP/1.1\r\nUser-Agent: x\r\n\r\n")
	if e := f.tcp(0.3, "52.1.2.3", "192.168.2.9", 443, 40000, "AP", "NICK a\nUSER a b c :d\n"); e[TermIRC] != 0 {
		t.Errorf("a server's text to its client counted as the client's IRC registration: %v", e)
	}
	// the bot: handshake, registration split over two segments
	f.tcp(1, bot, cc1, 45623, 2407, "S", "")
	f.tcp(1.2, cc1, bot, 2407, 45623, "SA", "")
	if e := f.tcp(1.3, bot, cc1, 45623, 2407, "AP", "NICK A5|1|5358668|black-pe\n"); e[TermIRC] != 0 {
		t.Errorf("NICK alone: %v", e)
	}
	e := f.tcp(1.4, bot, cc1, 45623, 2407, "AP", "USER muhstik localhost localhost :muhstik-11052018\n")
	if e[TermIRC] != 1 {
		t.Fatalf("after NICK and USER: TermIRC %v, want 1", e[TermIRC])
	}
	o := DefaultEvidence()
	if o.Fuse(&e) <= o.Threshold || o.Severity(&e) != SeverityHigh {
		t.Errorf("registration: fused %.2f, severity %v; want above %.2f and high", o.Fuse(&e), o.Severity(&e), o.Threshold)
	}
	// 25 minutes later the C&C channel is still the C&C channel
	if e := f.tcp(1500, cc1, bot, 2407, 45623, "AP", "PING :x4.tipu\r\n"); e[TermIRC] != 1 {
		t.Errorf("the registered connection later: TermIRC %v, want 1", e[TermIRC])
	}
	// rotation 30 min after the registration: a new server on the same port, a dead one too
	if e := f.tcp(1800, bot, cc2, 51638, 2407, "S", ""); e[TermIRC] < 0.7 || o.Fuse(&e) <= o.Threshold {
		t.Errorf("another C&C server on the same port: %v (fused %.2f), want TermIRC ≥ 0.7 and above the threshold", e, o.Fuse(&e))
	}
	if e := f.tcp(1801, bot, dead, 53935, 2407, "S", ""); e[TermIRC] < 0.7 {
		t.Errorf("an unanswered attempt on the same port: %v", e)
	}
	// the bot's other services are not C&C
	if e := f.tcp(1802, bot, "192.168.2.1", 51000, 53, "S", ""); e[TermIRC] != 0 {
		t.Errorf("another port of the bot: %v", e)
	}
}

// TestFloodTerm performs the Gafgyt HTTP GET flood of netns-gafgyt-sim on
// synthetic frames: a door sensor that opened an MQTT connection every
// 4 s while the sensor learnt then opens 120 sockets a second to one web
// server (SYN, SYN-ACK, GET, response), an answered, proven connection.
// TermFlood reaches 1 within a second and makes a high incident; the
// device's own MQTT rhythm and a burst of 15 requests at once do not.
func TestFloodTerm(t *testing.T) {
	const learn = 1200
	s, err := New(Options{Learn: learn})
	if err != nil {
		t.Fatal(err)
	}
	f := &frameSender{t: t, s: s, buf: gopacket.NewSerializeBuffer()}
	const dev, broker, web, phone = "10.88.0.15", "10.88.0.1", "10.88.1.50", "10.88.0.60"
	port := uint16(33000)
	// sock runs one short connection (4 packets) from src to dst:dp at
	// time at and returns the evidence of its last packet.
	sock := func(at float64, src, dst string, dp uint16, req string) Evidence {
		port++
		f.tcp(at, src, dst, port, dp, "S", "")
		f.tcp(at+0.001, dst, src, dp, port, "SA", "")
		f.tcp(at+0.002, src, dst, port, dp, "AP", req)
		return f.tcp(at+0.003, dst, src, dp, port, "AP", "ok")
	}
	at := 0.0
	for f.n < learn+40 { // learning, then 10 sockets scored
		sock(at, dev, broker, 1883, "\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c")
		at += 4
	}
	if s.det.Phase() != kitnet.PhaseExecuting || s.clients[netip.MustParseAddr(dev)].peakAttempts == 0 {
		t.Fatalf("the device's profile was not learnt")
	}
	if e := sock(at, dev, broker, 1883, "\x10"); e[TermFlood] != 0 {
		t.Errorf("the device's own MQTT rhythm: flood %v", e[TermFlood])
	}
	// a phone loading a page: 15 requests at once to one server
	var e Evidence
	for i := 0; i < 15; i++ {
		e = sock(at+1+float64(i)*0.01, phone, web, 80, "GET / HTTP/1.1\r\n\r\n")
	}
	if e[TermFlood] != 0 {
		t.Errorf("15 requests at once: flood %v", e[TermFlood])
	}
	// the flood: 120 sockets/s to the web server
	o := DefaultEvidence()
	start := at + 60
	for i := 0; i < 120; i++ {
		e = sock(start+float64(i)/120, dev, web, 80, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
	}
	if e[TermFlood] != 1 || o.Fuse(&e) <= o.Threshold || o.Severity(&e) != SeverityHigh {
		t.Errorf("HTTP GET flood after 1 s: %v, fused %.2f, severity %v; want flood 1, a high incident", e, o.Fuse(&e), o.Severity(&e))
	}
	// (The learned detector, trained on this toy traffic, also raises the
	// new web server; only the flood makes the incident high.)
	high := false
	for _, in := range s.Incidents() {
		high = high || in.Host == netip.MustParseAddr(dev) && in.Severity == SeverityHigh
	}
	if !high {
		t.Errorf("incidents %+v: want a high one of the flooding device", s.Incidents())
	}
}

func TestBeat(t *testing.T) {
	tests := []struct {
		name        string
		at          []float64
		ok          bool
		period, reg float64 // wanted, ±0.05 relative
	}{
		{"too few attempts", []float64{0, 60, 120, 180}, false, 0, 0},
		{"a clock", []float64{0, 60, 120, 180, 240, 300}, true, 60, 1},
		{"jittered ±10 s", []float64{0, 50, 120, 170, 240, 290, 360}, true, 60, 0.8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m conntrack.Mark
			for _, at := range tt.at {
				beatObserve(&m, at)
			}
			p, r, ok := beat(&m)
			if ok != tt.ok || ok && (math.Abs(p-tt.period) > 0.05*tt.period+3 || math.Abs(r-tt.reg) > 0.1) {
				t.Errorf("beat = %.2f s, regularity %.2f, %v; want %v s, %v, %v", p, r, ok, tt.period, tt.reg, tt.ok)
			}
		})
	}
}

// TestBeatIsContext performs a bot calling a dead C&C every 60 s (a SYN
// from a new port each time, never answered) beside a benign device's
// NTP-like query every 64 s to its server, on gopacket-built frames. The
// bot's incident flow carries the period as context; the benign, more
// regular device raises nothing: periodicity is never evidence.
func TestBeatIsContext(t *testing.T) {
	s, err := New(Options{Learn: 400})
	if err != nil {
		t.Fatal(err)
	}
	f := &frameSender{t: t, s: s, buf: gopacket.NewSerializeBuffer()}
	const bot, dead, dev, srv = "192.168.1.66", "203.0.113.9", "192.168.1.10", "192.168.1.1"
	port := uint16(40000)
	at := 0.0
	for f.n < 400 { // learning: both hosts poll the server every 64 s
		port++
		f.tcp(at, dev, srv, port, 80, "S", "")
		f.tcp(at+0.01, srv, dev, 80, port, "SA", "")
		f.tcp(at+0.5, bot, srv, port, 80, "S", "")
		f.tcp(at+0.51, srv, bot, 80, port, "SA", "")
		at += 64
	}
	for i := 0; i < 12; i++ {
		port++
		f.tcp(at+float64(i)*64, dev, srv, port, 80, "S", "")
		f.tcp(at+float64(i)*64+0.01, srv, dev, 80, port, "SA", "")
		f.tcp(at+float64(i)*60+1, bot, dead, port, 6667, "S", "")
	}
	var botFlow *IncidentFlow
	for _, in := range s.Incidents() {
		if in.Host == netip.MustParseAddr(dev) {
			t.Errorf("the periodic benign device has an incident: %+v", in)
		}
		for i, fl := range in.Flows {
			if fl.Flow.Dst == netip.MustParseAddr(dead) {
				botFlow = &in.Flows[i]
			}
		}
	}
	if botFlow == nil || math.Abs(botFlow.Period-60) > 3 || botFlow.Regularity < 0.9 {
		t.Fatalf("the bot's incident flow %+v: want period ≈ 60 s, regularity ≥ 0.9", botFlow)
	}
	if strings.Contains(botFlow.Evidence, "period") {
		t.Errorf("periodicity became evidence: %q", botFlow.Evidence)
	}
}
