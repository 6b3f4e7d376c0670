package mud

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wardproject/ward/internal/netids"
	"github.com/wardproject/ward/internal/netids/afterimage"
	"github.com/wardproject/ward/internal/wardtest"
)

func load(t testing.TB) *Profile {
	f, err := os.Open(filepath.Join("testdata", "camera.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParse(t *testing.T) {
	p := load(t)
	if p.Manufacturer != "iot.example.com" || len(p.FromDevice) != 3 || len(p.ToDevice) != 1 {
		t.Fatalf("parsed %+v", p)
	}
	bad := []struct{ name, in string }{
		{"not json", "{"},
		{"no mud container", `{}`},
		{"wrong version", `{"ietf-mud:mud":{"mud-version":2}}`},
		{"undefined acl", `{"ietf-mud:mud":{"mud-version":1,"from-device-policy":{"access-lists":{"access-list":[{"name":"x"}]}}}}`},
		{"bad port", `{"ietf-mud:mud":{"mud-version":1,"from-device-policy":{"access-lists":{"access-list":[{"name":"a"}]}}},"ietf-access-control-list:acls":{"acl":[{"name":"a","aces":{"ace":[{"name":"e","matches":{"tcp":{"destination-port":{"operator":"eq","port":70000}}},"actions":{"forwarding":"accept"}}]}}]}}`},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Parse(strings.NewReader(tt.in)); err == nil {
				t.Error("accepted")
			}
		})
	}
}

func tcp(sec float64, src, dst string, sport, dport uint16, flags netids.TCPFlags) *netids.Packet {
	p := &netids.Packet{TCPFlags: flags}
	p.Time = time.Unix(0, int64(sec*1e9))
	p.SrcIP, p.DstIP = netip.MustParseAddr(src), netip.MustParseAddr(dst)
	p.SrcPort, p.DstPort, p.Proto = sport, dport, afterimage.ProtoTCP
	return p
}

func TestPolicy(t *testing.T) {
	cam := netip.MustParseAddr("192.168.1.20")
	lookup := func(_ [6]byte, ip netip.Addr) (string, bool) { return "camera-x1", ip == cam }
	dnsAnswer := &netids.Packet{DNS: []netids.DNSAnswer{{Name: "cloud.example.com", Addr: netip.MustParseAddr("52.1.2.3")}}}
	dnsAnswer.SrcIP, dnsAnswer.DstIP, dnsAnswer.Proto, dnsAnswer.SrcPort = netip.MustParseAddr("192.168.1.1"), cam, afterimage.ProtoUDP, 53
	tests := []struct {
		name string
		pkts []*netids.Packet
		want int
	}{
		{"cloud by name after DNS", []*netids.Packet{dnsAnswer,
			tcp(1, "192.168.1.20", "52.1.2.3", 40000, 443, netids.FlagSYN),
			tcp(1.1, "52.1.2.3", "192.168.1.20", 443, 40000, netids.FlagSYN|netids.FlagACK)}, 0},
		{"cloud without DNS answer", []*netids.Packet{tcp(1, "192.168.1.20", "52.1.2.3", 40000, 443, netids.FlagSYN)}, 1},
		{"irc c2", []*netids.Packet{tcp(1, "192.168.1.20", "185.244.25.235", 40000, 6667, netids.FlagSYN),
			tcp(2, "192.168.1.20", "185.244.25.235", 40001, 6667, netids.FlagSYN)}, 1},
		{"local rtsp viewer", []*netids.Packet{tcp(1, "192.168.1.50", "192.168.1.20", 50000, 554, netids.FlagSYN),
			tcp(1.1, "192.168.1.20", "192.168.1.50", 554, 50000, netids.FlagSYN|netids.FlagACK)}, 0},
		{"rtsp from internet", []*netids.Packet{tcp(1, "8.8.4.4", "192.168.1.20", 50000, 554, netids.FlagSYN)}, 1},
		{"telnet into camera", []*netids.Packet{tcp(1, "192.168.1.50", "192.168.1.20", 50000, 23, netids.FlagSYN)}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pl, err := NewPolicy(Options{Profiles: map[string]*Profile{"camera-x1": load(t)}, Lookup: lookup})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range tt.pkts {
				pl.Inspect(p, func(a netids.Alert) { got = append(got, a.Message) })
			}
			if len(got) != tt.want {
				t.Errorf("%d violations, want %d: %q", len(got), tt.want, got)
			}
		})
	}
}

func TestNFTablesGolden(t *testing.T) {
	out, err := NFTables(load(t), NFTOptions{Model: "camera-x1", Devices: []netip.Addr{netip.MustParseAddr("192.168.1.20")},
		Resolve: func(string) ([]netip.Addr, error) { return []netip.Addr{netip.MustParseAddr("52.1.2.3")}, nil }})
	if err != nil {
		t.Fatal(err)
	}
	wardtest.Golden(t, filepath.Join("testdata", "camera-x1.nft.golden"), []byte(out))
}

func FuzzParse(f *testing.F) {
	b, _ := os.ReadFile(filepath.Join("testdata", "camera.json"))
	f.Add(b)
	f.Add([]byte(`{"ietf-mud:mud":{"mud-version":1}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse(strings.NewReader(string(b)))
		if err != nil {
			return
		}
		if _, err := NFTables(p, NFTOptions{Model: "m"}); err != nil {
			t.Fatalf("parsed profile does not render: %v", err)
		}
	})
}
