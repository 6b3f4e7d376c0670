// Package gateway authenticates devices on Ward's MQTT broker and enforces
// per-device policy. It is a set of hooks on the MQTT broker, Ward's fork of
// mochi-mqtt in internal/mochi (see its README for why and what changed).
//
// A device is identified only by its verified client certificate (the
// urn:ward:device:<id> URI SAN; the CN only behind an explicit setting, see
// Identities), never by MQTT client ID or username. Hooks run on each
// connection's goroutine: they read in-memory snapshots (revocations,
// quarantine, policies, limits) and never block on I/O.
//
// # Admission
//
// A connection is admitted in two steps. At the TLS handshake the client
// certificate must chain to the CA in Options.TLS (Go's crypto/tls does the
// chain and validity check; pki.CA.MQTTConfig trusts Ward's issuing CA only,
// never the root above an imported one) and the gateway's VerifyConnection
// refuses a certificate that names no device, a revoked serial, a serial
// Ward did not record for that device (Options.Identities: a certificate
// signed with the issuing key outside Ward), and a device that is unknown
// or not active. At CONNECT the single Ward hook re-checks the revocation,
// expiry and the device's status (the device may have changed since the
// handshake), applies the connection-rate limit and the client-ID rule: the
// client ID must be the device ID or "<device-id>:<suffix>". An empty client
// ID is replaced by "<device-id>:<server-assigned>". Every refusal is counted
// in ward_gateway_refused_total{reason} and recorded as a device event of kind
// "refused" with detail "reason".
//
// A device the gateway would refuse as unknown or not active is first
// re-read from the store (when Options.Devices is a DeviceLookup), at most
// once per LookupInterval: in a cluster, a device enrolled through another
// node that connects here at once is admitted without waiting for that
// node's notice. Only a newer record that admits the device is applied.
// Likewise an unrecorded serial is re-read from the store (Identities'
// LearnCertificate), at most once per LookupInterval per serial, before it
// is refused as unknown-certificate.
//
// mochi admits a client when any hook says yes; Ward registers exactly one
// auth/ACL hook and it denies by default.
//
// # Topics
//
// See ACL: by default a device may publish and subscribe only to
// devices/{id} and devices/{id}/#, plus the grants of its own and its model's
// store.Policy. Nothing under devices/ other than its own tree is ever
// allowed, whatever the grants say, and $-topics are never allowed.
//
// # Limits
//
// Limits are per device (shared by all of its sessions), with per-device and
// per-model overrides. Publishes over the message or byte rate are dropped
// (throttled) and counted; a device whose dropped publishes within
// Limits.RateWindow exceed what it is allowed in that window (it keeps sending
// at more than twice its rate) is disconnected (MQTT 5: DISCONNECT 0x96).
// A payload over MaxMessageBytes disconnects an MQTT 5 client with 0x95 Packet
// too large and is dropped (acknowledged, not forwarded) for MQTT 3.1.1; a
// packet over MaxPacketBytes is refused by the broker before it is read.
// Connection attempts over ConnectsPerMinute ban the device for ConnectBan.
//
// # Live revocation and quarantine
//
// SetDevice with a quarantined, revoked or pending status, RemoveDevice,
// Disconnect and CertificateRevoked close the affected sessions at once
// (MQTT 5: DISCONNECT 0x98 Administrative action, 0x87 Not authorized for a
// revoked certificate).
//
// A device in restricted quarantine (store.QuarantineRestrict) is
// disconnected the same way, then admitted again with an ACL of its
// quarantine tree only, quarantine/{id} and quarantine/{id}/# (see
// NewQuarantineACL): it stays reachable for remediation by an operator's
// service granted quarantine/... topics, while its publishes anywhere else
// are dropped and recorded as ACL denials and its earlier subscriptions,
// including those of a persistent session, deliver nothing: whenever a
// device's policy changes (SetDevice, SetModelPolicy) the gateway removes
// from its broker sessions, live and persisted, every subscription the new
// policy does not allow. That is also why a withdrawn grant stops earlier
// subscriptions, and why the broker need not check the ACL on each
// delivery (it did, at 6.6 % of a fan-out's CPU).
//
// # Delivery: nothing acknowledged is dropped silently
//
// A publisher's PUBACK is sent once every subscriber's session holds the
// message. Each live session queues encoded messages up to
// Limits.SubscriberQueueBytes, allocated only while messages wait, written
// by a goroutine that exists only while the queue holds something. A full
// queue (or in-flight window) makes the publisher wait, which stops reading
// its socket, up to Limits.DeliveryWait for QoS 1/2 and
// Limits.DeliveryWaitQoS0 for QoS 0. Then a QoS 0 message is dropped for
// that subscriber, and a QoS 1/2 subscriber is disconnected as too slow
// (MQTT 5: DISCONNECT 0x97; limit event slow-subscriber) with the message
// kept in its session for when it resumes, if the session can hold it
// offline (below). Every drop is counted in
// ward_gateway_delivery_dropped_total{qos,reason} and recorded on the
// subscriber's device as a limit event delivery-dropped (rate-limited).
//
// # Persist or refuse: offline sessions
//
// A persisted session whose device is offline holds at most
// Limits.OfflineQueueBytes of QoS 1/2 messages (gateway.offline_queue_bytes,
// 1 MiB, counted with about 800 bytes of broker bookkeeping per message).
// Before a QoS 1/2 publish is acknowledged or retained, room for it is
// reserved in every offline session it goes to; if one cannot hold it,
// nothing is delivered and the publisher is refused instead of
// acknowledged: MQTT 5 gets PUBACK (PUBREC) 0x97 Quota exceeded and decides
// itself whether to send it again later. MQTT 3.1.1 has no negative
// acknowledgement, and a client resends an unacknowledged message only when
// it reconnects, so the gateway closes the publisher's connection without
// acknowledging (its will, if any, is published): the client keeps the
// message and sends it again from its session after reconnecting. The
// trade-off: a 3.1.1 publisher whose messages feed a full offline session
// reconnects and retries in a loop, bounded by its connect rate
// (Limits.ConnectsPerMinute, then a ban), until the subscriber returns or
// its session expires; a clean-session 3.1.1 client may give the message
// up on reconnecting, but it never had an acknowledgement for it. A live
// subscriber disconnected as too slow keeps the message in its session
// only within the same bound, else the publish is refused the same way
// (the subscribers that took it may then receive it again if it is
// resent). Every refusal is counted in
// ward_gateway_delivery_refused_total{qos,reason} and recorded as a limit
// event delivery-refused on the subscriber's device and publish-refused on
// the publisher's (rate-limited). An attacker flooding a topic that feeds
// an offline session therefore fills at most that session's bound, and
// legitimate publishers to it are refused, never acknowledged and dropped.
// A device's QoS 1/2 publish that the Observer cannot hold (a
// PublishHolder whose queue is full: the rollout engine's, for a status
// report) is refused the same way, with publish-refused reason not-held.
//
// # Before admission: a flood cannot close the gateway
//
// Until a connection has delivered its CONNECT it is in the handshake
// table: at most Limits.HandshakesPerAddress (8) per source address and
// Limits.HandshakesPerPrefix (64) per /24 (IPv4) or /64 (IPv6), more are
// closed at once; at the global cap (1,024) the oldest entry, the one
// waiting longest, is closed to admit the newcomer, so idle sockets only
// shorten each other's wait and never lock devices out. A socket must send
// the first byte of its ClientHello within HelloTimeout (2 s); the TLS
// handshake and the CONNECT must complete within HandshakeTimeout (10 s)
// of accept. Every drop is counted in
// ward_gateway_handshake_dropped_total{reason}.
//
// mochi's Client.ReadPacket allocates a packet's declared length before
// reading it. The gateway therefore hands mochi a frameConn that assembles
// each packet in a buffer growing with the bytes that arrived and releases
// it only when whole: a declared length costs nothing until it is sent.
// The first packet must be a CONNECT of at most MaxConnectBytes (8 KiB,
// room for a will of a few KiB); a larger or malformed one closes the
// connection before mochi sees it. Later packets are capped at
// MaxPacketBytes.
//
// # Sessions
//
// A device holds at most Limits.SessionsPerDevice (4) sessions on the
// broker, live or persisted offline. A CONNECT that would exceed it with
// live sessions is refused (MQTT 5 CONNACK 0x97 Quota exceeded, 3.1.1
// 0x03 Server unavailable); reconnecting with the client ID of a session the
// device holds takes that session over. Offline persisted sessions make room
// instead: the oldest is purged. An offline session holds at most
// Limits.OfflineQueueBytes of QoS 1/2 messages and is kept MaximumSessionExpiryInterval
// (1 h) after its disconnect. When a device stops being admitted (SetDevice
// with any status but active or restricted quarantine, RemoveDevice) or a
// certificate is revoked (CertificateRevoked), its broker sessions, live and
// persisted, are purged with their subscriptions and queued messages, so
// their memory is released (ward_gateway_sessions_purged_total).
//
// A will is charged like a publish when the broker sends it: the ACL, the
// message size, the message and byte rates, and a retained will counts
// against MaxRetainedPerDevice. A denied publish is always answered: mochi
// drops a publish to $SYS/... before any hook, so the gateway moves its
// topic under a prefix no ACL allows, and it is refused like any denied
// publish (MQTT 5: PUBACK or PUBREC 0x87 Not authorized; 3.1.1, which has
// no reason code: acknowledged and dropped, so the client neither waits
// nor resends it).
//
// # Why a custom listener
//
// mochi's listeners.TCP performs the TLS handshake lazily inside the client
// goroutine, with no deadline before CONNECT and no way to see why a
// handshake failed. The gateway therefore accepts TCP itself, admits the
// connection to the handshake table, runs the handshake with deadlines,
// classifies failures (no certificate, unknown CA, expired, refused) and
// hands only completed TLS connections, wrapped in a frameConn, to mochi
// through the listeners.Listener interface.
//
// # An idle session's memory
//
// A session that waits for its next packet holds one goroutine with a
// 4 KiB stack and no read buffer: the handshake runs on a goroutine that
// exits (its grown stack is freed), the session's read loop starts on a
// fresh one, and it waits on the socket itself, not inside TLS. For that
// the TCP connection under TLS is a recordConn, which hands Go's TLS layer
// one record at a time from a pooled read-ahead buffer: once TLS has
// returned a record's last plaintext nothing is buffered anywhere, and
// frameConn.WaitRead peeks the socket (MSG_PEEK, Linux; elsewhere it reads
// one byte through TLS). mochi's reader takes a pooled buffer only when
// data has arrived. docs/benchmarks.md has the per-KiB breakdown.
package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/big"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	mqtt "github.com/wardproject/ward/internal/mochi"

	"github.com/wardproject/ward/internal/gwevent"
	"github.com/wardproject/ward/internal/pki"
	"github.com/wardproject/ward/internal/store"
)

// RevocationChecker reports whether a certificate serial is revoked. It must
// not block on I/O; *pki.CA implements it.
type RevocationChecker interface {
	IsRevoked(serial *big.Int) bool
}

// Directory is the source of the initial device and model-policy load.
type Directory interface {
	ListDevices(ctx context.Context) ([]store.Device, error)
	ListModelPolicies(ctx context.Context) ([]store.ModelPolicy, error)
}

// DeviceLookup is implemented by a Directory that can read one device (the
// store does). The gateway then re-reads a device it is about to refuse as
// unknown or not active, at most once per LookupInterval per device, so
// that a device enrolled through another cluster node and connecting here
// at once is admitted before that node's notice arrives over the bus.
type DeviceLookup interface {
	GetDevice(ctx context.Context, id string) (store.Device, error)
}

// EventSink receives device events. DeviceEvent must not block: the gateway
// calls it from broker hooks.
type EventSink interface {
	DeviceEvent(e store.Event)
}

// Limits are the global per-device defaults. Zero values mean the documented
// default; store.Policy fields override them per device or per model.
type Limits struct {
	// MaxMessageBytes caps a PUBLISH payload (default 256 KiB).
	MaxMessageBytes int
	// MaxPacketBytes caps any MQTT packet before the broker reads it
	// (mochi Capabilities.MaximumPacketSize); a larger packet closes the
	// connection. Default 4 × MaxMessageBytes. Per-device MaxMessageBytes
	// overrides above it are capped by it.
	MaxPacketBytes int
	// MessagesPerSecond is the sustained publish rate (default 100).
	MessagesPerSecond float64
	// MessageBurst is the message bucket size (default MessagesPerSecond, at least 1).
	MessageBurst float64
	// BytesPerSecond is the sustained payload byte rate (default 1 MiB).
	// The byte bucket holds max(BytesPerSecond, MaxMessageBytes).
	BytesPerSecond float64
	// ConnectsPerMinute caps connection attempts per device (default 30).
	ConnectsPerMinute int
	// ConnectBan is how long a device over ConnectsPerMinute is refused
	// (default 1 minute).
	ConnectBan time.Duration
	// RateWindow is the window over which sustained over-rate publishing
	// leads to a disconnect (default 10 s).
	RateWindow time.Duration
	// EventsPerSecond and EventBurst bound the events recorded per device;
	// the rest are counted in ward_gateway_events_dropped_total (defaults 5
	// and 20).
	EventsPerSecond float64
	EventBurst      float64
	// SessionsPerDevice caps the sessions the broker holds for one device,
	// live or persisted offline (default 4). A CONNECT that would take a
	// device over it with live sessions is refused (CONNACK 0x97 Quota
	// exceeded, 3.1.1: 0x03 Server unavailable); persisted offline sessions
	// are purged instead, oldest first. Reconnecting with the client ID of a
	// session the device holds takes that session over and counts once.
	SessionsPerDevice int
	// HandshakesPerAddress caps the connections from one source address
	// that have not yet sent their CONNECT (default 8); more are closed.
	HandshakesPerAddress int
	// HandshakesPerPrefix is the same cap per /24 (IPv4) or /64 (IPv6)
	// prefix (default 64).
	HandshakesPerPrefix int
	// SubscriberQueueBytes caps the encoded messages queued for one live
	// session before they are written (default 1 MiB). Nothing is allocated
	// while the queue is empty.
	SubscriberQueueBytes int
	// DeliveryWait bounds how long a publish waits for a subscriber's full
	// queue or in-flight window (default 5 s): the publisher's socket is not
	// read meanwhile. A subscriber that still takes no QoS 1/2 message is
	// disconnected (MQTT 5: DISCONNECT 0x97 Quota exceeded) and its
	// persistent session keeps the message.
	DeliveryWait time.Duration
	// DeliveryWaitQoS0 is the same bound for QoS 0 (default 500 ms); the
	// message is then dropped for that subscriber and counted in
	// ward_gateway_delivery_dropped_total.
	DeliveryWaitQoS0 time.Duration
	// OfflineQueueBytes caps what a persisted session holds for its
	// device while it is offline (default 1 MiB): the QoS 1/2 messages,
	// counted with the broker's bookkeeping for each (about 800 bytes
	// beyond topic and payload; one message is always held, whatever its
	// size). A QoS 1/2 publish that a matching offline session cannot hold
	// is refused before it is acknowledged (see the package doc). With
	// SessionsPerDevice sessions, a device's offline sessions take at most
	// SessionsPerDevice × OfflineQueueBytes of new messages.
	OfflineQueueBytes int
}

// WithDefaults returns l with every zero (or negative) field set to its
// documented default, as New applies them. internal/config's defaults are
// the same values (held by a test of internal/server).
func (l Limits) WithDefaults() Limits {
	l.setDefaults()
	return l
}

func (l *Limits) setDefaults() {
	if l.MaxMessageBytes <= 0 {
		l.MaxMessageBytes = 256 << 10
	}
	if l.MaxPacketBytes <= 0 {
		l.MaxPacketBytes = 4 * l.MaxMessageBytes
	}
	if l.MaxPacketBytes > maxMQTTPacket {
		l.MaxPacketBytes = maxMQTTPacket
	}
	if l.MaxMessageBytes > l.MaxPacketBytes {
		l.MaxMessageBytes = l.MaxPacketBytes
	}
	if l.MessagesPerSecond <= 0 {
		l.MessagesPerSecond = 100
	}
	if l.MessageBurst <= 0 {
		l.MessageBurst = math.Max(1, l.MessagesPerSecond)
	}
	if l.BytesPerSecond <= 0 {
		l.BytesPerSecond = 1 << 20
	}
	if l.ConnectsPerMinute <= 0 {
		l.ConnectsPerMinute = 30
	}
	if l.ConnectBan <= 0 {
		l.ConnectBan = time.Minute
	}
	if l.RateWindow <= 0 {
		l.RateWindow = 10 * time.Second
	}
	if l.EventsPerSecond <= 0 {
		l.EventsPerSecond = 5
	}
	if l.EventBurst <= 0 {
		l.EventBurst = 20
	}
	if l.SessionsPerDevice <= 0 {
		l.SessionsPerDevice = 4
	}
	if l.HandshakesPerAddress <= 0 {
		l.HandshakesPerAddress = 8
	}
	if l.HandshakesPerPrefix <= 0 {
		l.HandshakesPerPrefix = 64
	}
	if l.SubscriberQueueBytes <= 0 {
		l.SubscriberQueueBytes = 1 << 20
	}
	if l.DeliveryWait <= 0 {
		l.DeliveryWait = 5 * time.Second
	}
	if l.DeliveryWaitQoS0 <= 0 {
		l.DeliveryWaitQoS0 = 500 * time.Millisecond
	}
	if l.OfflineQueueBytes <= 0 {
		l.OfflineQueueBytes = 1 << 20
	}
}

// maxMQTTPacket is the largest packet MQTT can encode (remaining length).
const maxMQTTPacket = 268435455

// Broker bounds that are not per-device policy.
const (
	// HandshakeTimeout bounds the TLS handshake and the wait for CONNECT,
	// from accept.
	HandshakeTimeout = 10 * time.Second
	// HelloTimeout bounds the wait for the first byte of the TLS
	// ClientHello: an idle socket is closed after it.
	HelloTimeout = 2 * time.Second
	// maxHandshakes caps the connections that have not yet sent CONNECT;
	// at the cap the oldest is closed to admit a new one.
	maxHandshakes = 1024
	// disconnectWriteTimeout bounds the DISCONNECT write when the gateway
	// kicks a session, so a stalled peer cannot hold up the caller.
	disconnectWriteTimeout = 250 * time.Millisecond
)

// Options configure a Gateway. TLS, Revoked, Identities and Devices are required.
type Options struct {
	// Addr is the listen address, e.g. ":8883" or "127.0.0.1:0".
	Addr string
	// TLS comes from pki.CA.MQTTConfig; the gateway clones it and installs
	// its own VerifyConnection (any VerifyConnection already set runs first).
	TLS *tls.Config
	// Revoked answers whether a serial is revoked (*pki.CA).
	Revoked RevocationChecker
	// Identities names the device of a certificate and admits only serials
	// Ward recorded for it (*pki.CA).
	Identities Identities
	// Devices is loaded once at the start of Run; later changes arrive via
	// SetDevice, SetModelPolicy and RemoveDevice.
	Devices Directory
	// Events receives device events (nil: events are only counted).
	Events EventSink
	// Observer receives every device's behaviour for detection (nil: none).
	Observer Observer
	// Limits are the global per-device defaults.
	Limits Limits
	// Logger is Ward's logger; the broker gets a derived one that only logs
	// errors (nil: discard).
	Logger *slog.Logger
	// Metrics registers the ward_gateway_* collectors (nil: unregistered).
	Metrics prometheus.Registerer
	// Now is the clock for rate limits and events (default time.Now).
	Now func() time.Time
}

// Gateway is Ward's device-facing MQTT broker.
//
// Lock order: Gateway.mu before deviceState.mu; nothing else is held while
// calling out (event sink, revocation checker, broker writes), except that
// CertificateRevoked calls Revoked.IsRevoked under a read lock of mu.
type Gateway struct {
	opts Options
	log  *slog.Logger
	now  func() time.Time
	// linger is how long a session waits for its next packet before it
	// parks (parkLinger; tests set it through export_test.go).
	linger time.Duration
	tls    *tls.Config
	m      *metrics

	mu      sync.RWMutex
	devices map[string]*deviceState // guarded by mu
	models  map[string]store.Policy // guarded by mu

	// clients maps *mqtt.Client to its live *session; conns maps the
	// *tls.Conn to the same session so the listener can clean up when
	// mochi returns without calling OnDisconnect.
	clients sync.Map
	conns   sync.Map

	unattributed bucketMu // event limiter for events with no known device

	admissions atomic.Uint64 // sessions admitted so far (orders knownSession)

	// verbose holds the IDs of devices whose traffic is logged at Info
	// (the "raise log level" mitigation); map[string]struct{}.
	verbose sync.Map

	// lookups holds when each device was last re-read from the store
	// (see lookup); map[string]time.Time.
	lookups sync.Map
	// certLookups limits the store re-reads of unrecorded serials.
	certLookups lookupLimiter

	srv     atomic.Pointer[mqtt.Server]
	ready   chan struct{}
	addr    atomic.Pointer[net.Addr]
	started atomic.Bool
}

// New validates opts and returns a Gateway; Run starts it.
func New(opts Options) (*Gateway, error) {
	if opts.TLS == nil {
		return nil, errors.New("gateway: Options.TLS is required")
	}
	if opts.Revoked == nil {
		return nil, errors.New("gateway: Options.Revoked is required")
	}
	if opts.Identities == nil {
		return nil, errors.New("gateway: Options.Identities is required")
	}
	if opts.Devices == nil {
		return nil, errors.New("gateway: Options.Devices is required")
	}
	if opts.TLS.ClientAuth != tls.RequireAndVerifyClientCert || opts.TLS.ClientCAs == nil {
		return nil, errors.New("gateway: Options.TLS must require and verify client certificates (use pki.CA.MQTTConfig)")
	}
	if len(opts.TLS.Certificates) == 0 && opts.TLS.GetCertificate == nil && opts.TLS.GetConfigForClient == nil {
		return nil, errors.New("gateway: Options.TLS has no server certificate")
	}
	if opts.Addr == "" {
		opts.Addr = ":8883"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	opts.Limits.setDefaults()
	g := &Gateway{
		linger:  parkLinger,
		opts:    opts,
		log:     opts.Logger.With("component", "gateway"),
		now:     opts.Now,
		m:       newMetrics(opts.Metrics),
		devices: map[string]*deviceState{},
		models:  map[string]store.Policy{},
		ready:   make(chan struct{}),
	}
	g.unattributed.b.configure(10*opts.Limits.EventsPerSecond, 5*opts.Limits.EventBurst)
	g.tls = opts.TLS.Clone()
	prev := opts.TLS.VerifyConnection
	g.tls.VerifyConnection = func(cs tls.ConnectionState) error {
		if prev != nil {
			if err := prev(cs); err != nil {
				return err
			}
		}
		return g.verifyConnection(cs)
	}
	return g, nil
}

// Run loads the device directory, listens on Options.Addr and serves until
// ctx is done. It then closes the broker and returns once every connection
// goroutine the gateway started has exited. Run may be called only once.
func (g *Gateway) Run(ctx context.Context) error {
	if !g.started.CompareAndSwap(false, true) {
		return errors.New("gateway: Run called twice")
	}
	if err := g.load(ctx); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", g.opts.Addr)
	if err != nil {
		return fmt.Errorf("gateway: listen on %s: %w", g.opts.Addr, err)
	}
	l := newListener("ward-mqtts", ln, g)

	srv := mqtt.New(&mqtt.Options{
		Capabilities:           g.capabilities(),
		Logger:                 slog.New(minLevel{h: g.opts.Logger.With("component", "mqtt").Handler(), min: slog.LevelError}),
		InlineClient:           true,         // only for Publish (ward/ topics); see hook.OnPublish
		SysTopicResendInterval: 24 * 60 * 60, // devices cannot read $SYS; avoid ReadMemStats every second
		// Subscriptions are checked when made and pruned when the ACL
		// changes (pruneSubscriptions), not on every delivery.
		SkipDeliveryACLCheck: true,
		DeliveryWait:         g.opts.Limits.DeliveryWait,
		DeliveryWaitQoS0:     g.opts.Limits.DeliveryWaitQoS0,
	})
	if err := srv.AddHook(&hook{}, g); err != nil {
		l.Close(func(string) {})
		return fmt.Errorf("gateway: add hook: %w", err)
	}
	if err := srv.AddListener(l); err != nil {
		l.Close(func(string) {})
		return fmt.Errorf("gateway: add listener: %w", err)
	}
	g.srv.Store(srv)
	if err := srv.Serve(); err != nil {
		_ = srv.Close()
		return fmt.Errorf("gateway: serve: %w", err)
	}
	a := ln.Addr()
	g.addr.Store(&a)
	close(g.ready)
	g.log.Info("MQTT gateway listening", "addr", a.String())

	// Certificates that expire during a live session end it: checked
	// every 15 s (the session otherwise lives on its handshake).
	tick := time.NewTicker(15 * time.Second)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-tick.C:
			g.ExpireSessions()
		}
	}
	// Close disconnects every client and waits (through the listener) for
	// every connection goroutine to return.
	_ = srv.Close()
	g.log.Info("MQTT gateway stopped")
	return nil
}

// capabilities are the broker limits Ward sets on mochi.
func (g *Gateway) capabilities() *mqtt.Capabilities {
	c := mqtt.NewDefaultServerCapabilities()
	c.MaximumPacketSize = uint32(g.opts.Limits.MaxPacketBytes)
	// A live client's outbound queue, in encoded bytes, allocated on demand;
	// past it publishers wait (DeliveryWait), then a QoS 0 message is
	// dropped and counted, a QoS 1/2 subscriber disconnected. An offline
	// session queues nothing here (see MaximumOfflineBytes).
	c.MaximumClientPendingBytes = g.opts.Limits.SubscriberQueueBytes
	// Persisted sessions are kept 1 h after their last disconnect (the
	// client's own interval when shorter): a device offline longer starts
	// afresh (session present = false) and subscribes again.
	c.MaximumSessionExpiryInterval = 3600
	c.MaximumMessageExpiryInterval = 24 * 3600
	c.ReceiveMaximum = 128
	// QoS 1/2 messages held per live session, unacknowledged (past it a
	// publish waits DeliveryWait, then the live subscriber is disconnected):
	// 128 covers the MaxRetainedPerDevice retained messages a subscription
	// receives at once, and keeps a live subscriber's window open at 12,800
	// msgs/s for a 10 ms round trip. An offline session holds at most
	// OfflineQueueBytes; a publish it cannot hold is refused, not
	// acknowledged (delivery-refused).
	c.MaximumInflight = 128
	c.MaximumOfflineBytes = g.opts.Limits.OfflineQueueBytes
	c.TopicAliasMaximum = 0 // inbound aliases would bypass the ACL check on the topic name
	c.SharedSubAvailable = 0
	return c
}

// load reads the initial directory. Entries already set through SetDevice
// or SetModelPolicy (newer than the snapshot) are kept.
func (g *Gateway) load(ctx context.Context) error {
	devs, err := g.opts.Devices.ListDevices(ctx)
	if err != nil {
		return fmt.Errorf("gateway: load devices: %w", err)
	}
	mps, err := g.opts.Devices.ListModelPolicies(ctx)
	if err != nil {
		return fmt.Errorf("gateway: load model policies: %w", err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, mp := range mps {
		if _, ok := g.models[mp.Model]; !ok {
			g.models[mp.Model] = mp.Policy
		}
	}
	for _, d := range devs {
		if _, ok := g.devices[d.ID]; !ok {
			g.putDeviceLocked(d)
		}
	}
	for _, ds := range g.devices {
		g.recompileLocked(ds)
	}
	return nil
}

// Ready is closed once the gateway is listening.
func (g *Gateway) Ready() <-chan struct{} { return g.ready }

// Addr returns the actual listen address; nil before Ready.
func (g *Gateway) Addr() net.Addr {
	if a := g.addr.Load(); a != nil {
		return *a
	}
	return nil
}

// SetDevice adds or updates one device. A status that does not admit the
// device (anything but active and restricted quarantine) disconnects its
// live sessions at once and purges every session the broker holds for it,
// live or persisted, with their subscriptions and queued messages.
// Entering or leaving restricted quarantine disconnects the live sessions
// too: a device that is let back in starts afresh under its new ACL.
func (g *Gateway) SetDevice(d store.Device) {
	g.mu.Lock()
	var was *policy
	if old := g.devices[d.ID]; old != nil {
		was = old.policy.Load()
	}
	ds := g.putDeviceLocked(d)
	now := ds.policy.Load()
	var kick []*session
	purge := !now.admits()
	if purge {
		kick = markPurge(ds.sessionsLocked())
	} else if was != nil && was.restricted != now.restricted {
		kick = ds.sessionsLocked()
	}
	g.mu.Unlock()
	g.kickAll(kick, kickCode(d.Status), "status-"+string(d.Status))
	if purge {
		g.purgeOffline(ds, nil)
		return
	}
	g.pruneSubscriptions(ds)
}

// SetModelPolicy adds or updates the policy shared by every device of a model.
func (g *Gateway) SetModelPolicy(p store.ModelPolicy) {
	g.mu.Lock()
	g.models[p.Model] = p.Policy
	var changed []*deviceState
	for _, ds := range g.devices {
		if ds.dev.Model == p.Model {
			g.recompileLocked(ds)
			changed = append(changed, ds)
		}
	}
	g.mu.Unlock()
	for _, ds := range changed {
		g.pruneSubscriptions(ds)
	}
}

// RemoveDevice forgets a device, disconnects its live sessions and purges
// its sessions from the broker; the device is refused from then on.
func (g *Gateway) RemoveDevice(id string) {
	g.mu.Lock()
	ds := g.devices[id]
	var kick []*session
	if ds != nil {
		delete(g.devices, id)
		ds.policy.Store(&policy{status: "removed", acl: ACL{}})
		kick = markPurge(ds.sessionsLocked())
	}
	g.mu.Unlock()
	g.kickAll(kick, kickAdmin, "removed")
	if ds != nil {
		g.purgeOffline(ds, nil)
	}
}

// Disconnect closes every live session of the device and returns how many
// it closed. The device may reconnect unless its status forbids it.
func (g *Gateway) Disconnect(id string) int {
	g.mu.RLock()
	var kick []*session
	if ds := g.devices[id]; ds != nil {
		kick = ds.sessionsLocked()
	}
	g.mu.RUnlock()
	g.kickAll(kick, kickAdmin, "operator")
	return len(kick)
}

// ExpireSessions disconnects every live session whose certificate has
// expired (recorded as a refusal with reason "expired") and returns how
// many. Run calls it every 15 seconds.
func (g *Gateway) ExpireSessions() int {
	now := g.now()
	var kick []*session
	g.mu.RLock()
	for _, ds := range g.devices {
		for s := range ds.sessions {
			if now.After(s.notAfter) {
				kick = append(kick, s)
			}
		}
	}
	g.mu.RUnlock()
	for _, s := range kick {
		g.record(s.dev, gwevent.Event{Kind: gwevent.Refused, Device: s.dev.id, Reason: gwevent.ReasonExpired, ClientID: s.clientID,
			Serial: pki.SerialHex(s.serial), Live: true, Time: now})
	}
	g.kickAll(kick, kickRevoked, "certificate expired")
	return len(kick)
}

// CertificateRevoked re-checks every live session against Options.Revoked
// and disconnects those whose certificate serial is now revoked. Call it
// after the CA has published a new CRL.
//
// The broker's sessions of those certificates, live or persisted offline,
// are purged with their subscriptions and queued messages.
func (g *Gateway) CertificateRevoked() {
	var kick []*session
	g.mu.RLock()
	devs := make([]*deviceState, 0, len(g.devices))
	for _, ds := range g.devices {
		devs = append(devs, ds)
		for s := range ds.sessions {
			if g.opts.Revoked.IsRevoked(s.serial) {
				kick = append(kick, s)
			}
		}
	}
	g.mu.RUnlock()
	g.kickAll(markPurge(kick), kickRevoked, "revoked")
	revoked := func(serial *big.Int) bool { return serial != nil && g.opts.Revoked.IsRevoked(serial) }
	for _, ds := range devs {
		g.purgeOffline(ds, revoked)
	}
}

// Connected returns the number of live sessions of the device.
func (g *Gateway) Connected(id string) int {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if ds := g.devices[id]; ds != nil {
		return len(ds.sessions)
	}
	return 0
}

// ConnectedIDs returns the IDs of the devices with a live session on
// this gateway, in order, those after after only, at most max of them
// (max <= 0: none). It copies the candidate IDs under the read lock and
// sorts them outside it.
func (g *Gateway) ConnectedIDs(after string, max int) []string {
	if max <= 0 {
		return nil
	}
	g.mu.RLock()
	ids := make([]string, 0, min(len(g.devices), 4*max))
	for id, ds := range g.devices {
		if len(ds.sessions) > 0 && id > after {
			ids = append(ids, id)
		}
	}
	g.mu.RUnlock()
	slices.Sort(ids)
	return slices.Clip(ids[:min(len(ids), max)])
}

// minLevel is a slog.Handler that drops records below min: mochi logs
// every refused packet at Warn, which Ward already counts and records.
type minLevel struct {
	h   slog.Handler
	min slog.Level
}

func (m minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= m.min && m.h.Enabled(ctx, l)
}
func (m minLevel) Handle(ctx context.Context, r slog.Record) error { return m.h.Handle(ctx, r) }
func (m minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{h: m.h.WithAttrs(as), min: m.min}
}
func (m minLevel) WithGroup(n string) slog.Handler { return minLevel{h: m.h.WithGroup(n), min: m.min} }
