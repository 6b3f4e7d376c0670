package rules

import (
	"net/netip"
	"testing"

	"github.com/wardproject/ward/internal/netids"
)

func TestRefusedLogin(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
		want bool
	}{
		{"3.1.1 bad user name or password", []byte{0x20, 2, 0, 4}, true},
		{"3.1.1 not authorised", []byte{0x20, 2, 0, 5}, true},
		{"3.1.1 accepted", []byte{0x20, 2, 0, 0}, false},
		{"3.1.1 accepted, session present", []byte{0x20, 2, 1, 0}, false},
		{"3.1.1 server unavailable", []byte{0x20, 2, 0, 3}, false},
		{"5 bad user name or password, no properties", []byte{0x20, 3, 0, 0x86, 0}, true},
		{"5 not authorised, with properties", []byte{0x20, 8, 0, 0x87, 5, 0x1f, 0, 2, 'n', 'o'}, true},
		{"5 bad authentication method", []byte{0x20, 3, 0, 0x8c, 0}, true},
		{"5 quota exceeded", []byte{0x20, 3, 0, 0x97, 0}, false},
		{"remaining length over two bytes", []byte{0x20, 0x80, 0x01, 0, 0x86}, true},
		{"PUBLISH whose payload looks like a refusal", []byte{0x30, 2, 0, 4}, false},
		{"CONNACK with reserved flags set", []byte{0x21, 2, 0, 4}, false},
		{"reserved acknowledge flags", []byte{0x20, 2, 2, 4}, false},
		{"truncated", []byte{0x20, 2, 0}, false},
		{"remaining length too short", []byte{0x20, 1, 0, 4}, false},
		{"endless remaining length", []byte{0x20, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 4}, false},
		{"empty", nil, false},
	} {
		if got := RefusedLogin(tc.b); got != tc.want {
			t.Errorf("%s: RefusedLogin(% x) = %v, want %v", tc.name, tc.b, got, tc.want)
		}
	}
}

// connack is a broker's CONNACK segment to a client at second sec.
func connack(sec float64, broker, client string, code byte) *netids.Packet {
	p := tcpPk(sec, broker, 1883, client, 50000, netids.FlagACK|netids.FlagPSH)
	p.Data = []byte{0x20, 2, 0, code}
	p.Payload = len(p.Data)
	return p
}

// TestMQTTBruteForce is the attack of MQTTset's bruteforce capture:
// CONNECT after CONNACK 5. Five refusals from one broker to one client
// within a window fire the brute-force rule once, on the client's flow to
// the broker (so the evidence lands on the attacker's connections);
// accepted logins, refusals spread over windows, or a client refused by
// several brokers a few times each do not.
func TestMQTTBruteForce(t *testing.T) {
	attacker, broker := "192.168.1.90", "192.168.1.91"
	var alerts []netids.Alert
	e := New(Options{})
	for i := range 12 {
		e.Inspect(connack(float64(i), broker, attacker, 5), func(a netids.Alert) { alerts = append(alerts, a) })
	}
	if len(alerts) != 1 {
		t.Fatalf("12 refusals in 12 s: %d alerts, want 1", len(alerts))
	}
	a := alerts[0]
	want := netids.Flow{Proto: "tcp", Src: netip.MustParseAddr(attacker), Dst: netip.MustParseAddr(broker), DstPort: 1883}
	if a.Rule != netids.RuleBrute || a.Severity != netids.SeverityHigh || a.Flow != want || a.Count != 5 {
		t.Errorf("alert %+v; want brute-force, high, on %+v, count 5", a, want)
	}

	for name, pkts := range map[string][]*netids.Packet{
		"accepted logins": func() (ps []*netids.Packet) {
			for i := range 50 {
				ps = append(ps, connack(float64(i), broker, attacker, 0))
			}
			return ps
		}(),
		"four refusals a minute": func() (ps []*netids.Packet) {
			for i := range 20 {
				ps = append(ps, connack(float64(i*15), broker, attacker, 4))
			}
			return ps
		}(),
		"a client refused by three brokers": func() (ps []*netids.Packet) {
			for i, b := range []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"} {
				for j := range 4 {
					ps = append(ps, connack(float64(i*4+j), b, attacker, 5))
				}
			}
			return ps
		}(),
		"refusals on a port that is not MQTT": func() (ps []*netids.Packet) {
			for i := range 10 {
				p := connack(float64(i), broker, attacker, 5)
				p.SrcPort = 8080
				ps = append(ps, p)
			}
			return ps
		}(),
	} {
		if got := runRules(New(Options{}), pkts); got[netids.RuleBrute] != 0 {
			t.Errorf("%s: %d brute-force alerts, want none", name, got[netids.RuleBrute])
		}
	}
}

// FuzzRefusedLogin: any bytes, no panic; a refusal is always a CONNACK.
func FuzzRefusedLogin(f *testing.F) {
	f.Add([]byte{0x20, 2, 0, 5})
	f.Add([]byte{0x20, 8, 0, 0x87, 5, 0x1f, 0, 2, 'n', 'o'})
	f.Add([]byte{0x20, 0xff, 0xff, 0xff, 0x7f, 0, 4})
	f.Fuzz(func(t *testing.T, b []byte) {
		if RefusedLogin(b) && b[0] != 0x20 {
			t.Fatalf("% x: a refusal that is not a CONNACK", b)
		}
	})
}
