package agent

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wardproject/ward/internal/detect"
)

func TestReadProc(t *testing.T) {
	c, s, err := Read("testdata/proc")
	if err != nil {
		t.Fatal(err)
	}
	if want := (Counters{BytesIn: 1200445, PacketsIn: 10236, BytesOut: 987854, PacketsOut: 8768}); c != want {
		t.Errorf("counters %+v, want %+v (lo excluded)", c, want)
	}
	want := Sockets{ListeningTCP: []int{23, 443, 8080}, ListeningUDP: []int{5353}, Established: 3,
		DestinationIPs: []string{"10.0.2.5", "2001:db8::2"}}
	if d := cmp.Diff(want, s); d != "" {
		t.Errorf("sockets (-want +got):\n%s", d)
	}
}

// TestReportAcceptedByDetection: what the agent sends is what detection
// accepts (the schema is one contract).
func TestReportAcceptedByDetection(t *testing.T) {
	_, s, _ := Read("testdata/proc")
	r := Build(Counters{BytesIn: 100, BytesOut: 50}, Counters{BytesIn: 600, BytesOut: 40}, s, time.Unix(1700000000, 0), time.Minute)
	if r.BytesIn != 500 || r.BytesOut != 40 {
		t.Errorf("deltas: in %d out %d (a counter that went back counts from 0)", r.BytesIn, r.BytesOut)
	}
	b, _ := json.Marshal(r)
	got, err := detect.ParseDeviceReport(b)
	if err != nil {
		t.Fatalf("detection refuses the agent's report: %v\n%s", err, b)
	}
	if len(got.ListeningTCPPorts) != 3 || *got.EstablishedConnections != 3 {
		t.Errorf("parsed %+v", got)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tt := range []struct{ name, in string }{
		{"short-dev", "h\nh\n eth0: 1 2 3\n"},
		{"bad-counter", "h\nh\n eth0: x 2 0 0 0 0 0 0 1 1 0 0 0 0 0 0\n"},
		{"no-colon", "h\nh\n eth0 1 2\n"},
	} {
		if _, err := ParseNetDev(strings.NewReader(tt.in)); err == nil {
			t.Errorf("%s: accepted", tt.name)
		}
	}
	var s Sockets
	for _, bad := range []string{"h\n 0: 0100007F 00000000:0000 0A\n", "h\n 0: ZZ00007F:0017 00000000:0000 0A\n", "h\n 0: 0100007F:0017\n"} {
		if err := ParseSockets(strings.NewReader(bad), false, &s, map[string]bool{}); err == nil {
			t.Errorf("socket line %q accepted", bad)
		}
	}
}

func FuzzParseSockets(f *testing.F) {
	f.Add("h\n 0: 0100007F:0017 00000000:0000 0A\n", false)
	f.Add("h\n 1: B80D0120000000000000000001000000:C000 B80D0120000000000000000002000000:01BB 01\n", false)
	f.Fuzz(func(t *testing.T, in string, udp bool) {
		var s Sockets
		if err := ParseSockets(strings.NewReader(in), udp, &s, map[string]bool{}); err != nil {
			return
		}
		for _, p := range append(s.ListeningTCP, s.ListeningUDP...) {
			if p < 0 || p > 65535 {
				t.Fatalf("port %d", p)
			}
		}
	})
}

func FuzzParseNetDev(f *testing.F) {
	f.Add("h\nh\n eth0: 1 2 0 0 0 0 0 0 3 4 0 0 0 0 0 0\n")
	f.Fuzz(func(t *testing.T, in string) {
		c, err := ParseNetDev(strings.NewReader(in))
		if err == nil && (c.BytesIn < 0 || c.PacketsOut < 0) {
			t.Fatalf("negative counters %+v", c)
		}
	})
}
