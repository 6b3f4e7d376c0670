// Package inproc is the in-process implementation of bus.Bus, Ward's
// default when it runs as a single node. It keeps everything in memory:
// nothing survives Close or a restart.
//
// Publish never blocks: each subscription has a bounded queue
// (Options.SubscriberQueue) drained by one goroutine that calls the
// handler, and a message for a full queue is dropped for that subscriber
// and counted in ward_bus_dropped_total{reason="subscriber_full"}, as
// STYLE §6 asks of hot-path producers. A slow subscriber only hurts
// itself.
//
// Each (queue, group) pair has a bounded buffer (Options.QueueLength)
// that counts waiting, in-flight and backing-off messages; Enqueue returns
// bus.ErrQueueFull when any group of the queue is at capacity. A message
// enqueued while its queue has no group is dropped and counted
// (reason="no_group"), matching the NATS implementation's interest
// retention. A group exists from its first Consume until Close.
//
// Redelivery delays use time.AfterFunc; tests control them with
// Options.Backoff (zero delays) or run under testing/synctest.
package inproc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wardproject/ward/internal/bus"
)

// Options configure a Bus. The zero value is usable.
type Options struct {
	// MaxPayload bounds message size in bytes; 0 means bus.DefaultMaxPayload.
	MaxPayload int
	// SubscriberQueue is how many messages may wait for each subscription
	// before further ones are dropped; 0 means 1024.
	SubscriberQueue int
	// QueueLength bounds the messages each consumer group of a queue holds
	// (waiting, in flight or waiting for redelivery); 0 means 10000.
	QueueLength int
	// MaxDeliver is how many deliveries a queue message gets before it
	// becomes a dead letter; 0 means bus.DefaultMaxDeliver.
	MaxDeliver int
	// AckWait is the deadline of the context given to a queue handler; 0
	// means bus.DefaultAckWait.
	AckWait time.Duration
	// Backoff holds the redelivery delays after the 1st, 2nd, ... failure
	// (the last repeats); nil means bus.DefaultBackoff. Use
	// []time.Duration{0} for immediate redelivery.
	Backoff []time.Duration
	// Logger receives lifecycle and dead-letter logs; nil discards.
	Logger *slog.Logger
	// Metrics registers the ward_bus_* collectors; nil leaves them
	// unregistered.
	Metrics prometheus.Registerer
}

// Bus is the in-process bus.Bus.
//
// Lock order: Bus.mu, then group.mu.
type Bus struct {
	opts   Options
	log    *slog.Logger
	m      *bus.Metrics
	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // subscriber goroutines and running Consume calls

	subsMu sync.RWMutex
	subs   map[*subscription]struct{} // guarded by subsMu

	mu     sync.Mutex
	closed bool                         // guarded by mu
	queues map[string]map[string]*group // queue -> group name -> group; guarded by mu
	timers map[*time.Timer]struct{}     // pending redeliveries; guarded by mu
}

// New returns a Bus. Close it to stop its goroutines.
func New(opts Options) (*Bus, error) {
	if opts.MaxPayload < 0 || opts.SubscriberQueue < 0 || opts.QueueLength < 0 || opts.MaxDeliver < 0 || opts.AckWait < 0 {
		return nil, errors.New("inproc: Options.MaxPayload, SubscriberQueue, QueueLength, MaxDeliver and AckWait must not be negative")
	}
	for _, d := range opts.Backoff {
		if d < 0 {
			return nil, errors.New("inproc: Options.Backoff must not hold negative durations")
		}
	}
	if opts.MaxPayload == 0 {
		opts.MaxPayload = bus.DefaultMaxPayload
	}
	if opts.SubscriberQueue == 0 {
		opts.SubscriberQueue = 1024
	}
	if opts.QueueLength == 0 {
		opts.QueueLength = 10000
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
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Bus{
		opts:   opts,
		log:    opts.Logger.With("component", "bus"),
		m:      bus.NewMetrics(opts.Metrics),
		ctx:    ctx,
		cancel: cancel,
		subs:   make(map[*subscription]struct{}),
		queues: make(map[string]map[string]*group),
		timers: make(map[*time.Timer]struct{}),
	}, nil
}

// Close implements bus.Bus. Messages still queued are discarded.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	for t := range b.timers {
		t.Stop()
	}
	clear(b.timers)
	b.mu.Unlock()
	b.cancel()
	b.wg.Wait()
	return nil
}

func (b *Bus) isClosed() bool { return b.ctx.Err() != nil }

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
