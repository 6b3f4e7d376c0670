package notify_test

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	mqtt "github.com/wardproject/ward/internal/mochi"
	"github.com/wardproject/ward/internal/mochi/packets"

	"github.com/google/go-cmp/cmp"

	"github.com/wardproject/ward/internal/alert"
	"github.com/wardproject/ward/internal/notify"
)

// Ward's broker publishes through its inline client with this very method.
var _ notify.Publisher = (*mqtt.Server)(nil)

// message is one publish.
type message struct {
	topic   string
	payload []byte
	retain  bool
	qos     byte
}

// chanPublisher records publishes; err, when set, fails them.
type chanPublisher struct {
	got chan message
	err error
}

func (p *chanPublisher) Publish(topic string, payload []byte, retain bool, qos byte) error {
	if p.err != nil {
		return p.err
	}
	p.got <- message{topic, payload, retain, qos}
	return nil
}

func TestMQTTSinkTopicAndPayload(t *testing.T) {
	tests := []struct {
		name   string
		opts   notify.MQTTOptions
		n      alert.Notification
		topic  string
		retain bool
	}{
		{"default prefix", notify.MQTTOptions{}, sample(), "ward/alerts/high/d-42", false},
		{"custom prefix retained", notify.MQTTOptions{TopicPrefix: "site1/security", Retain: true}, sample(), "site1/security/high/d-42", true},
		{"device with wildcards", notify.MQTTOptions{}, func() alert.Notification {
			n := sample()
			n.Alert.Device = "a/+/#\xff"
			n.Alert.Severity = ""
			return n
		}(), "ward/alerts/unknown/a_____", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &chanPublisher{got: make(chan message, 1)}
			tt.opts.Publisher = p
			s, err := notify.NewMQTT(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Send(t.Context(), tt.n); err != nil {
				t.Fatal(err)
			}
			m := recvTimeout(t, p.got, "the publish")
			if m.topic != tt.topic || m.retain != tt.retain || m.qos != 1 {
				t.Errorf("published to %q retain=%v qos=%d, want %q retain=%v qos=1", m.topic, m.retain, m.qos, tt.topic, tt.retain)
			}
			var got alert.Notification
			if err := json.Unmarshal(m.payload, &got); err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.n.Alert.ID, got.Alert.ID); d != "" {
				t.Errorf("payload (-want +got):\n%s", d)
			}
		})
	}
}

func TestMQTTSinkError(t *testing.T) {
	s, err := notify.NewMQTT(notify.MQTTOptions{Publisher: &chanPublisher{err: errors.New("broker down")}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(t.Context(), sample()); err == nil || !strings.Contains(err.Error(), "publish to ward/alerts/high/d-42: broker down") {
		t.Errorf("Send error %v", err)
	}
}

func TestNewMQTTErrors(t *testing.T) {
	p := &chanPublisher{}
	for _, tt := range []struct {
		name string
		opts notify.MQTTOptions
		want string
	}{
		{"no publisher", notify.MQTTOptions{}, "publisher: required"},
		{"wildcard", notify.MQTTOptions{Publisher: p, TopicPrefix: "ward/#"}, "wildcard"},
		{"dollar", notify.MQTTOptions{Publisher: p, TopicPrefix: "$SYS/x"}, "starts with '$'"},
		{"slash", notify.MQTTOptions{Publisher: p, TopicPrefix: "ward/"}, "ends with '/'"},
		{"qos", notify.MQTTOptions{Publisher: p, QoS: 3}, "qos: 3 is not 1 or 2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := notify.NewMQTT(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestMochiInlinePublisher(t *testing.T) {
	srv := mqtt.New(&mqtt.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), InlineClient: true})
	t.Cleanup(func() { srv.Close() })
	got := make(chan message, 1)
	if err := srv.Subscribe("ward/alerts/#", 1, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		got <- message{topic: pk.TopicName, payload: pk.Payload}
	}); err != nil {
		t.Fatal(err)
	}
	s, err := notify.NewMQTT(notify.MQTTOptions{Publisher: srv})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(t.Context(), sample()); err != nil {
		t.Fatal(err)
	}
	if m := recvTimeout(t, got, "the inline publish"); m.topic != "ward/alerts/high/d-42" {
		t.Errorf("topic %q", m.topic)
	}
}
