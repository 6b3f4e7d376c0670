package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/wardproject/ward/internal/alert"
)

// DefaultTopicPrefix is the default first levels of the MQTT topic.
const DefaultTopicPrefix = "ward/alerts"

// Publisher publishes one MQTT message: *gateway.Gateway (Ward's own
// broker) implements it, as does mochi's *mqtt.Server with its inline
// client enabled.
type Publisher interface {
	Publish(topic string, payload []byte, retain bool, qos byte) error
}

// MQTTOptions configure an MQTT sink. Publisher is required.
type MQTTOptions struct {
	// Name is the sink's name in metrics, logs and dead letters; "" means
	// "mqtt".
	Name      string
	Publisher Publisher
	// TopicPrefix starts every topic: <TopicPrefix>/<severity>/<device>.
	// "" means DefaultTopicPrefix. It may not hold wildcards or start
	// with '$'.
	TopicPrefix string
	// QoS is 1 (at least once, the default when 0) or 2 (exactly once).
	QoS byte
	// Retain sets the retain flag, so that a subscriber arriving later
	// sees the last notification per severity and device.
	Retain bool
}

// MQTT is a Sink that publishes each notification as JSON (the same body as
// the webhook) to <prefix>/<severity>/<device>, for operators' own
// automation to subscribe to, e.g. ward/alerts/+/# or ward/alerts/critical/#.
type MQTT struct {
	opts MQTTOptions
}

// NewMQTT checks opts and returns an MQTT sink.
func NewMQTT(opts MQTTOptions) (*MQTT, error) {
	if opts.Name == "" {
		opts.Name = "mqtt"
	}
	if opts.TopicPrefix == "" {
		opts.TopicPrefix = DefaultTopicPrefix
	}
	if opts.QoS == 0 {
		opts.QoS = 1
	}
	if opts.Publisher == nil {
		return nil, &ConfigError{Kind: "mqtt", Name: opts.Name, Key: "publisher", Problem: "required"}
	}
	if err := checkTopicPrefix(opts.Name, opts.TopicPrefix); err != nil {
		return nil, err
	}
	if opts.QoS > 2 {
		return nil, &ConfigError{Kind: "mqtt", Name: opts.Name, Key: "qos", Problem: fmt.Sprintf("%d is not 1 or 2", opts.QoS)}
	}
	return &MQTT{opts: opts}, nil
}

// checkTopicPrefix checks an MQTT topic prefix.
func checkTopicPrefix(name, p string) error {
	bad := func(problem string) error {
		return &ConfigError{Kind: "mqtt", Name: name, Key: "topic_prefix", Problem: problem, Hint: "e.g. ward/alerts"}
	}
	switch {
	case strings.ContainsAny(p, "+#\x00"):
		return bad(fmt.Sprintf("%q holds a wildcard or NUL", p))
	case strings.HasPrefix(p, "$"):
		return bad(fmt.Sprintf("%q starts with '$', which brokers reserve", p))
	case strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/"):
		return bad(fmt.Sprintf("%q starts or ends with '/'", p))
	case !utf8.ValidString(p) || len(p) > 512:
		return bad("not valid UTF-8 or longer than 512 bytes")
	}
	return nil
}

// Name returns the sink's name.
func (m *MQTT) Name() string { return m.opts.Name }

// Topic returns the topic of n: <prefix>/<severity>/<device>. A device ID
// or severity holding '/', '+', '#' or NUL, or empty, is made one plain
// topic level ('_' for those characters, "unknown" for empty), so that it
// cannot reach other subscribers' filters.
func (m *MQTT) Topic(n alert.Notification) string {
	return m.opts.TopicPrefix + "/" + topicLevel(string(n.Alert.Severity)) + "/" + topicLevel(n.Alert.Device)
}

func topicLevel(v string) string {
	if v == "" {
		return "unknown"
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case '/', '+', '#', 0, utf8.RuneError:
			return '_'
		}
		return r
	}, strings.ToValidUTF8(v, "_"))
}

// Send publishes n. The Publisher bounds the wait for the broker.
func (m *MQTT) Send(ctx context.Context, n alert.Notification) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	payload, err := json.Marshal(n)
	if err != nil {
		return Permanent(fmt.Errorf("encode notification: %w", err))
	}
	topic := m.Topic(n)
	if err := m.opts.Publisher.Publish(topic, payload, m.opts.Retain, m.opts.QoS); err != nil {
		return fmt.Errorf("publish to %s: %w", topic, err)
	}
	return nil
}
