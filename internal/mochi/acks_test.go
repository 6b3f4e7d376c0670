// SPDX-License-Identifier: MIT
// Ward's patch to mochi-mqtt: see README.md, "Patches".

package mqtt

import (
	"bytes"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// writeLog is a connection that records each Write.
type writeLog struct {
	net.Conn
	mu     sync.Mutex
	writes [][]byte
}

func (w *writeLog) Write(b []byte) (int, error) {
	w.mu.Lock()
	w.writes = append(w.writes, append([]byte(nil), b...))
	w.mu.Unlock()
	return w.Conn.Write(b)
}

func (w *writeLog) log() [][]byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([][]byte(nil), w.writes...)
}

// rawConnect is an MQTT 3.1.1 CONNECT (clean session, keep-alive 60 s).
func rawConnect(id string) []byte {
	body := append([]byte{0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, byte(len(id))}, id...)
	return append([]byte{0x10, byte(len(body))}, body...)
}

// rawPublish is a PUBLISH of qos with packet ID id (QoS > 0).
func rawPublish(topic string, qos byte, id uint16, payload []byte) []byte {
	body := append([]byte{0, byte(len(topic))}, topic...)
	body = append(body, byte(id>>8), byte(id))
	body = append(body, payload...)
	return append([]byte{0x30 | qos<<1, byte(len(body))}, body...)
}

// TestAcksOfABurstShareOneWrite: QoS 1 publishes that arrive together
// are acknowledged in one write (one TLS record under Ward's gateway),
// in order; a publish that arrives alone is acknowledged at once.
func TestAcksOfABurstShareOneWrite(t *testing.T) {
	s := New(&Options{Logger: logger, Capabilities: NewDefaultServerCapabilities()})
	require.NoError(t, s.AddHook(new(AllowHook), nil))
	defer s.Close()
	srv, cli := net.Pipe()
	defer cli.Close()
	wl := &writeLog{Conn: srv}
	done := make(chan error, 1)
	go func() { done <- s.EstablishConnection("tcp", wl) }()

	_ = cli.SetDeadline(time.Now().Add(10 * time.Second))
	_, err := cli.Write(rawConnect("acker"))
	require.NoError(t, err)
	connack := make([]byte, 4)
	_, err = io.ReadFull(cli, connack)
	require.NoError(t, err)
	require.Equal(t, []byte{0x20, 2, 0, 0}, connack)

	// Three publishes in one write: the server reads them with one read.
	var burst []byte
	for id := uint16(1); id <= 3; id++ {
		burst = append(burst, rawPublish("a/b", 1, id, []byte("x"))...)
	}
	go func() { _, _ = cli.Write(burst) }()
	acks := make([]byte, 12)
	_, err = io.ReadFull(cli, acks)
	require.NoError(t, err)
	want := []byte{0x40, 2, 0, 1, 0x40, 2, 0, 2, 0x40, 2, 0, 3}
	require.Equal(t, want, acks, "PUBACKs in order")

	// One more, alone.
	go func() { _, _ = cli.Write(rawPublish("a/b", 1, 4, []byte("y"))) }()
	ack := make([]byte, 4)
	_, err = io.ReadFull(cli, ack)
	require.NoError(t, err)
	require.Equal(t, []byte{0x40, 2, 0, 4}, ack)

	var ackWrites [][]byte
	for _, w := range wl.log() {
		if len(w) > 0 && w[0] == 0x40 {
			ackWrites = append(ackWrites, w)
		}
	}
	require.Equal(t, [][]byte{want, {0x40, 2, 0, 4}}, ackWrites, "the burst's three PUBACKs in one write, the lone one in its own")

	_, _ = cli.Write([]byte{0xe0, 0}) // DISCONNECT
	require.NoError(t, <-done)
	require.False(t, bytes.Contains(bytes.Join(wl.log(), nil), []byte{0x40, 2, 0, 5}))
}
