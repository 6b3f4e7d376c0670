package gateway

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
)

// records builds a stream of TLS-framed records with the given body
// lengths and returns it with the offset where each record ends.
func records(lens []int) (stream []byte, ends []int) {
	for i, n := range lens {
		stream = append(stream, 23, 3, 3, byte(n>>8), byte(n))
		for j := range n {
			stream = append(stream, byte(i+j))
		}
		ends = append(ends, len(stream))
	}
	return stream, ends
}

// readRecords reads rc with reads of random sizes until an error and
// checks that no read crosses a record boundary of stream, and that the
// pooled buffer is given back whenever everything read has been handed on.
func readRecords(t testing.TB, rc *recordConn, stream []byte, ends []int, rng *rand.Rand) ([]byte, error) {
	cc := rc.Conn.(*chunkConn)
	var out []byte
	for range 1 << 20 {
		p := make([]byte, 1+rng.IntN(20000))
		n, err := rc.Read(p)
		start := len(out)
		out = append(out, p[:n]...)
		for _, e := range ends {
			if start < e && len(out) > e {
				t.Fatalf("a read of %d bytes at %d crosses the record end at %d", n, start, e)
			}
		}
		if 1+cc.off-len(out) != rc.buffered() {
			t.Fatalf("buffered() = %d; %d bytes read from the socket, %d handed on", rc.buffered(), cc.off+1, len(out))
		}
		if rc.buffered() == 0 && rc.buf != nil {
			t.Fatal("an empty read-ahead buffer is held")
		}
		if err != nil {
			return out, err
		}
	}
	t.Fatal("no end after 1M reads")
	return nil, nil
}

// TestRecordConnHandsOneRecordAtATime: whatever the socket's chunks and
// the reader's sizes, recordConn returns the stream unchanged (the byte
// the listener read first included), one record at most per read.
func TestRecordConnHandsOneRecordAtATime(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	stream, ends := records([]int{0, 1, 300, 16384 + 256, 5, 70, 1, 9000, 0, 2})
	for _, chunk := range []int{1, 3, 5, 6, 100, 4096, 1 << 20} {
		rc := newRecordConn(newChunkConn(stream[1:], chunk), stream[0])
		got, err := readRecords(t, rc, stream, ends, rng)
		if !errors.Is(err, io.EOF) || !bytes.Equal(got, stream) {
			t.Fatalf("chunk %d: got %d bytes (%v); want the %d-byte stream", chunk, len(got), err, len(stream))
		}
		if rc.buf != nil {
			t.Fatalf("chunk %d: buffer held at the end", chunk)
		}
	}
}

// FuzzRecordConn: any byte stream (well framed or not), any chunking: the
// bytes come out unchanged and no read crosses a record boundary as the
// headers in the stream declare them.
func FuzzRecordConn(f *testing.F) {
	s, _ := records([]int{3, 0, 200})
	f.Add(s, uint16(7), uint64(1))
	f.Add([]byte{22, 3, 1, 0xff, 0xff, 1, 2}, uint16(1), uint64(2))
	f.Add([]byte{23}, uint16(1), uint64(3))
	f.Fuzz(func(t *testing.T, in []byte, chunk uint16, seed uint64) {
		if len(in) == 0 {
			return
		}
		var ends []int
		for i := 0; i < len(in); {
			if len(in)-i < recordHeaderLen {
				ends = append(ends, len(in))
				break
			}
			i += recordHeaderLen + (int(in[i+3])<<8 | int(in[i+4]))
			ends = append(ends, min(i, len(in)))
		}
		rc := newRecordConn(newChunkConn(in[1:], int(chunk%600)+1), in[0])
		got, err := readRecords(t, rc, in, ends, rand.New(rand.NewPCG(seed, seed)))
		if !errors.Is(err, io.EOF) || !bytes.Equal(got, in) {
			t.Fatalf("got %d bytes (%v); want the %d input bytes", len(got), err, len(in))
		}
	})
}
