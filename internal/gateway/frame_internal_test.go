package gateway

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/wardproject/ward/internal/mochi/packets"
)

// chunkConn is a net.Conn whose reads return in, at most chunk bytes at
// a time, then io.EOF.
type chunkConn struct {
	net.Conn // nil: only Read is used
	in       []byte
	off      int // bytes returned so far
	chunk    int
}

func newChunkConn(in []byte, chunk int) *chunkConn {
	return &chunkConn{in: in, chunk: max(1, chunk)}
}

func (c *chunkConn) Read(p []byte) (int, error) {
	if c.off == len(c.in) {
		return 0, io.EOF
	}
	n := copy(p, c.in[c.off:min(len(c.in), c.off+c.chunk)])
	c.off += n
	return n, nil
}

// encode returns the wire form of packets (MQTT 3.1.1).
func encode(t testing.TB, pks ...packets.Packet) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, pk := range pks {
		pk.ProtocolVersion = 4
		var err error
		switch pk.FixedHeader.Type {
		case packets.Connect:
			err = pk.ConnectEncode(&buf)
		case packets.Publish:
			err = pk.PublishEncode(&buf)
		case packets.Pingreq:
			err = pk.PingreqEncode(&buf)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func connectPacket(clientID string) packets.Packet {
	return packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect},
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 30, ClientIdentifier: clientID}}
}

func publishPacket(topic string, n int) packets.Packet {
	return packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, TopicName: topic, Payload: bytes.Repeat([]byte{'x'}, n)}
}

// wholePackets returns the length of the whole packets at the start of b
// (the reference the framing is checked against).
func wholePackets(b []byte) int {
	i := 0
	for i < len(b) {
		rem, mul, j := 0, 1, i+1
		for ; ; j++ {
			if j >= len(b) || j-i > 4 {
				return i
			}
			rem += int(b[j]&0x7f) * mul
			mul *= 128
			if b[j]&0x80 == 0 {
				j++
				break
			}
		}
		if len(b)-j < rem {
			return i
		}
		i = j + rem
	}
	return i
}

// readAll reads f with reads of size bufSize until an error, checking that
// no read releases a byte of a packet that has not fully arrived. With
// wait it calls WaitRead before each read, as mochi's reader does when its
// buffer is empty, and checks that nothing is buffered after a wait that
// found nothing pending ended in an error.
func readAll(t testing.TB, f *frameConn, bufSize int, wait ...bool) ([]byte, error) {
	cc := f.Conn.(*chunkConn)
	var out []byte
	p := make([]byte, bufSize)
	for range 1 << 20 {
		if len(wait) > 0 && wait[0] {
			idle := f.cpl == f.rd && len(f.buf) == 0 && !f.peeked
			if err := f.WaitRead(); err != nil {
				if !idle {
					t.Fatalf("WaitRead: %v with bytes pending", err)
				}
				if n, rerr := f.Read(p); n != 0 || !errors.Is(rerr, err) {
					t.Fatalf("after WaitRead's %v, Read = %d, %v", err, n, rerr)
				}
				return out, err
			}
			if idle && f.buf != nil {
				t.Fatalf("WaitRead on an idle connection left a %d-byte buffer", cap(f.buf))
			}
		}
		n, err := f.Read(p)
		out = append(out, p[:n]...)
		if len(out) > wholePackets(cc.in[:cc.off]) {
			t.Fatalf("released %d bytes; only %d bytes of whole packets had arrived", len(out), wholePackets(cc.in[:cc.off]))
		}
		if err != nil {
			return out, err
		}
	}
	t.Fatal("no end after 1M reads")
	return nil, nil
}

// TestFrameConnReleasesWholePackets: however the bytes arrive, mochi's
// reader sees whole packets only, in order, and all of them.
func TestFrameConnReleasesWholePackets(t *testing.T) {
	stream := encode(t, connectPacket("dev-a"), publishPacket("devices/dev-a/t", 5000), packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}}, publishPacket("devices/dev-a/t", 3))
	tests := []struct {
		name    string
		chunk   int
		bufSize int
	}{
		{"whole-stream", len(stream), 4096},
		{"byte-by-byte", 1, 2048},
		{"small-reader", 1000, 16},
		{"odd-chunks", 7, 100},
	}
	for _, tt := range tests {
		for _, wait := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/wait=%v", tt.name, wait), func(t *testing.T) {
				f := &frameConn{Conn: newChunkConn(stream, tt.chunk), maxPacket: 1 << 20}
				got, err := readAll(t, f, tt.bufSize, wait)
				if !errors.Is(err, io.EOF) {
					t.Fatalf("err = %v, want EOF", err)
				}
				if !bytes.Equal(got, stream) {
					t.Fatalf("got %d bytes, want %d (same content)", len(got), len(stream))
				}
				if f.buf != nil {
					t.Fatalf("a %d-byte buffer is held after the last packet", cap(f.buf))
				}
			})
		}
	}
}

// TestFrameConnRefusals: an over-cap or non-CONNECT first packet, a later
// packet over the cap, and a malformed length are refused as soon as their
// fixed header arrives, before any of their body is buffered.
func TestFrameConnRefusals(t *testing.T) {
	connect := encode(t, connectPacket("dev-a"))
	tests := []struct {
		name   string
		in     []byte
		reason string
	}{
		{"connect-declares-1MiB", []byte{0x10, 0x80, 0x80, 0x40, 0, 4, 'M', 'Q'}, DropConnectTooBig},
		{"connect-just-over-cap", append([]byte{0x10}, varint(MaxConnectBytes-2)...), DropConnectTooBig},
		{"publish-first", encode(t, publishPacket("a", 1)), DropNotConnect},
		{"later-packet-over-cap", append(append([]byte{}, connect...), append([]byte{0x30}, varint(2000)...)...), DropPacketTooLarge},
		{"five-byte-length", append(append([]byte{}, connect...), 0x30, 0xff, 0xff, 0xff, 0xff, 0x01), DropMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var refused string
			f := &frameConn{Conn: newChunkConn(tt.in, len(tt.in)), maxPacket: 1000, onRefuse: func(r string) { refused = r }}
			_, err := readAll(t, f, 4096)
			var fe *errFrame
			if !errors.As(err, &fe) || fe.reason != tt.reason || refused != tt.reason {
				t.Fatalf("err = %v (callback %q), want a %s refusal", err, refused, tt.reason)
			}
		})
	}
}

// TestFrameConnBufferGrowsWithArrivals: a CONNECT that declares nearly the
// cap and stalls after a few bytes holds a buffer sized by what arrived,
// not by what it declared; the broker's reader has seen nothing.
func TestFrameConnBufferGrowsWithArrivals(t *testing.T) {
	head := append([]byte{0x10}, varint(MaxConnectBytes-4)...)
	in := append(head, bytes.Repeat([]byte{0}, 100)...)
	f := &frameConn{Conn: newChunkConn(in, len(in)), maxPacket: 1 << 20}
	got, err := readAll(t, f, 4096)
	if len(got) != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("released %d bytes (err %v) of an incomplete CONNECT", len(got), err)
	}
	if cap(f.buf) > minFrameBuffer {
		t.Fatalf("buffer of %d bytes for %d bytes received", cap(f.buf), len(in))
	}
}

// TestFrameConnFirstPacket: onFirst runs once, when the CONNECT is whole.
func TestFrameConnFirstPacket(t *testing.T) {
	stream := encode(t, connectPacket("dev-a"), publishPacket("t", 10))
	calls := 0
	f := &frameConn{Conn: newChunkConn(stream, 5), maxPacket: 1 << 20, onFirst: func() { calls++ }}
	if _, err := readAll(t, f, 4096); !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Fatalf("onFirst ran %d times, want 1", calls)
	}
}

func varint(n int) []byte {
	var out []byte
	for {
		b := byte(n % 128)
		n /= 128
		if n > 0 {
			b |= 0x80
		}
		out = append(out, b)
		if n == 0 {
			return out
		}
	}
}

// FuzzFrameConn: for any input split anywhere, frameConn never panics,
// releases only whole packets, and releases exactly the whole packets of
// the input unless it refused one (then a prefix of them).
func FuzzFrameConn(f *testing.F) {
	f.Add(encode(f, connectPacket("dev-a"), publishPacket("devices/dev-a/t", 300)), uint16(7), uint16(64))
	f.Add([]byte{0x10, 0x80, 0x80, 0x40, 0}, uint16(1), uint16(2048))
	f.Add(encode(f, connectPacket(""), packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}}), uint16(3), uint16(1))
	f.Fuzz(func(t *testing.T, in []byte, chunk, bufSize uint16) {
		fc := &frameConn{Conn: newChunkConn(in, int(chunk%512)+1), maxPacket: 4096}
		got, err := readAll(t, fc, int(bufSize%4096)+1, chunk%2 == 1)
		if !bytes.HasPrefix(in, got) {
			t.Fatalf("released bytes are not a prefix of the input")
		}
		if errors.Is(err, io.EOF) && len(got) != wholePackets(in) {
			t.Fatalf("released %d bytes, want the %d of whole packets", len(got), wholePackets(in))
		}
		if cap(fc.buf) > max(minFrameBuffer, 2*len(in)) {
			t.Fatalf("buffer of %d bytes for %d bytes of input", cap(fc.buf), len(in))
		}
	})
}

// BenchmarkFrameConnRead measures what framing adds per packet: mochi's
// bufio.Reader (2 KiB, its default) reads a stream of 64-byte QoS 0
// publishes arriving in 16 KiB records (a TLS record's worth), through a
// frameConn or straight from the connection.
//
//	go test -run '^$' -bench FrameConnRead ./internal/gateway/
func BenchmarkFrameConnRead(b *testing.B) {
	one := encode(b, publishPacket("devices/dev-a/telemetry", 64))
	stream := bytes.Repeat(one, (16<<10)/len(one)+1) // records end mid-packet
	for _, framed := range []bool{false, true} {
		b.Run(fmt.Sprintf("framed=%v", framed), func(b *testing.B) {
			src := &loopConn{data: stream, chunk: 16 << 10}
			var c net.Conn = src
			if framed {
				c = &frameConn{Conn: src, maxPacket: 1 << 20, complete: 1}
			}
			r := bufio.NewReaderSize(c, 2048)
			body := make([]byte, 256)
			b.SetBytes(int64(len(one)))
			b.ResetTimer()
			for range b.N {
				if _, err := r.ReadByte(); err != nil {
					b.Fatal(err)
				}
				n, _, err := packets.DecodeLength(r)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(r, body[:n]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// loopConn returns data over and over, chunk bytes per read at most.
type loopConn struct {
	net.Conn
	data  []byte
	off   int
	chunk int
}

func (c *loopConn) Read(p []byte) (int, error) {
	end := min(len(c.data), c.off+c.chunk)
	n := copy(p, c.data[c.off:end])
	if c.off += n; c.off == len(c.data) {
		c.off = 0
	}
	return n, nil
}
