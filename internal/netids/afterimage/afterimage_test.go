package afterimage

import (
	"math"
	"net/netip"
	"testing"
	"time"
)

func pkt(sec float64, src, dst string, sport, dport uint16, size int) *Packet {
	return &Packet{
		Time:   time.Unix(0, int64(sec*1e9)),
		Length: size,
		SrcMAC: [6]byte{1}, DstMAC: [6]byte{2},
		SrcIP: netip.MustParseAddr(src), DstIP: netip.MustParseAddr(dst),
		SrcPort: sport, DstPort: dport, Proto: ProtoUDP,
	}
}

// TestDampedStats checks the MAC–IP statistics against the closed form:
// after sizes v_i at times t_i, weight = Σ 2^(-λ(t-t_i)), mean and
// variance weighted likewise (plus Kitsune's 1e-20 initial weight).
func TestDampedStats(t *testing.T) {
	tests := []struct {
		name  string
		times []float64
		sizes []int
	}{
		{"one packet", []float64{0}, []int{100}},
		{"same time", []float64{1, 1, 1}, []int{100, 200, 300}},
		{"spread", []float64{0, 0.5, 2, 2.1, 10}, []int{60, 1500, 60, 400, 90}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := New(Options{})
			out := make([]float64, NumFeatures)
			for i := range tt.times {
				e.Extract(pkt(tt.times[i], "10.0.0.1", "10.0.0.2", 1, 2, tt.sizes[i]), out)
			}
			now := tt.times[len(tt.times)-1]
			for w, l := range Lambdas {
				var sw, s1, s2 float64
				for i, ti := range tt.times {
					f := math.Exp2(-l * (now - ti))
					sw += f
					s1 += f * float64(tt.sizes[i])
					s2 += f * float64(tt.sizes[i]*tt.sizes[i])
				}
				mean := s1 / sw
				want := []float64{sw, mean, math.Abs(s2/sw - mean*mean)}
				got := out[offMI+3*w : offMI+3*w+3]
				for k := range want {
					if math.Abs(got[k]-want[k]) > 1e-6*math.Max(1, math.Abs(want[k])) {
						t.Errorf("λ=%v stat %d = %v, want %v", l, k, got[k], want[k])
					}
				}
			}
			for i, v := range out {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Fatalf("feature %d is %v", i, v)
				}
			}
		})
	}
}

func TestJitterAndCorrelation(t *testing.T) {
	e := New(Options{})
	out := make([]float64, NumFeatures)
	for i := 0; i < 50; i++ {
		e.Extract(pkt(float64(i), "10.0.0.1", "10.0.0.2", 1, 2, 100), out)
	}
	// Inter-arrival 1 s: the slowest window's mean gap tends to 1.
	if got := out[offJitter+3*4+1]; math.Abs(got-1) > 0.05 {
		t.Errorf("mean jitter %v, want about 1", got)
	}
	for w := 0; w < nWin; w++ {
		if pcc := out[offHH+7*w+6]; pcc < -1-1e-9 || pcc > 1+1e-9 {
			t.Errorf("window %d correlation %v outside [-1, 1]", w, pcc)
		}
	}
}

func TestBoundedMemory(t *testing.T) {
	e := New(Options{MaxKeys: 64, IdleTimeout: time.Minute})
	out := make([]float64, NumFeatures)
	for i := 0; i < 5000; i++ {
		src := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		p := pkt(float64(i)/100, "10.0.0.1", "10.0.0.2", uint16(i), 80, 60)
		p.SrcIP = src
		e.Extract(p, out)
	}
	st := e.Stats()
	if st.Keys > 6*64 {
		t.Errorf("%d keys tracked, cap is %d", st.Keys, 6*64)
	}
	if st.Evictions == 0 {
		t.Error("no evictions with 5000 sources and a cap of 64")
	}
	// Idle sweep: one packet an hour later clears the old keys.
	e.Extract(pkt(5000+3600, "10.9.9.9", "10.9.9.8", 1, 1, 60), out)
	if st := e.Stats(); st.Keys > 12 {
		t.Errorf("%d keys after an hour of silence, want only the new packet's", st.Keys)
	}
}

func BenchmarkExtract(b *testing.B) {
	e := New(Options{})
	out := make([]float64, NumFeatures)
	pkts := make([]*Packet, 256)
	for i := range pkts {
		pkts[i] = pkt(0, "192.168.1.10", "52.1.2.3", uint16(40000+i%16), 443, 100+i)
		pkts[i].SrcIP = netip.AddrFrom4([4]byte{192, 168, 1, byte(i % 32)})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := pkts[i&255]
		p.Time = time.Unix(0, int64(i)*1e5)
		e.Extract(p, out)
	}
}
