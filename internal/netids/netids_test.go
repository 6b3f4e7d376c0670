package netids

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/wardproject/ward/internal/netids/kitnet"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func readAll(t *testing.T, r *FileReader) ([]Frame, error) {
	t.Helper()
	var out []Frame
	for {
		f, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, f)
	}
}

func TestReadFormats(t *testing.T) {
	tests := []struct {
		name string
		file string
	}{
		{"pcap", "small.pcap"},
		{"pcapng", "small.pcapng"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := OpenFile(filepath.Join("testdata", tt.file), FileOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			frames, err := readAll(t, r)
			if err != nil {
				t.Fatal(err)
			}
			if len(frames) != 40 {
				t.Fatalf("read %d packets, want 40", len(frames))
			}
			for i, f := range frames {
				if f.Number != uint64(i+1) {
					t.Fatalf("frame %d numbered %d", i, f.Number)
				}
			}
			var p Packet
			d := newDecoder()
			if !d.decode(&frames[0], &p) || !p.SrcIP.IsValid() || p.DstPort != 443 {
				t.Errorf("first packet decoded as %+v", p)
			}
		})
	}
}

func TestTruncatedCapture(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "small.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	// Find the offset of packet 6 by reading 5 packets.
	r, err := NewReader(bytes.NewReader(data), FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
	}
	off := r.offset
	cut := data[:off+20] // packet 6's header and 4 bytes of its data
	path := filepath.Join(t.TempDir(), "cut.pcap")
	if err := os.WriteFile(path, cut, 0o644); err != nil {
		t.Fatal(err)
	}
	fr, err := OpenFile(path, FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer fr.Close()
	s, err := New(Options{Learn: 100})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := Run(context.Background(), fr, s, nil)
	var ce *CaptureError
	if !errors.As(err, &ce) {
		t.Fatalf("got %v, want a *CaptureError", err)
	}
	if diff := cmp.Diff(struct {
		Packet uint64
		Offset int64
	}{6, off}, struct {
		Packet uint64
		Offset int64
	}{ce.Packet, ce.Offset}); diff != "" {
		t.Errorf("error position (-want +got):\n%s\n%v", diff, err)
	}
	if sum.Packets != 5 {
		t.Errorf("processed %d packets before the error, want 5", sum.Packets)
	}
	if _, err := NewReader(bytes.NewReader([]byte("not a capture at all")), FileOptions{}); err == nil {
		t.Error("garbage accepted as a capture")
	}
}

func runSynth(t *testing.T, seed uint64, model *kitnet.Detector) ([]float64, *Sensor) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "synth.pcap")
	writeSynth(t, path, synthPackets(t, 3000, true), false)
	r, err := OpenFile(path, FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var alerts []Alert
	s, err := New(Options{Learn: 2000, Seed: seed, Model: model, Sink: sinkFunc(func(a Alert) { alerts = append(alerts, a) })})
	if err != nil {
		t.Fatal(err)
	}
	var scores []float64
	if _, err := Run(context.Background(), r, s, func(f *Frame, res Result) error {
		if !res.Learning {
			scores = append(scores, res.Score)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return scores, s
}

type sinkFunc func(Alert)

func (f sinkFunc) Send(_ context.Context, a Alert) error { f(a); return nil }

func TestSensorDeterministicAndModelRoundTrip(t *testing.T) {
	a, s := runSynth(t, 7, nil)
	b, _ := runSynth(t, 7, nil)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Fatalf("same seed, different scores (-first +second):\n%s", diff)
	}
	if s.Threshold() <= 0 {
		t.Fatal("no threshold after learning")
	}
	var buf bytes.Buffer
	if err := s.Detector().Save(&buf); err != nil {
		t.Fatal(err)
	}
	m, err := kitnet.Load(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if m.Threshold != s.Detector().Threshold || m.Threshold <= 0 {
		t.Errorf("loaded threshold %v, saved %v", m.Threshold, s.Detector().Threshold)
	}
	scored, s2 := runSynth(t, 0, m)
	if got := s2.Summary().Learned; got != 0 {
		t.Errorf("a loaded model learnt from %d packets", got)
	}
	if len(scored) <= len(a) {
		t.Errorf("loaded model scored %d packets, want all", len(scored))
	}
	// The port scan at the end (200 new connections in 2 s) must raise a
	// high incident on the scanner alone; no rule engine runs here.
	in := s.Incidents()
	if len(in) != 1 || in[0].Host != netip.MustParseAddr("192.168.1.66") || in[0].Severity != SeverityHigh {
		t.Errorf("incidents %+v, want one high incident on the scanner 192.168.1.66", in)
	}
}

// TestLearnLongerThanCapture: a capture that ends while the detector is
// still learning scored nothing, and Run says so instead of succeeding.
func TestLearnLongerThanCapture(t *testing.T) {
	path := filepath.Join(t.TempDir(), "synth.pcap")
	writeSynth(t, path, synthPackets(t, 300, false), false)
	for _, tt := range []struct {
		name  string
		learn int
		want  bool
	}{{"learning longer than the capture", 1000, true}, {"learning shorter", 200, false}} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := OpenFile(path, FileOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			s, err := New(Options{Learn: tt.learn})
			if err != nil {
				t.Fatal(err)
			}
			sum, err := Run(context.Background(), r, s, nil)
			if got := errors.Is(err, ErrNothingScored); got != tt.want {
				t.Fatalf("Run error %v; want ErrNothingScored: %v", err, tt.want)
			}
			if tt.want && (sum.Scored != 0 || !strings.Contains(err.Error(), "300 packets")) {
				t.Errorf("summary %+v, error %q: want nothing scored and the packet count", sum, err)
			}
		})
	}
}

// TestShortLearningWarns: a learning prefix of a few hundred packets
// still produces a model, but the summary and the log say it is too short.
func TestShortLearningWarns(t *testing.T) {
	s, err := New(Options{Learn: 300})
	if err != nil {
		t.Fatal(err)
	}
	if w := s.Summary().Warnings; len(w) != 3 || !strings.HasPrefix(w[0], "short learning: ") {
		t.Errorf("warnings %q, want 3 short-learning warnings", w)
	}
	s, err = New(Options{Learn: 10000})
	if err != nil {
		t.Fatal(err)
	}
	if w := s.Summary().Warnings; len(w) != 0 {
		t.Errorf("default learning warned %q", w)
	}
}
