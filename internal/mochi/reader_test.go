// SPDX-License-Identifier: MIT
// Ward's patch to mochi-mqtt: see README.md, "Patches".

package mqtt

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// waitConn is a net.Conn with WaitRead: it records whether the reader
// held a buffer while it waited, and hands out at most chunk bytes a read.
type waitConn struct {
	net.Conn
	r         *connReader // set after construction
	in        []byte
	chunk     int
	waits     int
	heldWhile int // waits during which r held a buffer
}

func (c *waitConn) WaitRead() error {
	c.waits++
	if c.r.buf != nil {
		c.heldWhile++
	}
	if len(c.in) == 0 {
		return io.EOF
	}
	return nil
}

func (c *waitConn) Read(p []byte) (int, error) {
	if len(c.in) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.in[:min(len(c.in), c.chunk)])
	c.in = c.in[n:]
	return n, nil
}

// TestConnReaderReleasesWhileWaiting reads a stream through connReader
// with every mix of ReadByte and Read sizes and chunk sizes: the bytes come
// out in order and whole, the reader never holds a buffer while it waits
// for data, and none once everything is consumed.
func TestConnReaderReleasesWhileWaiting(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	want := make([]byte, 300<<10)
	for i := range want {
		want[i] = byte(rng.IntN(256))
	}
	for _, chunk := range []int{1, 7, 2048, 5000, 1 << 20} {
		c := &waitConn{in: bytes.Clone(want), chunk: chunk}
		r := newConnReader(c, 2048)
		c.r = r
		var got []byte
		for {
			if rng.IntN(3) == 0 {
				b, err := r.ReadByte()
				if err != nil {
					require.ErrorIs(t, err, io.EOF)
					break
				}
				got = append(got, b)
				continue
			}
			p := make([]byte, 1+rng.IntN(4096))
			n, err := r.Read(p)
			got = append(got, p[:n]...)
			if err != nil {
				require.ErrorIs(t, err, io.EOF)
				break
			}
		}
		require.Equal(t, want, got, "chunk %d", chunk)
		require.Positive(t, c.waits)
		require.Zero(t, c.heldWhile, "chunk %d: a buffer was held while waiting for data", chunk)
		require.Nil(t, r.buf, "chunk %d: a buffer is held after everything was read", chunk)
	}
}

// TestConnReaderPlainConn: a connection without WaitRead (mochi's own
// listeners, net.Pipe in tests) works as with bufio, and the buffer goes
// back once consumed.
func TestConnReaderPlainConn(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	r := newConnReader(b, 16)
	go func() {
		_, _ = a.Write([]byte("hello, broker"))
		_ = a.Close()
	}()
	_ = b.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(r)
	require.NoError(t, err)
	require.Equal(t, "hello, broker", string(got))
	require.Nil(t, r.buf)
	_, err = r.ReadByte()
	require.True(t, errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe), "%v", err)
}
