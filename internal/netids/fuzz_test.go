package netids

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzCapture feeds arbitrary bytes through the capture reader, decoder,
// features and detector: it must never panic, and every failure must be
// io.EOF or a *CaptureError naming a packet after the ones returned.
func FuzzCapture(f *testing.F) {
	for _, name := range []string{"small.pcap", "small.pcapng"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
		if name == "small.pcap" {
			// The same frames under every other link type decoded: the
			// link-type field of the little-endian pcap header is at 20.
			for _, lt := range []uint32{0, 101, 108, 113, 228, 229, 276} {
				c := bytes.Clone(b)
				binary.LittleEndian.PutUint32(c[20:], lt)
				f.Add(c)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReader(bytes.NewReader(data), FileOptions{MaxPacket: 4096})
		if err != nil {
			return
		}
		s, err := New(Options{Learn: 20, FMGrace: 5})
		if err != nil {
			t.Fatal(err)
		}
		n := uint64(0)
		for {
			fr, err := r.Next()
			if err != nil {
				var ce *CaptureError
				if !errors.Is(err, io.EOF) && !(errors.As(err, &ce) && ce.Packet == n+1) {
					t.Fatalf("after %d packets: unexpected error %v", n, err)
				}
				return
			}
			n++
			if fr.Number != n {
				t.Fatalf("packet %d numbered %d", n, fr.Number)
			}
			if _, err := s.Process(context.Background(), &fr); err != nil {
				t.Fatal(err)
			}
		}
	})
}
