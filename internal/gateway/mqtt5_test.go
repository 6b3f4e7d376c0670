package gateway_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/wardproject/ward/internal/gwevent"
	"github.com/wardproject/ward/internal/mochi/packets"

	"github.com/wardproject/ward/internal/gateway"
	"github.com/wardproject/ward/internal/store"
)

// v5 is a minimal MQTT 5 client built on mochi's packet codec, enough to
// check reason codes that paho.mqtt.golang (3.1.1 only) cannot show.
type v5 struct {
	t    testing.TB
	conn *tls.Conn
	r    *bufio.Reader
	id   uint16
}

func (e *env) dial5(cert *tls.Certificate, clientID string) (*v5, packets.Packet) {
	e.t.Helper()
	conn, err := tls.Dial("tcp", e.addr, e.clientTLS(cert))
	if err != nil {
		e.t.Fatalf("dial: %v", err)
	}
	e.t.Cleanup(func() { conn.Close() })
	c := &v5{t: e.t, conn: conn, r: bufio.NewReader(conn)}
	c.send(packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Connect},
		Connect:     packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 30, ClientIdentifier: clientID},
	})
	return c, c.read()
}

func (c *v5) send(pk packets.Packet) {
	c.t.Helper()
	pk.ProtocolVersion = 5
	var buf bytes.Buffer
	var err error
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectEncode(&buf)
	case packets.Publish:
		err = pk.PublishEncode(&buf)
	case packets.Subscribe:
		err = pk.SubscribeEncode(&buf)
	default:
		err = fmt.Errorf("unsupported packet type %d", pk.FixedHeader.Type)
	}
	if err != nil {
		c.t.Fatal(err)
	}
	_ = c.conn.SetWriteDeadline(time.Now().Add(wait))
	if _, err := c.conn.Write(buf.Bytes()); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// read returns the next packet; a closed connection yields a zero packet.
func (c *v5) read() packets.Packet {
	c.t.Helper()
	pk, err := c.next()
	if err != nil {
		c.t.Fatal(err)
	}
	return pk
}

// next returns the next packet or a decoding error, without failing the
// test (it may run on another goroutine); a closed connection yields a
// zero packet.
func (c *v5) next() (packets.Packet, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(wait))
	b, err := c.r.ReadByte()
	if err != nil {
		return packets.Packet{}, nil
	}
	var pk packets.Packet
	pk.ProtocolVersion = 5
	if err := pk.FixedHeader.Decode(b); err != nil {
		return pk, err
	}
	n, _, err := packets.DecodeLength(c.r)
	if err != nil {
		return pk, err
	}
	pk.FixedHeader.Remaining = n
	body := make([]byte, n)
	if _, err := io.ReadFull(c.r, body); err != nil {
		return pk, err
	}
	switch pk.FixedHeader.Type {
	case packets.Connack:
		err = pk.ConnackDecode(body)
	case packets.Suback:
		err = pk.SubackDecode(body)
	case packets.Puback:
		err = pk.PubackDecode(body)
	case packets.Pubrec:
		err = pk.PubrecDecode(body)
	case packets.Publish:
		err = pk.PublishDecode(body)
	case packets.Disconnect:
		err = pk.DisconnectDecode(body)
	}
	return pk, err
}

func (c *v5) subscribe(filter string) byte {
	c.t.Helper()
	c.id++
	c.send(packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1},
		PacketID:    c.id,
		Filters:     packets.Subscriptions{{Filter: filter, Qos: 1}},
	})
	pk := c.read()
	if pk.FixedHeader.Type != packets.Suback || len(pk.ReasonCodes) != 1 {
		c.t.Fatalf("want SUBACK, got type %d", pk.FixedHeader.Type)
	}
	return pk.ReasonCodes[0]
}

func (c *v5) publish(topic string, payload []byte) {
	c.t.Helper()
	c.id++
	c.send(packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1},
		PacketID:    c.id, TopicName: topic, Payload: payload,
	})
}

// publishAcked publishes at QoS 1 and returns the reason code of its
// PUBACK; it does not fail the test (it may run on another goroutine) but
// returns an error for anything else than the PUBACK.
func (c *v5) publishAcked(topic string, payload []byte) (byte, error) {
	c.id++
	pk := packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1},
		PacketID:    c.id, TopicName: topic, Payload: payload, ProtocolVersion: 5,
	}
	var buf bytes.Buffer
	if err := pk.PublishEncode(&buf); err != nil {
		return 0, err
	}
	_ = c.conn.SetWriteDeadline(time.Now().Add(wait))
	if _, err := c.conn.Write(buf.Bytes()); err != nil {
		return 0, fmt.Errorf("publish %d: %w", pk.PacketID, err)
	}
	ack, err := c.next()
	if err != nil {
		return 0, err
	}
	if ack.FixedHeader.Type != packets.Puback || ack.PacketID != pk.PacketID {
		return 0, fmt.Errorf("publish %d: got packet type %d id %d, want its PUBACK", pk.PacketID, ack.FixedHeader.Type, ack.PacketID)
	}
	return ack.ReasonCode, nil
}

func TestMQTT5ReasonCodes(t *testing.T) {
	devs := activeDevices("dev-a", "dev-b")
	devs[0].Policy.MaxMessageBytes = 512
	e := newEnv(t, devs, nil, gateway.Limits{})
	ca, cb := issue(t, e.ca, "dev-a"), issue(t, e.ca, "dev-b")

	if _, ack := e.dial5(&ca, "dev-b"); ack.ReasonCode != packets.ErrClientIdentifierNotValid.Code {
		t.Fatalf("foreign client ID: CONNACK %#x, want 0x85", ack.ReasonCode)
	}
	e.waitEvent(refused("dev-a", gwevent.ReasonClientID))

	a, ack := e.dial5(&ca, "dev-a:v5")
	if ack.FixedHeader.Type != packets.Connack || ack.ReasonCode != 0 {
		t.Fatalf("CONNACK type %d code %#x", ack.FixedHeader.Type, ack.ReasonCode)
	}
	if code := a.subscribe("devices/dev-a/#"); code != 1 {
		t.Fatalf("own SUBACK %#x", code)
	}
	for _, f := range []string{"devices/dev-b/#", "devices/+/x", "#"} {
		if code := a.subscribe(f); code != packets.ErrNotAuthorized.Code {
			t.Errorf("subscribe %q: SUBACK %#x, want 0x87", f, code)
		}
	}
	a.publish("devices/dev-b/cmd", []byte("x"))
	if pk := a.read(); pk.FixedHeader.Type != packets.Puback || pk.ReasonCode != packets.ErrNotAuthorized.Code {
		t.Fatalf("publish to B: type %d code %#x, want PUBACK 0x87", pk.FixedHeader.Type, pk.ReasonCode)
	}
	a.publish("devices/dev-a/ok", []byte("fine"))
	// PUBACK and the delivery to our own subscription, in either order.
	var gotAck, gotMsg bool
	for !(gotAck && gotMsg) {
		pk := a.read()
		switch pk.FixedHeader.Type {
		case packets.Puback:
			gotAck = pk.ReasonCode == 0
		case packets.Publish:
			gotMsg = pk.TopicName == "devices/dev-a/ok"
		default:
			t.Fatalf("unexpected packet type %d", pk.FixedHeader.Type)
		}
	}
	a.publish("devices/dev-a/big", make([]byte, 1000))
	for {
		pk := a.read()
		if pk.FixedHeader.Type == packets.Disconnect {
			if pk.ReasonCode != packets.ErrPacketTooLarge.Code {
				t.Fatalf("DISCONNECT %#x, want 0x95", pk.ReasonCode)
			}
			break
		}
		if pk.FixedHeader.Type == 0 {
			t.Fatal("connection closed without DISCONNECT 0x95")
		}
	}

	// Quarantine: DISCONNECT 0x98, then CONNACK refusal at the TLS layer.
	b, _ := e.dial5(&cb, "dev-b")
	e.gw.SetDevice(store.Device{ID: "dev-b", Status: store.StatusQuarantined})
	if pk := b.read(); pk.FixedHeader.Type != packets.Disconnect || pk.ReasonCode != packets.ErrAdministrativeAction.Code {
		t.Fatalf("quarantine: type %d code %#x, want DISCONNECT 0x98", pk.FixedHeader.Type, pk.ReasonCode)
	}
}
