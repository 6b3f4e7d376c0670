package rules

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/wardproject/ward/internal/netids"
	"github.com/wardproject/ward/internal/netids/afterimage"
	"github.com/wardproject/ward/internal/netids/conntrack"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// sport numbers the client sockets: each SYN is a new connection attempt.
var sport uint16 = 40000

func syn(sec float64, src, dst string, dport uint16) *netids.Packet {
	sport++
	return tcpPk(sec, src, sport, dst, dport, netids.FlagSYN)
}

func tcpPk(sec float64, src string, sp uint16, dst string, dp uint16, f netids.TCPFlags) *netids.Packet {
	p := &netids.Packet{TCPFlags: f}
	p.Time = time.Unix(0, int64(sec*1e9))
	p.SrcIP, p.DstIP = netip.MustParseAddr(src), netip.MustParseAddr(dst)
	p.SrcPort, p.DstPort, p.Proto = sp, dp, afterimage.ProtoTCP
	return p
}

func udpPk(sec float64, src string, sp uint16, dst string, dp uint16) *netids.Packet {
	p := &netids.Packet{Payload: 40}
	p.Time = time.Unix(0, int64(sec*1e9))
	p.SrcIP, p.DstIP = netip.MustParseAddr(src), netip.MustParseAddr(dst)
	p.SrcPort, p.DstPort, p.Proto = sp, dp, afterimage.ProtoUDP
	return p
}

// runRules feeds packets through a connection tracker and the engine, as
// the sensor does, and counts the alerts per rule.
func runRules(e *Engine, pkts []*netids.Packet) map[string]int {
	got := map[string]int{}
	emit := func(a netids.Alert) { got[a.Rule]++ }
	tr := conntrack.New(conntrack.Options{OnOutcome: func(c *conntrack.Conn, o conntrack.Outcome, at time.Time) {
		e.Outcome(c, o, at, emit)
	}})
	for _, p := range pkts {
		cp := p.Conntrack()
		ev := tr.Observe(&cp)
		p.Opens, p.Up = ev.Opened, ev.Up
		e.Inspect(p, emit)
	}
	return got
}

func TestRules(t *testing.T) {
	tests := []struct {
		name string
		pkts func() []*netids.Packet
		want map[string]int
	}{
		{"port scan", func() (ps []*netids.Packet) {
			for i := 0; i < 30; i++ {
				ps = append(ps, syn(float64(i)/10, "10.0.0.66", "10.0.0.10", uint16(1000+i)))
			}
			return
		}, map[string]int{netids.RulePortScan: 1}},
		{"host scan on telnet", func() (ps []*netids.Packet) {
			for i := 0; i < 30; i++ {
				ps = append(ps, syn(float64(i)/10, "10.0.0.66", netip.AddrFrom4([4]byte{10, 0, 1, byte(i)}).String(), 23))
			}
			return
		}, map[string]int{netids.RuleHostScan: 1}},
		{"telnet brute force", func() (ps []*netids.Packet) {
			for i := 0; i < 12; i++ {
				ps = append(ps, syn(float64(i), "10.0.0.66", "10.0.0.10", 23))
			}
			return
		}, map[string]int{netids.RuleBrute: 1}},
		{"syn flood", func() (ps []*netids.Packet) {
			for i := 0; i < 13000; i++ {
				ps = append(ps, syn(float64(i)/1000, netip.AddrFrom4([4]byte{1, 2, byte(i >> 8), byte(i)}).String(), "10.0.0.10", 80))
			}
			return
		}, map[string]int{netids.RuleSYNFlood: 1}},
		{"normal client", func() (ps []*netids.Packet) {
			for i := 0; i < 100; i++ {
				p := syn(float64(i)*5, "10.0.0.12", "52.1.2.3", 443)
				ps = append(ps, p, tcpPk(float64(i)*5+0.05, "52.1.2.3", 443, "10.0.0.12", p.SrcPort, netids.FlagSYN|netids.FlagACK))
			}
			return
		}, map[string]int{}},
		{"dns replies: the resolver answering its clients does not scan them", func() (ps []*netids.Packet) {
			// One client asks 30 names from 30 sockets, 29 others one
			// each; the resolver's replies reach 30 ports of one host and
			// 30 hosts on port-like numbers. None of them is a probe.
			for i := 0; i < 30; i++ {
				at := float64(i) / 10
				port := uint16(50000 + i)
				ps = append(ps, udpPk(at, "10.0.0.15", port, "10.0.0.1", 53), udpPk(at+0.001, "10.0.0.1", 53, "10.0.0.15", port))
				other := netip.AddrFrom4([4]byte{10, 0, 0, byte(100 + i)}).String()
				ps = append(ps, udpPk(at+0.002, other, 41000, "10.0.0.1", 53), udpPk(at+0.003, "10.0.0.1", 53, other, 41000))
			}
			return
		}, map[string]int{}},
		{"syn-ack replies of a busy server are not probes", func() (ps []*netids.Packet) {
			for i := 0; i < 30; i++ {
				p := syn(float64(i)/10, netip.AddrFrom4([4]byte{10, 0, 0, byte(100 + i)}).String(), "10.0.0.1", 80)
				ps = append(ps, p, tcpPk(float64(i)/10+0.001, "10.0.0.1", 80, p.SrcIP.String(), p.SrcPort, netids.FlagSYN|netids.FlagACK))
			}
			return
		}, map[string]int{}},
		{"slow retries to a dead C&C server", func() (ps []*netids.Packet) {
			for i := 0; i < 4; i++ {
				ps = append(ps, syn(float64(i)*90, "10.0.0.15", "10.9.9.9", 666))
			}
			return append(ps, udpPk(400, "10.0.0.15", 50000, "10.0.0.1", 53))
		}, map[string]int{netids.RuleUnanswered: 1}},
		{"slow retries refused by a closed port", func() (ps []*netids.Packet) {
			for i := 0; i < 3; i++ {
				p := syn(float64(i)*60, "10.0.0.15", "10.9.9.9", 666)
				ps = append(ps, p, tcpPk(float64(i)*60+0.01, "10.9.9.9", 666, "10.0.0.15", p.SrcPort, netids.FlagRST|netids.FlagACK))
			}
			return
		}, map[string]int{netids.RuleUnanswered: 1}},
		{"a server that answered once is not dead", func() (ps []*netids.Packet) {
			p := syn(0, "10.0.0.15", "10.9.9.9", 666)
			ps = append(ps, p, tcpPk(0.01, "10.9.9.9", 666, "10.0.0.15", p.SrcPort, netids.FlagSYN|netids.FlagACK))
			for i := 1; i < 5; i++ {
				ps = append(ps, syn(float64(i)*90, "10.0.0.15", "10.9.9.9", 666))
			}
			return append(ps, udpPk(500, "10.0.0.15", 50000, "10.0.0.1", 53))
		}, map[string]int{}},
		{"a quick burst of failures is not the slow rule", func() (ps []*netids.Packet) {
			for i := 0; i < 4; i++ {
				ps = append(ps, syn(float64(i)*0.5, "10.0.0.15", "10.9.9.9", 666))
			}
			return append(ps, udpPk(30, "10.0.0.15", 50000, "10.0.0.1", 53))
		}, map[string]int{}},
		{"blocklisted peer", func() []*netids.Packet {
			return []*netids.Packet{syn(0, "10.0.0.12", "185.244.25.235", 6667), syn(1, "10.0.0.12", "185.244.25.235", 6667), syn(2, "54.39.23.28", "10.0.0.12", 2407)}
		}, map[string]int{netids.RuleBlocklist: 2}},
	}
	bl, err := LoadBlocklist(filepath.Join("testdata", "blocklist.csv"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runRules(New(Options{Blocklist: bl}), tt.pkts())
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("alerts (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseBlocklist(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		n       int
		wantErr bool
	}{
		{"plain", "# bad hosts\n1.2.3.4\n10.0.0.0/8 # lab\n\n2001:db8::1\n", 3, false},
		{"csv with header", "ip,reason\n1.2.3.4,c2\n\"5.6.7.8\",scan\n", 2, false},
		{"typo", "1.2.3.4\n1.2.3.400\n", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, p, err := ParseBlocklist(strings.NewReader(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && len(a)+len(p) != tt.n {
				t.Errorf("%d entries, want %d", len(a)+len(p), tt.n)
			}
		})
	}
}

func TestBlocklistReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bl.txt")
	if err := os.WriteFile(path, []byte("1.1.1.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bl, err := LoadBlocklist(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := bl.Match(netip.MustParseAddr("2.2.2.2")); ok {
		t.Fatal("2.2.2.2 listed before reload")
	}
	if err := os.WriteFile(path, []byte("2.2.2.2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	hup := make(chan os.Signal, 1)
	done := make(chan struct{})
	go func() { defer close(done); bl.Watch(ctx, time.Hour, hup) }()
	hup <- os.Interrupt // stands in for SIGHUP
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok := bl.Match(netip.MustParseAddr("2.2.2.2")); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("blocklist not reloaded on HUP")
		}
		time.Sleep(time.Millisecond) // polling: Watch has no event to wait on
	}
	// A broken file keeps the old list.
	os.WriteFile(path, []byte("not an address\n"), 0o644)
	if err := bl.Reload(); err == nil {
		t.Error("broken blocklist accepted")
	}
	if _, ok := bl.Match(netip.MustParseAddr("2.2.2.2")); !ok {
		t.Error("old list lost after a failed reload")
	}
	cancel()
	<-done
}

func FuzzParseBlocklist(f *testing.F) {
	b, _ := os.ReadFile(filepath.Join("testdata", "blocklist.csv"))
	f.Add(string(b))
	f.Add("1.2.3.4\n10.0.0.0/8\n")
	f.Fuzz(func(t *testing.T, in string) {
		addrs, prefixes, err := ParseBlocklist(strings.NewReader(in))
		if err != nil {
			return
		}
		bl := NewBlocklist(addrs, prefixes)
		for _, a := range addrs {
			if _, ok := bl.Match(a); !ok {
				t.Fatalf("%v parsed but does not match", a)
			}
		}
	})
}
