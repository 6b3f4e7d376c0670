package notify

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/wardproject/ward/internal/secret"
)

// PahoOptions configure a PahoPublisher. Broker and ClientID are required.
type PahoOptions struct {
	// Broker is the broker's URL: mqtts://host:8883 (or ssl://, tls://),
	// or mqtt://host:1883 (tcp://) only to a broker on this host.
	Broker   string
	ClientID string
	Username string
	Password secret.Value
	// TLS is the client TLS configuration for mqtts; nil means the system
	// roots. TLS 1.2 is the floor; InsecureSkipVerify is refused.
	TLS *tls.Config
	// Timeout bounds connecting and each publish; 0 means 10s.
	Timeout time.Duration
	Logger  *slog.Logger // nil: discard
}

// PahoPublisher is a Publisher over an Eclipse Paho client, for a broker
// outside Ward. It connects in the background and reconnects on its own;
// a Publish while the broker is unreachable fails after Timeout and is
// retried by the Dispatcher.
type PahoPublisher struct {
	client  paho.Client
	connect paho.Token // the first connection
	timeout time.Duration
}

// NewPahoPublisher checks opts and starts connecting to the broker; it
// does not wait for the connection.
func NewPahoPublisher(opts PahoOptions) (*PahoPublisher, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	bad := func(key, problem, hint string) error {
		return &ConfigError{Kind: "mqtt", Key: key, Problem: problem, Hint: hint}
	}
	u, err := url.Parse(opts.Broker)
	if err != nil || u.Host == "" {
		return nil, bad("broker", fmt.Sprintf("%q is not a broker URL", opts.Broker), "e.g. mqtts://broker.example.com:8883")
	}
	secure := false
	switch u.Scheme {
	case "mqtts", "ssl", "tls":
		secure = true
	case "mqtt", "tcp":
		if !isLoopback(u.Hostname()) {
			return nil, bad("broker", "plain MQTT is allowed only to a broker on this host", "use mqtts://")
		}
	default:
		return nil, bad("broker", fmt.Sprintf("unsupported scheme %q", u.Scheme), "use mqtts://host:port")
	}
	if opts.ClientID == "" {
		return nil, bad("client_id", "required", "")
	}
	scheme := "tcp"
	if secure {
		scheme = "ssl"
	}
	co := paho.NewClientOptions().
		AddBroker(scheme + "://" + u.Host).
		SetClientID(opts.ClientID).
		SetCleanSession(true).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectTimeout(opts.Timeout).
		SetWriteTimeout(opts.Timeout).
		SetMaxReconnectInterval(time.Minute).
		SetOrderMatters(false)
	if secure {
		tc, err := clientTLS(opts.TLS, "mqtt", "")
		if err != nil {
			return nil, err
		}
		co.SetTLSConfig(tc)
	}
	if opts.Username != "" {
		co.SetUsername(opts.Username)
		co.SetPassword(opts.Password.Reveal())
	}
	log := opts.Logger.With("component", "notify", "broker", u.Host)
	co.SetConnectionLostHandler(func(_ paho.Client, err error) {
		log.Warn("MQTT broker connection lost; reconnecting", "err", err)
	})
	c := paho.NewClient(co)
	// With ConnectRetry, Connect returns at once and keeps trying.
	return &PahoPublisher{client: c, connect: c.Connect(), timeout: opts.Timeout}, nil
}

// Publish publishes one message and waits for the broker's
// acknowledgement (QoS 1 and 2) for at most the Timeout. Before the first
// connection it waits for it, within the same Timeout; while the client
// is reconnecting it fails at once (the session is clean, so paho would
// drop a message queued meanwhile) and the Dispatcher retries.
func (p *PahoPublisher) Publish(topic string, payload []byte, retain bool, qos byte) error {
	if !p.client.IsConnectionOpen() {
		if !p.connect.WaitTimeout(p.timeout) || !p.client.IsConnectionOpen() {
			return errors.New("mqtt publish: not connected to the broker")
		}
	}
	t := p.client.Publish(topic, qos, retain, payload)
	if !t.WaitTimeout(p.timeout) {
		return errors.New("mqtt publish: no acknowledgement from the broker in time")
	}
	if err := t.Error(); err != nil {
		return fmt.Errorf("mqtt publish: %w", err)
	}
	return nil
}

// Close disconnects from the broker.
func (p *PahoPublisher) Close() error {
	p.client.Disconnect(250)
	return nil
}
