package netids

import (
	"context"
	"math"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wardproject/ward/internal/netids/afterimage"
	"github.com/wardproject/ward/internal/netids/conntrack"
	"github.com/wardproject/ward/internal/netids/kitnet"
)

func TestFuse(t *testing.T) {
	o := EvidenceOptions{}
	o.defaults()
	tests := []struct {
		name string
		e    Evidence
		want float64
	}{
		{"nothing", Evidence{}, 0},
		{"learned alone is capped by its weight", Evidence{TermLearned: 1}, 0.6},
		{"novelty alone stays info", Evidence{TermNovelty: 1}, 0.3},
		{"noisy-OR of two", Evidence{TermFailed: 1, TermLearned: 1}, 1 - 0.1*0.4},
		{"out-of-range and NaN terms are clipped", Evidence{TermDrift: 7, TermRule: math.NaN()}, 0.4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := o.Fuse(&tt.e); math.Abs(got-tt.want) > 1e-12 {
				t.Errorf("Fuse = %v, want %v", got, tt.want)
			}
		})
	}
	off := o
	off.Off[TermLearned] = true
	if got := off.Fuse(&Evidence{TermLearned: 1}); got != 0 {
		t.Errorf("a term switched off still counts: %v", got)
	}
	if got := o.Severity(&Evidence{TermNovelty: 1, TermDrift: 1}); got != SeverityMedium {
		t.Errorf("novelty and drift: severity %v, want medium", got)
	}
	if got := o.Severity(&Evidence{TermFanOut: 0.5}); got != SeverityHigh {
		t.Errorf("fan-out: severity %v, want high", got)
	}
}

// evSensor is a sensor past learning (no detector input needed): the
// tests drive its tracker and evidence directly with crafted packets.
type evSensor struct {
	*Sensor
	t *testing.T
}

func newEvSensor(t *testing.T) evSensor {
	s, err := New(Options{Learn: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return evSensor{s, t}
}

var (
	evT0     = time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	evClient = netip.MustParseAddr("10.0.0.15")
	evServer = netip.MustParseAddr("10.0.0.1")
	evDead   = netip.MustParseAddr("203.0.113.9")
)

// pkt runs one crafted packet through the tracker and evidence, with the
// detector's raw score raw, as a scored packet when executing.
func (es evSensor) pkt(at float64, src netip.Addr, sp uint16, dst netip.Addr, dp uint16, proto afterimage.Proto, flags TCPFlags, payload int, raw float64, executing bool) (Evidence, *conntrack.Conn) {
	p := &Packet{TCPFlags: flags, Payload: payload}
	p.Time = evT0.Add(time.Duration(at * float64(time.Second)))
	p.SrcIP, p.DstIP, p.SrcPort, p.DstPort, p.Proto = src, dst, sp, dp, proto
	s := es.Sensor
	s.emit = func(a Alert) { _ = s.send(a) }
	ev := s.track(p)
	s.emit = nil
	return s.evidence(p, ev, raw, 0, executing)
}

func TestEvidenceTerms(t *testing.T) {
	t.Run("slow failed handshakes to a dead server", func(t *testing.T) {
		es := newEvSensor(t)
		var e Evidence
		for i := 0; i < 5; i++ {
			e, _ = es.pkt(float64(i)*60, evClient, uint16(40000+i), evDead, 6667, afterimage.ProtoTCP, FlagSYN, 0, 0, true)
		}
		if e[TermFailed] < 0.7 || es.eo.Fuse(&e) <= 0.5 || es.eo.Severity(&e) != SeverityHigh {
			t.Errorf("evidence %v (fused %.2f): want failed handshakes high enough for a high incident", e, es.eo.Fuse(&e))
		}
	})
	t.Run("a resolver answering its clients gets no fan-out or burst", func(t *testing.T) {
		es := newEvSensor(t)
		for i := 0; i < 200; i++ {
			c := netip.AddrFrom4([4]byte{10, 0, 0, byte(20 + i%100)})
			es.pkt(float64(i)*0.05, c, uint16(50000+i), evServer, 53, afterimage.ProtoUDP, 0, 30, 0, true)
			e, conn := es.pkt(float64(i)*0.05+0.001, evServer, 53, c, uint16(50000+i), afterimage.ProtoUDP, 0, 90, 0, true)
			if conn == nil || conn.Client != c || e[TermFanOut] != 0 || e[TermBurst] != 0 {
				t.Fatalf("reply %d: connection %+v evidence %v; want the client's connection and no fan-out", i, conn, e)
			}
		}
		if _, ok := es.clients[evServer]; ok && es.clients[evServer].burst > 0 {
			t.Errorf("the resolver opened connections: burst %v", es.clients[evServer].burst)
		}
	})
	t.Run("fan-out and burst apply to unproven connections only", func(t *testing.T) {
		es := newEvSensor(t)
		// a proven connection: handshake, data both ways
		es.pkt(0, evClient, 41000, evServer, 80, afterimage.ProtoTCP, FlagSYN, 0, 0, true)
		es.pkt(0.01, evServer, 80, evClient, 41000, afterimage.ProtoTCP, FlagSYN|FlagACK, 0, 0, true)
		es.pkt(0.02, evClient, 41000, evServer, 80, afterimage.ProtoTCP, FlagACK, 100, 0, true)
		es.pkt(0.03, evServer, 80, evClient, 41000, afterimage.ProtoTCP, FlagACK, 1000, 0, true)
		// a scan: 60 refused ports of other hosts
		for i := 0; i < 60; i++ {
			h := netip.AddrFrom4([4]byte{10, 0, 1, byte(i)})
			es.pkt(1+float64(i)*0.1, evClient, uint16(42000+i), h, 23, afterimage.ProtoTCP, FlagSYN, 0, 0, true)
			es.pkt(1+float64(i)*0.1+0.01, h, 23, evClient, uint16(42000+i), afterimage.ProtoTCP, FlagRST|FlagACK, 0, 0, true)
		}
		e, _ := es.pkt(8, evClient, 43000, netip.MustParseAddr("10.0.1.200"), 23, afterimage.ProtoTCP, FlagSYN, 0, 0, true)
		if e[TermFanOut] < 0.9 || e[TermBurst] < 0.3 {
			t.Errorf("scan probe evidence %v: want fan-out and burst", e)
		}
		e, _ = es.pkt(8.1, evClient, 41000, evServer, 80, afterimage.ProtoTCP, FlagACK, 100, 0, true)
		if e[TermFanOut] != 0 || e[TermBurst] != 0 {
			t.Errorf("proven connection evidence %v: want no fan-out or burst", e)
		}
	})
	t.Run("learned score counts the client's packets only", func(t *testing.T) {
		es := newEvSensor(t)
		setCalibration(es.Sensor, 0.1)
		es.pkt(0, evClient, 41000, evServer, 80, afterimage.ProtoTCP, FlagSYN, 0, 0.05, true)
		e, _ := es.pkt(0.01, evServer, 80, evClient, 41000, afterimage.ProtoTCP, FlagSYN|FlagACK, 0, 0.9, true)
		if math.Abs(e[TermLearned]-0.05) > 1e-3 { // the client's own 0.05/0.1 · 0.1, decayed 10 ms
			t.Errorf("a server's packet moved the client's learned term: %v", e)
		}
		e, _ = es.pkt(0.02, evClient, 41000, evServer, 80, afterimage.ProtoTCP, FlagACK, 10, 0.3, true)
		if math.Abs(e[TermLearned]-1) > 1e-9 { // (0.3/0.1 − 1)/2
			t.Errorf("learned term %v, want 1", e[TermLearned])
		}
		e, _ = es.pkt(30.02, evClient, 41000, evServer, 80, afterimage.ProtoTCP, FlagACK, 10, 0, true)
		if math.Abs(e[TermLearned]-0.5) > 1e-9 {
			t.Errorf("learned term %v after one half-life, want 0.5", e[TermLearned])
		}
	})
	t.Run("rule hits cover the flows of their pattern", func(t *testing.T) {
		es := newEvSensor(t)
		target := netip.MustParseAddr("10.0.1.9")
		es.pkt(0, evClient, 41000, target, 80, afterimage.ProtoTCP, FlagSYN, 0, 0, true)
		es.pkt(0, evClient, 41001, evServer, 80, afterimage.ProtoTCP, FlagSYN, 0, 0, true)
		es.noteRule(&Alert{Time: evT0, Rule: RulePortScan, Flow: Flow{Src: evClient, Dst: target}})
		e, _ := es.pkt(1, evClient, 41002, target, 81, afterimage.ProtoTCP, FlagSYN, 0, 0, true)
		if e[TermRule] < 0.99 {
			t.Errorf("a probe of the scanned host: rule term %v, want 1", e[TermRule])
		}
		e, _ = es.pkt(1, evClient, 41001, evServer, 80, afterimage.ProtoTCP, FlagACK, 0, 0, true)
		if e[TermRule] != 0 {
			t.Errorf("a flow to another host: rule term %v, want 0", e[TermRule])
		}
	})
	t.Run("a DNS name inherits the evidence of the address it resolved to", func(t *testing.T) {
		es := newEvSensor(t)
		moved, other := netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("192.0.2.80")
		es.dns.observe([]DNSAnswer{{Name: "cnc.example", Addr: evDead}, {Name: "cdn.example", Addr: other}})
		for i := 0; i < 5; i++ { // a dead C&C address: failed handshakes
			es.pkt(float64(i)*60, evClient, uint16(40000+i), evDead, 6667, afterimage.ProtoTCP, FlagSYN, 0, 0, true)
		}
		// The name now resolves elsewhere, and a second host connects there.
		es.dns.observe([]DNSAnswer{{Name: "cnc.example", Addr: moved}})
		second := netip.MustParseAddr("10.0.0.16")
		es.pkt(300, second, 41000, moved, 6667, afterimage.ProtoTCP, FlagSYN, 0, 0, true)
		e, _ := es.pkt(300.01, moved, 6667, second, 41000, afterimage.ProtoTCP, FlagSYN|FlagACK, 0, 0, true)
		if e[TermDNS] < 0.6 || es.eo.Fuse(&e) <= 0.5 || es.eo.Severity(&e) != SeverityHigh {
			t.Errorf("connection to the name's new address: evidence %v (fused %.2f), want the name's evidence, high", e, es.eo.Fuse(&e))
		}
		if got := es.dns.name(moved); got != "cnc.example" {
			t.Errorf("name of the new address %q", got)
		}
		e, _ = es.pkt(301, second, 41001, other, 443, afterimage.ProtoTCP, FlagSYN, 0, 0, true)
		if e[TermDNS] != 0 {
			t.Errorf("an unrelated name inherited %v", e[TermDNS])
		}
	})
	t.Run("a scanner's fan-out does not pass to the gateway's name", func(t *testing.T) {
		es := newEvSensor(t)
		es.dns.observe([]DNSAnswer{{Name: "broker.iot.lan", Addr: evServer}})
		for i := 0; i < 60; i++ { // the infected host scans: large fan-out
			h := netip.AddrFrom4([4]byte{10, 0, 1, byte(i)})
			es.pkt(float64(i)*0.1, evClient, uint16(42000+i), h, 23, afterimage.ProtoTCP, FlagSYN, 0, 0, true)
			es.pkt(float64(i)*0.1+0.01, h, 23, evClient, uint16(42000+i), afterimage.ProtoTCP, FlagRST|FlagACK, 0, 0, true)
		}
		// ... and opens a new, not yet answered connection to the gateway
		e, _ := es.pkt(7, evClient, 43000, evServer, 1883, afterimage.ProtoTCP, FlagSYN, 0, 0, true)
		if e[TermFanOut] < 0.9 {
			t.Fatalf("scanner's connection to the gateway: fan-out %v, want high", e[TermFanOut])
		}
		neighbour := netip.MustParseAddr("10.0.0.16")
		e, _ = es.pkt(8, neighbour, 44000, evServer, 1883, afterimage.ProtoTCP, FlagSYN, 0, 0, true)
		if e[TermDNS] != 0 || es.eo.Fuse(&e) > 0.5 {
			t.Errorf("a benign neighbour inherited through the gateway's name: %v", e)
		}
	})
	t.Run("novelty against the profile learnt", func(t *testing.T) {
		es := newEvSensor(t)
		es.pkt(0, evClient, 41000, evServer, 1883, afterimage.ProtoTCP, FlagSYN, 0, 0, false) // learning
		e, _ := es.pkt(10, evClient, 41001, evServer, 1883, afterimage.ProtoTCP, FlagSYN, 0, 0, true)
		if e[TermNovelty] != 0 {
			t.Errorf("a service seen while learning is novel: %v", e)
		}
		e, _ = es.pkt(11, evClient, 41002, evServer, 22, afterimage.ProtoTCP, FlagSYN, 0, 0, true)
		if e[TermNovelty] != 1 {
			t.Errorf("a new service is not novel: %v", e)
		}
		e, _ = es.pkt(12, netip.MustParseAddr("10.0.0.99"), 41003, evServer, 1883, afterimage.ProtoTCP, FlagSYN, 0, 0, true)
		if e[TermNovelty] != 1 {
			t.Errorf("a new device is not novel: %v", e)
		}
	})
}

func TestIncidentPerHostAndHour(t *testing.T) {
	var alerts []Alert
	s, err := New(Options{Learn: 1000, Sink: sinkFunc(func(a Alert) { alerts = append(alerts, a) })})
	if err != nil {
		t.Fatal(err)
	}
	es := evSensor{s, t}
	raise := func(at float64, e Evidence, port uint16) {
		p := &Packet{Number: uint64(at)}
		p.Time = evT0.Add(time.Duration(at * float64(time.Second)))
		p.SrcIP, p.DstIP, p.SrcPort, p.DstPort, p.Proto = evClient, evDead, 40000, port, afterimage.ProtoTCP
		_, c := es.pkt(at, evClient, 40000, evDead, port, afterimage.ProtoTCP, FlagSYN, 0, 0, true)
		s.incident(p, c, &e, s.eo.Fuse(&e), func(a Alert) { _ = s.send(a) })
	}
	raise(0, Evidence{TermLearned: 1}, 1)    // opens a medium incident
	raise(60, Evidence{TermLearned: 1}, 2)   // same hour, same severity: listed, no alert
	raise(120, Evidence{TermFailed: 1}, 3)   // escalates to high: alert
	raise(180, Evidence{TermFailed: 1}, 4)   // nothing new
	raise(3700, Evidence{TermLearned: 1}, 5) // next hour: a new incident
	var got []string
	for _, a := range alerts {
		got = append(got, string(a.Severity))
	}
	if diff := cmp.Diff([]string{"medium", "high", "medium"}, got); diff != "" {
		t.Errorf("incident alerts (-want +got):\n%s", diff)
	}
	in := s.Incidents()
	if len(in) != 2 || len(in[0].Flows) != 4 || in[0].Severity != SeverityHigh || in[1].Severity != SeverityMedium {
		t.Errorf("incidents %+v", in)
	}
	if sum := s.Summary().Incidents; sum["high"] != 1 || sum["medium"] != 1 {
		t.Errorf("summary incidents %v, want 1 high and 1 medium", sum)
	}
}

// TestCausal: the scores of a truncated capture are bit-identical to the
// prefix of the full run's; nothing a packet is scored with comes from
// later packets.
func TestCausal(t *testing.T) {
	dir := t.TempDir()
	pkts := synthPackets(t, 3000, true)
	full, cut := filepath.Join(dir, "full.pcap"), filepath.Join(dir, "cut.pcap")
	writeSynth(t, full, pkts, false)
	writeSynth(t, cut, pkts[:2600], false)
	scores := func(path string) []float64 {
		r, err := OpenFile(path, FileOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		s, err := New(Options{Learn: 2000, Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		var out []float64
		if _, err := Run(context.Background(), r, s, func(f *Frame, res Result) error {
			out = append(out, res.Score, res.Raw)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	a, b := scores(full), scores(cut)
	if len(b) != 2*2600 || !cmp.Equal(a[:len(b)], b) {
		t.Fatal("the truncated capture's scores differ from the full run's prefix")
	}
}

func setCalibration(s *Sensor, p999 float64) {
	s.det.SetCalibration(kitnet.Calibration{N: 1000, P50: p999 / 4, P90: p999 / 2, P99: p999, P999: p999, Max: p999})
}
