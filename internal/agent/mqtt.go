package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/wardproject/ward/internal/update"
)

// Publisher sends one MQTT message (QoS 1). *Conn implements it.
type Publisher interface {
	Publish(ctx context.Context, topic string, payload []byte) error
}

// Orders receives update orders on devices/<id>/update/cmd, carries them
// out one at a time with an Installer and reports every step on
// devices/<id>/update/status.
type Orders struct {
	id    string
	in    *Installer
	log   *slog.Logger
	queue chan update.Order

	mu  sync.Mutex
	pub Publisher
}

// SetPublisher sets where statuses go (the connection is made after the
// subscription handler exists).
func (o *Orders) SetPublisher(p Publisher) {
	o.mu.Lock()
	o.pub = p
	o.mu.Unlock()
}

// maxQueuedOrders bounds the orders waiting behind the one in progress.
const maxQueuedOrders = 8

// NewOrders returns an Orders for device id.
func NewOrders(id string, in *Installer, pub Publisher, log *slog.Logger) *Orders {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Orders{id: id, in: in, pub: pub, log: log.With("component", "orders"), queue: make(chan update.Order, maxQueuedOrders)}
}

// Handle takes one message from the order topic. A malformed order is
// logged and, when it names a rollout and version, answered with failed;
// it never stops the agent. A duplicate of the order in progress is
// answered at once; other orders wait their turn.
func (o *Orders) Handle(ctx context.Context, payload []byte) {
	ord, err := update.ParseOrder(payload)
	if err != nil {
		o.log.Warn("malformed update order ignored", "err", err, "bytes", len(payload))
		var partial struct{ Rollout, Version string }
		if json.Unmarshal(payload, &partial) == nil {
			o.report(ctx, update.Status{Rollout: partial.Rollout, Version: partial.Version, State: update.StateFailed,
				Reason: truncateReason("malformed order: " + err.Error()), At: o.in.opts.Now().UTC()})
		}
		return
	}
	if o.in.InProgress(ord) {
		o.report(ctx, update.Status{Rollout: ord.Rollout, Version: ord.Version, State: update.StateDownloading, Reason: "already in progress", At: o.in.opts.Now().UTC()})
		return
	}
	select {
	case o.queue <- ord:
	default:
		o.report(ctx, update.Status{Rollout: ord.Rollout, Version: ord.Version, State: update.StateFailed,
			Reason: fmt.Sprintf("busy: %d orders already wait; send it again later", maxQueuedOrders), At: o.in.opts.Now().UTC()})
	}
}

// Run carries out queued orders until ctx ends.
func (o *Orders) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ord := <-o.queue:
			o.in.Install(ctx, ord, func(s update.Status) { o.report(ctx, s) })
		}
	}
}

// report publishes a status if it is valid on the wire (a malformed
// order may not give a rollout and version to report against).
func (o *Orders) report(ctx context.Context, s update.Status) {
	if err := s.Check(); err != nil {
		o.log.Warn("status not sent", "err", err)
		return
	}
	b, _ := json.Marshal(s)
	o.mu.Lock()
	pub := o.pub
	o.mu.Unlock()
	if pub == nil {
		o.log.Warn("update status not published: not connected yet", "state", s.State, "reason", s.Reason)
		return
	}
	if err := pub.Publish(ctx, update.StatusTopic(o.id), b); err != nil {
		o.log.Warn("update status not published", "state", s.State, "err", err)
	}
}

// ConnOptions configure Conn. Addr, Identity and Roots are required.
type ConnOptions struct {
	Addr     string // the gateway's host:port (8883)
	Identity *Identity
	Roots    *x509.CertPool
	// Subscriptions are (re)made on every connection, with QoS 1.
	Subscriptions map[string]func(ctx context.Context, payload []byte)
	Logger        *slog.Logger
	// CAFile names the file Roots came from, for the messages (default
	// ca.pem).
	CAFile string
	// Retry is the backoff between connection attempts (default 1 s
	// doubling to 5 min, with jitter).
	Retry Retry
	// Now is the clock that judges the device certificate's expiry
	// (default time.Now); Sleep waits between attempts (default
	// SleepContext).
	Now   func() time.Time
	Sleep Sleeper
}

// dialTimeout bounds the TCP connection and TLS handshake to the gateway;
// connackTimeout the wait for its CONNACK after that.
const (
	dialTimeout    = 10 * time.Second
	connackTimeout = 15 * time.Second
)

// Conn is the agent's MQTT connection (paho) with the device certificate.
// It keeps a persistent session (clean session off: QoS 1 orders sent
// while the device was offline are delivered when it returns) and
// subscribes again on every connection; paho reconnects with backoff.
type Conn struct {
	opts ConnOptions
	log  *slog.Logger
	// base is the context handed to subscription handlers: paho's
	// callbacks carry none, and Dial's ctx bounds the agent's life.
	base context.Context

	mu sync.Mutex
	c  paho.Client
	// peer is the gateway's certificate chain of the last handshake: the
	// issuing CA in it lets diagnose check the device's own certificate.
	peer []*x509.Certificate
}

// Dial connects, retrying with backoff until it succeeds or ctx ends.
// Each failure is logged with its explanation (TLS, port, revoked
// certificate...).
func Dial(ctx context.Context, opts ConnOptions) (*Conn, error) {
	if opts.Addr == "" || opts.Identity == nil || opts.Roots == nil {
		return nil, errors.New("agent: ConnOptions.Addr, Identity and Roots are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.CAFile == "" {
		opts.CAFile = CAFile
	}
	if opts.Retry.Base <= 0 {
		opts.Retry.Base = time.Second
	}
	if opts.Retry.Max <= 0 {
		opts.Retry.Max = 5 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Sleep == nil {
		opts.Sleep = SleepContext
	}
	c := &Conn{opts: opts, log: opts.Logger.With("component", "mqtt"), base: ctx}
	return c, c.connect(ctx)
}

func (c *Conn) connect(ctx context.Context) error {
	id := c.opts.Identity.ID()
	po := paho.NewClientOptions().AddBroker("tls://" + c.opts.Addr).SetClientID(id + ":agent").
		SetProtocolVersion(4). // no silent second try with MQTT 3.1 on a failure
		SetCustomOpenConnectionFn(c.dial).SetCleanSession(false).
		SetAutoReconnect(true).SetMaxReconnectInterval(c.opts.Retry.Max).SetOrderMatters(false).
		SetConnectTimeout(connackTimeout)
	subscribed := make(chan struct{}, 1)
	po.SetOnConnectHandler(func(cl paho.Client) {
		for topic, h := range c.opts.Subscriptions {
			h := h
			tok := cl.Subscribe(topic, 1, func(_ paho.Client, m paho.Message) { h(c.base, m.Payload()) })
			if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
				c.log.Error("subscribe", "topic", topic, "err", tok.Error())
			}
		}
		c.log.Info("connected", "addr", c.opts.Addr)
		select {
		case subscribed <- struct{}{}:
		default:
		}
	})
	po.SetConnectionLostHandler(func(_ paho.Client, err error) {
		msg, _ := c.diagnose(err)
		c.log.Warn("connection lost; reconnecting", "addr", c.opts.Addr, "err", msg)
	})
	var reconnecting atomic.Bool // the first connection's failures are logged by the loop below
	po.SetConnectionNotificationHandler(func(_ paho.Client, n paho.ConnectionNotification) {
		if f, ok := n.(paho.ConnectionNotificationFailed); ok && reconnecting.Load() {
			msg, permanent := c.diagnose(f.Reason)
			lvl := slog.LevelWarn
			if permanent {
				lvl = slog.LevelError
			}
			c.log.Log(c.base, lvl, "reconnect to the gateway failed; retrying with backoff", "addr", c.opts.Addr, "err", msg)
		}
	})
	cl := paho.NewClient(po)
	for n := 1; ; n++ {
		tok := cl.Connect()
		tok.WaitTimeout(dialTimeout + connackTimeout + 5*time.Second)
		err := tok.Error()
		if err == nil && cl.IsConnected() {
			break
		}
		if err == nil {
			err = fmt.Errorf("no CONNACK within %v (is this Ward's MQTT port, 8883?)", dialTimeout+connackTimeout)
		}
		msg, permanent := c.diagnose(err)
		lvl, wait := slog.LevelWarn, c.opts.Retry.backoff(n)
		if permanent { // retrying soon will not help: at the cap, and loudly
			lvl, wait = slog.LevelError, c.opts.Retry.backoff(64)
		}
		c.log.Log(ctx, lvl, "connect to the gateway failed; retrying", "addr", c.opts.Addr, "attempt", n, "err", msg,
			"retry_in", wait.Round(time.Second), "next_attempt", c.opts.Now().Add(wait).Round(time.Second))
		if err := c.opts.Sleep(ctx, wait); err != nil {
			return err
		}
	}
	reconnecting.Store(true)
	c.mu.Lock()
	c.c = cl
	c.mu.Unlock()
	select { // the subscriptions are made before Dial or Reconnect returns
	case <-subscribed:
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(45 * time.Second):
		c.log.Warn("connected, but the subscriptions are not confirmed yet")
	}
	return nil
}

// diagnose explains a connection failure and says whether it is permanent.
func (c *Conn) diagnose(err error) (string, bool) {
	c.mu.Lock()
	peer := c.peer
	c.mu.Unlock()
	return diagnose(err, c.opts.Identity, c.opts.Roots, peer, c.opts.CAFile, c.opts.Now())
}

// dial opens the TLS connection to the gateway for paho, bounded by
// dialTimeout, and watches its first bytes: an HTTP answer means the
// address is an HTTPS port, which paho alone reports as a silent timeout.
func (c *Conn) dial(u *url.URL, _ paho.ClientOptions) (net.Conn, error) {
	d := &net.Dialer{Timeout: dialTimeout}
	conn, err := tls.DialWithDialer(d, "tcp", u.Host, c.opts.Identity.ClientTLS(c.opts.Roots))
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.peer = conn.ConnectionState().PeerCertificates
	c.mu.Unlock()
	return &sniffConn{Conn: conn}, nil
}

// sniffConn fails the first read that starts with an HTTP status line.
// It takes whatever the first read of the connection returns (a CONNACK
// is only 4 bytes, so it cannot wait for more) and hands it out to the
// reads that follow.
type sniffConn struct {
	net.Conn
	seen    bool
	pending []byte
}

func (s *sniffConn) Read(p []byte) (int, error) {
	if !s.seen {
		s.seen = true
		buf := make([]byte, 512)
		n, err := s.Conn.Read(buf)
		if bytes.HasPrefix(buf[:n], []byte("HTTP/")) {
			return 0, errHTTPOnMQTTPort
		}
		s.pending = buf[:n]
		if n == 0 {
			return 0, err
		}
	}
	if len(s.pending) > 0 {
		n := copy(p, s.pending)
		s.pending = s.pending[n:]
		return n, nil
	}
	return s.Conn.Read(p)
}

// Reconnect closes the connection and opens a new one (after a
// certificate renewal: the new certificate is presented).
func (c *Conn) Reconnect(ctx context.Context) error {
	c.mu.Lock()
	old := c.c
	c.mu.Unlock()
	if old != nil {
		old.Disconnect(1000)
	}
	return c.connect(ctx)
}

// Publish sends payload on topic with QoS 1.
func (c *Conn) Publish(ctx context.Context, topic string, payload []byte) error {
	c.mu.Lock()
	cl := c.c
	c.mu.Unlock()
	if cl == nil {
		return errors.New("not connected")
	}
	tok := cl.Publish(topic, 1, false, payload)
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(30 * time.Second):
		return errors.New("publish timed out")
	}
}

// Close disconnects.
func (c *Conn) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.c != nil {
		c.c.Disconnect(1000)
	}
}
