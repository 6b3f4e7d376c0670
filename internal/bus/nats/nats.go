// Package nats is the NATS JetStream implementation of bus.Bus, used when
// Ward runs on several nodes: gateway nodes feed shared detector workers
// through work queues, and commands and alerts fan out to every node.
// It uses github.com/nats-io/nats.go and its jetstream package.
//
// # Fan-out: core NATS
//
// Publish and Subscribe use core NATS subjects "<namespace>.t.<subject>",
// not a JetStream stream. Ward's fan-out messages are commands and
// notifications ("device X quarantined", "CRL changed") whose source of
// truth is the store: a node that was disconnected must reload that state
// when it reconnects, whatever the bus kept, so a stream (with one
// ephemeral consumer per subscriber, storage and flow control) would buy
// no guarantee worth its cost. Core NATS gives at-most-once delivery with
// per-publisher ordering and sub-millisecond latency. Each subscription has a bounded queue drained by its own goroutine; a
// full queue drops and counts (ward_bus_dropped_total{reason=
// "subscriber_full"}) instead of stalling the connection.
//
// # Work queues: JetStream
//
// All queues of a namespace live in one stream, "<namespace>_queues",
// capturing "<namespace>.q.>", file storage, with interest retention: a
// message is kept until every consumer group of its queue has acknowledged
// it. (WorkQueue retention, which deletes on the first acknowledgement,
// allows only one consumer per subject, so it cannot give each of two
// groups every message.) A message enqueued while its queue has no group
// yet is discarded by the server and not counted: declare the groups a
// deployment relies on with DeclareGroup at start-up. The stream is bounded
// by Options.QueueMaxMsgs, QueueMaxBytes and QueueMaxAge with
// DiscardNew, so a full stream makes Enqueue fail with bus.ErrQueueFull
// rather than silently dropping old work.
//
// Each group is a durable pull consumer with AckExplicit and AckWait,
// filtered on its queue; Consume calls of the same group, on any node,
// share its messages. Each Consume call keeps one pull request of
// Options.Prefetch messages open at a time, renewed every 5 s, rather
// than nats.go's self-refilling Messages iterator: against nats-server
// 2.9 under load that iterator was seen to stop pulling with messages
// pending, while a request that expires bounds any such stall to its
// lifetime. A message that reaches the client just as its request ends
// is redelivered after AckWait. A handler error naks with the delay given by
// Options.Backoff. MaxDeliver is enforced by this client, not the server
// (the consumer's MaxDeliver is unlimited): the failing delivery number
// MaxDeliver, or any later delivery (after an ack timeout on the last),
// is published on bus.DeadLetterSubject and terminated. This way no
// message is left stranded by the server giving up silently.
//
// # Connection
//
// The connection reconnects forever (Options.ReconnectWait apart);
// subscriptions and pull consumers resume by themselves, and reconnects
// are logged and counted in ward_bus_reconnects_total, and Options.Reconnected
// is called so that the user can re-read what it may have missed on topics
// meanwhile (fan-out is at most once). While disconnected,
// Publish buffers up to nats.go's reconnect buffer (8 MiB) and then
// fails, and Enqueue fails when its context (or a 5 s default) expires.
// TLS uses the *tls.Config built by package pki (Options.TLS);
// authentication uses a NATS credentials file (Options.CredentialsFile,
// JWT and NKey seed) or user and password in Options.URL, which is
// redacted in logs.
package nats

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wardproject/ward/internal/bus"
)

// Options configure a Bus. URL is required.
type Options struct {
	// URL is the NATS server URL, or several separated by commas, for
	// example "nats://127.0.0.1:4222". User information in it is used to
	// authenticate and redacted in logs.
	URL string
	// Name identifies the connection on the server (nats-server's
	// connz); "" means "ward".
	Name string
	// Namespace prefixes every subject, stream and consumer, so that
	// several Ward installations (or tests) share a server; "" means
	// "ward". Letters, digits, "-" and "_" only.
	Namespace string
	// TLS, when set, is used for the connection; build it with package
	// pki. Nil means plain TCP unless the URL is tls://.
	TLS *tls.Config
	// CredentialsFile is a NATS .creds file (user JWT and NKey seed).
	CredentialsFile string

	// MaxPayload bounds message size in bytes; 0 means
	// bus.DefaultMaxPayload. New fails when it exceeds the server's
	// max_payload.
	MaxPayload int
	// SubscriberQueue is how many messages may wait for each subscription
	// before further ones are dropped; 0 means 1024.
	SubscriberQueue int
	// MaxDeliver is how many deliveries a queue message gets before it
	// becomes a dead letter; 0 means bus.DefaultMaxDeliver.
	MaxDeliver int
	// AckWait is how long a consumer has to acknowledge a message before
	// the server redelivers it, and the deadline of the handler's
	// context; 0 means bus.DefaultAckWait.
	AckWait time.Duration
	// Backoff holds the redelivery delays after the 1st, 2nd, ... failure
	// (the last repeats); nil means bus.DefaultBackoff.
	Backoff []time.Duration
	// Prefetch is how many messages each Consume call pulls ahead; 0
	// means 16. Prefetched messages count towards AckWait.
	Prefetch int
	// QueueMaxMsgs, QueueMaxBytes and QueueMaxAge bound the queue stream;
	// 0 means 1,000,000 messages, 1 GiB and 24 hours.
	QueueMaxMsgs  int64
	QueueMaxBytes int64
	QueueMaxAge   time.Duration
	// Replicas is the queue stream's replication factor in a JetStream
	// cluster; 0 means 1. Use 3 on a cluster of 3.
	Replicas int
	// ReconnectWait is the pause between reconnection attempts; 0 means
	// 2 s.
	ReconnectWait time.Duration
	// ConnectTimeout bounds the first connection and JetStream API calls;
	// 0 means 5 s.
	ConnectTimeout time.Duration

	// Reconnected, when set, is called after each reconnection, on the
	// connection's callback goroutine (it must not block). Fan-out is at
	// most once: what was published on topics while this node was
	// disconnected never reaches it, so a subscriber that keeps state
	// from topic messages re-reads that state from its source of truth.
	Reconnected func()

	// Logger receives connection and dead-letter logs; nil discards.
	Logger *slog.Logger
	// Metrics registers the ward_bus_* collectors; nil leaves them
	// unregistered.
	Metrics prometheus.Registerer
}

// Bus is the NATS JetStream bus.Bus.
type Bus struct {
	opts   Options
	log    *slog.Logger
	m      *bus.Metrics
	nc     *natsgo.Conn
	js     jetstream.JetStream
	stream string // queue stream name
	topics string // fan-out subject prefix, "<ns>.t."
	queues string // queue subject prefix, "<ns>.q."

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // subscriber goroutines and running Consume calls

	mu     sync.Mutex
	closed bool // guarded by mu
}

// New connects to NATS and creates (or updates) the namespace's queue
// stream. Close the Bus to release the connection.
func New(opts Options) (*Bus, error) {
	if opts.URL == "" {
		return nil, errors.New("nats: Options.URL is required (for example nats://127.0.0.1:4222)")
	}
	if opts.MaxPayload < 0 || opts.SubscriberQueue < 0 || opts.MaxDeliver < 0 || opts.AckWait < 0 || opts.Prefetch < 0 ||
		opts.QueueMaxMsgs < 0 || opts.QueueMaxBytes < 0 || opts.QueueMaxAge < 0 || opts.Replicas < 0 {
		return nil, errors.New("nats: numeric Options must not be negative")
	}
	for _, d := range opts.Backoff {
		if d < 0 {
			return nil, errors.New("nats: Options.Backoff must not hold negative durations")
		}
	}
	if opts.Name == "" {
		opts.Name = "ward"
	}
	if opts.Namespace == "" {
		opts.Namespace = "ward"
	}
	if err := bus.ValidateGroup(opts.Namespace); err != nil {
		return nil, fmt.Errorf("nats: Options.Namespace: %w", err)
	}
	if opts.MaxPayload == 0 {
		opts.MaxPayload = bus.DefaultMaxPayload
	}
	if opts.SubscriberQueue == 0 {
		opts.SubscriberQueue = 1024
	}
	if opts.MaxDeliver == 0 {
		opts.MaxDeliver = bus.DefaultMaxDeliver
	}
	if opts.AckWait == 0 {
		opts.AckWait = bus.DefaultAckWait
	}
	if opts.Backoff == nil {
		opts.Backoff = bus.DefaultBackoff
	}
	opts.Backoff = append([]time.Duration(nil), opts.Backoff...)
	if opts.Prefetch == 0 {
		opts.Prefetch = 16
	}
	if opts.QueueMaxMsgs == 0 {
		opts.QueueMaxMsgs = 1_000_000
	}
	if opts.QueueMaxBytes == 0 {
		opts.QueueMaxBytes = 1 << 30
	}
	if opts.QueueMaxAge == 0 {
		opts.QueueMaxAge = 24 * time.Hour
	}
	if opts.Replicas == 0 {
		opts.Replicas = 1
	}
	if opts.ReconnectWait == 0 {
		opts.ReconnectWait = 2 * time.Second
	}
	if opts.ConnectTimeout == 0 {
		opts.ConnectTimeout = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	b := &Bus{
		opts:   opts,
		log:    opts.Logger.With("component", "bus"),
		m:      bus.NewMetrics(opts.Metrics),
		stream: opts.Namespace + "_queues",
		topics: opts.Namespace + ".t.",
		queues: opts.Namespace + ".q.",
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())

	nopts := []natsgo.Option{
		natsgo.Name(opts.Name),
		natsgo.Timeout(opts.ConnectTimeout),
		natsgo.MaxReconnects(-1),
		natsgo.ReconnectWait(opts.ReconnectWait),
		natsgo.DisconnectErrHandler(func(nc *natsgo.Conn, err error) {
			if err != nil {
				b.log.Warn("nats disconnected", "err", err)
			}
		}),
		natsgo.ReconnectHandler(func(nc *natsgo.Conn) {
			b.m.Reconnects.Inc()
			b.log.Info("nats reconnected", "server", nc.ConnectedUrlRedacted())
			if opts.Reconnected != nil {
				opts.Reconnected()
			}
		}),
		natsgo.ErrorHandler(func(_ *natsgo.Conn, _ *natsgo.Subscription, err error) {
			b.log.Warn("nats asynchronous error", "err", err)
		}),
	}
	if opts.TLS != nil {
		nopts = append(nopts, natsgo.Secure(opts.TLS))
	}
	if opts.CredentialsFile != "" {
		nopts = append(nopts, natsgo.UserCredentials(opts.CredentialsFile))
	}
	nc, err := natsgo.Connect(opts.URL, nopts...)
	if err != nil {
		return nil, fmt.Errorf("nats: connect: %w (is nats-server running with -js at the configured URL?)", err)
	}
	b.nc = nc
	if max := nc.MaxPayload(); int64(opts.MaxPayload) > max {
		nc.Close()
		return nil, fmt.Errorf("nats: Options.MaxPayload %d exceeds the server's max_payload %d; lower the bus max payload or raise max_payload in the nats-server config", opts.MaxPayload, max)
	}
	b.js, err = jetstream.New(nc, jetstream.WithDefaultTimeout(opts.ConnectTimeout))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats: jetstream: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), opts.ConnectTimeout)
	defer cancel()
	_, err = b.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        b.stream,
		Description: "Ward work queues (namespace " + opts.Namespace + ")",
		Subjects:    []string{b.queues + ">"},
		Retention:   jetstream.InterestPolicy,
		Discard:     jetstream.DiscardNew,
		MaxMsgs:     opts.QueueMaxMsgs,
		MaxBytes:    opts.QueueMaxBytes,
		MaxAge:      opts.QueueMaxAge,
		MaxMsgSize:  int32(opts.MaxPayload),
		Storage:     jetstream.FileStorage,
		Replicas:    opts.Replicas,
	})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats: create stream %s: %w (is JetStream enabled on the server, nats-server -js?)", b.stream, err)
	}
	b.log.Info("bus connected", "server", nc.ConnectedUrlRedacted(), "namespace", opts.Namespace)
	return b, nil
}

// Close implements bus.Bus. It waits for running Consume calls to return
// (their handlers see a cancelled context) so that their acknowledgements
// are sent, then closes the connection.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	b.cancel()
	b.wg.Wait()
	b.nc.Close()
	return nil
}

// register records a subscriber goroutine or Consume call, or reports
// that the bus is closed.
func (b *Bus) register() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return bus.ErrClosed
	}
	b.wg.Add(1)
	return nil
}

// call runs fn, turning a panic into an error so that one bad message
// cannot stop a subscriber or consumer.
func call(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panicked: %v", r)
		}
	}()
	return fn()
}
