// Package mqttwire is the minimal MQTT 3.1.1 codec of Ward's load clients:
// CONNECT, SUBSCRIBE, QoS 0 PUBLISH and DISCONNECT out; CONNACK, SUBACK
// and PUBLISH in, plus Dial (TLS + CONNECT/CONNACK).
//
// It exists because a general client (paho) spends more CPU per message than
// the broker under test does, and on the 2-core benchmark machine the load
// client shares the cores with the broker: a hand-written QoS 0 path keeps
// the client's share small, and it is the same for every broker measured.
// It is not a client library: no QoS 1/2, no keep-alive pings, no retries.
package mqttwire

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// MQTT control packet types used here.
const (
	Connect    = 1
	Connack    = 2
	Publish    = 3
	Puback     = 4
	Subscribe  = 8
	Suback     = 9
	Disconnect = 14
)

// appendRemaining appends the MQTT variable-length remaining length.
func appendRemaining(b []byte, n int) []byte {
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if n == 0 {
			return b
		}
	}
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// ConnectPacket is an MQTT 3.1.1 CONNECT with a clean session and no
// username or password: the brokers measured take the identity from the
// client certificate.
func ConnectPacket(clientID string, keepAlive uint16) []byte {
	var body []byte
	body = appendString(body, "MQTT")
	body = append(body, 4, 0x02) // protocol level 3.1.1, clean session
	body = binary.BigEndian.AppendUint16(body, keepAlive)
	body = appendString(body, clientID)
	return append(appendRemaining([]byte{Connect << 4}, len(body)), body...)
}

// SubscribePacket subscribes to one filter at QoS 0.
func SubscribePacket(id uint16, filter string) []byte { return SubscribePacketQoS(id, filter, 0) }

// SubscribePacketQoS subscribes to one filter at qos.
func SubscribePacketQoS(id uint16, filter string, qos byte) []byte {
	body := binary.BigEndian.AppendUint16(nil, id)
	body = appendString(body, filter)
	body = append(body, qos)
	return append(appendRemaining([]byte{Subscribe<<4 | 0x02}, len(body)), body...)
}

// PublishPacketQoS1 is PublishPacket at QoS 1; idAt is the offset of its
// packet identifier, which the sender sets for each message.
func PublishPacketQoS1(topic string, size int) (pkt []byte, idAt, payloadAt int) {
	var b []byte
	b = appendRemaining([]byte{Publish<<4 | 0x02}, 2+len(topic)+2+size)
	b = appendString(b, topic)
	idAt = len(b)
	b = append(b, 0, 1)
	payloadAt = len(b)
	return append(b, make([]byte, size)...), idAt, payloadAt
}

// PublishID returns the packet identifier of a QoS 1/2 PUBLISH body.
func PublishID(body []byte) (uint16, error) {
	if len(body) < 2 {
		return 0, errors.New("short PUBLISH")
	}
	off := 2 + int(binary.BigEndian.Uint16(body))
	if off+2 > len(body) {
		return 0, errors.New("short PUBLISH")
	}
	return binary.BigEndian.Uint16(body[off:]), nil
}

// AppendPuback appends a PUBACK for id.
func AppendPuback(b []byte, id uint16) []byte {
	return binary.BigEndian.AppendUint16(append(b, Puback<<4, 2), id)
}

// DisconnectPacket is an MQTT 3.1.1 DISCONNECT.
var DisconnectPacket = []byte{Disconnect << 4, 0}

// PublishPacket is a QoS 0 PUBLISH of size zero bytes of payload; it returns
// the packet and the offset of the payload in it, so that a sender can
// rewrite the payload (a timestamp) in place for each message.
func PublishPacket(topic string, size int) (pkt []byte, payloadAt int) {
	var b []byte
	b = appendRemaining([]byte{Publish << 4}, 2+len(topic)+size)
	b = appendString(b, topic)
	payloadAt = len(b)
	return append(b, make([]byte, size)...), payloadAt
}

// ReadPacket reads one packet, reusing buf for its body when large enough,
// and returns the packet type, its flags and body. The body is valid until
// the next call with the same buf.
func ReadPacket(r *bufio.Reader, buf []byte) (typ, flags byte, body []byte, err error) {
	h, err := r.ReadByte()
	if err != nil {
		return 0, 0, buf, err
	}
	n, mul := 0, 1
	for i := 0; ; i++ {
		d, err := r.ReadByte()
		if err != nil {
			return 0, 0, buf, err
		}
		n += int(d&0x7f) * mul
		if d&0x80 == 0 {
			break
		}
		if i == 3 {
			return 0, 0, buf, errors.New("malformed remaining length")
		}
		mul *= 128
	}
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		return 0, 0, buf, err
	}
	return h >> 4, h & 0x0f, buf, nil
}

// PublishPayload returns the payload of a PUBLISH body.
func PublishPayload(flags byte, body []byte) ([]byte, error) {
	if len(body) < 2 {
		return nil, errors.New("short PUBLISH")
	}
	off := 2 + int(binary.BigEndian.Uint16(body))
	if flags&0x06 != 0 { // QoS 1 or 2 carry a packet identifier
		off += 2
	}
	if off > len(body) {
		return nil, errors.New("short PUBLISH")
	}
	return body[off:], nil
}

// Expect reads one packet, which must be of type want, and returns its body.
func Expect(r *bufio.Reader, want byte) ([]byte, error) {
	typ, _, body, err := ReadPacket(r, nil)
	if err != nil {
		return nil, err
	}
	if typ != want {
		return nil, fmt.Errorf("got packet type %d, want %d", typ, want)
	}
	return body, nil
}

// Dial opens a TLS connection to addr, sends CONNECT for clientID and
// waits for a successful CONNACK. The reader holds whatever the broker
// sent after the CONNACK.
func Dial(ctx context.Context, addr string, cfg *tls.Config, clientID string) (*tls.Conn, *bufio.Reader, error) {
	return DialFrom(ctx, nil, addr, cfg, clientID)
}

// DialFrom is Dial from the local address local (nil: the system's
// choice). Load clients spread over 127.0.0.x sources with it: one source
// address has only the ephemeral port range's ports to one broker port.
func DialFrom(ctx context.Context, local net.Addr, addr string, cfg *tls.Config, clientID string) (*tls.Conn, *bufio.Reader, error) {
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second, LocalAddr: local}, Config: cfg}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("dial %s as %s: %w", addr, clientID, err)
	}
	c := nc.(*tls.Conn)
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(ConnectPacket(clientID, 300)); err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("CONNECT %s: %w", clientID, err)
	}
	r := bufio.NewReaderSize(c, 64<<10)
	body, err := Expect(r, Connack)
	if err == nil && (len(body) != 2 || body[1] != 0) {
		err = fmt.Errorf("CONNACK % x", body)
	}
	if err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("connect %s: %w", clientID, err)
	}
	_ = c.SetDeadline(time.Time{})
	return c, r, nil
}

// SubscribeOne subscribes an open connection to filter and waits for a
// successful SUBACK.
func SubscribeOne(c net.Conn, r *bufio.Reader, filter string) error {
	return SubscribeOneQoS(c, r, filter, 0)
}

// SubscribeOneQoS is SubscribeOne at qos (the SUBACK must grant it).
func SubscribeOneQoS(c net.Conn, r *bufio.Reader, filter string, qos byte) error {
	if _, err := c.Write(SubscribePacketQoS(1, filter, qos)); err != nil {
		return err
	}
	body, err := Expect(r, Suback)
	if err == nil && (len(body) != 3 || body[2] != qos) {
		err = fmt.Errorf("SUBACK % x", body)
	}
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", filter, err)
	}
	return nil
}
