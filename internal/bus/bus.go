package bus

import (
	"context"
	"time"
)

// Bus carries Ward's messages between components and, with the NATS
// implementation, between nodes. It has two kinds of traffic: fan-out
// topics (Publish, Subscribe) and work queues (Enqueue, Consume). The
// implementation is package nats (NATS JetStream); a single node runs
// without a bus.
//
// All methods are safe for concurrent use.
type Bus interface {
	// Publish sends data to every current subscriber of subject on every
	// node. It never blocks on a slow subscriber. subject must be a valid
	// literal subject (see ValidateSubject) and data at most the
	// implementation's MaxPayload bytes. Delivery is at most once.
	Publish(ctx context.Context, subject string, data []byte) error

	// Subscribe calls fn for each message published on a subject matching
	// pattern, which may use the wildcards "*" (one token) and ">" (one or
	// more trailing tokens). Calls for one Subscription are sequential, in
	// the order described in the package documentation. fn must not block
	// for long and must not call Close.
	Subscribe(pattern string, fn func(Message)) (Subscription, error)

	// Enqueue adds data to the work queue named queue. It returns nil once
	// the message is held by the bus (for NATS: stored and acknowledged by
	// JetStream), or ErrQueueFull when the queue is at capacity.
	Enqueue(ctx context.Context, queue string, data []byte) error

	// Consume delivers messages of queue to fn, one at a time, as a member
	// of group, until ctx is done (it then returns nil) or the bus is closed
	// (ErrClosed). Each message goes to one member of each group, at least
	// once. fn acknowledges a message by returning nil; an error (or a
	// panic) makes it redelivered after the configured backoff, and after
	// MaxDeliver failed deliveries it is published on DeadLetterSubject.
	// The context given to fn ends at the ack deadline (AckWait) or when
	// Consume stops. Run several Consume calls for parallelism.
	Consume(ctx context.Context, queue, group string, fn func(context.Context, Message) error) error

	// DeclareGroup creates group on queue if it does not exist, so that
	// messages enqueued from then on are kept for it until a Consume call
	// of the group takes them. Without it, a message enqueued while its
	// queue has no group at all is dropped (and counted). Call it at
	// start-up for every group a deployment relies on.
	DeclareGroup(ctx context.Context, queue, group string) error

	// Close makes every Consume call return ErrClosed, stops every
	// subscription, waits for running handlers and for the goroutines the
	// bus started, and releases its connection. A handler must therefore
	// not call Close. Close is idempotent; other methods return ErrClosed
	// afterwards.
	Close() error
}

// Message is one message as delivered to a subscriber or consumer.
// Handlers must not modify Data, which may be shared with other
// subscribers; copy it to keep it beyond the call.
type Message struct {
	// Subject is the subject the message was published on (for Subscribe)
	// or the queue name (for Consume), without any namespace.
	Subject string
	// Data is the payload.
	Data []byte
	// Delivery is the delivery attempt, starting at 1. It is always 1 for
	// fan-out messages; for a dead letter it is the number of failed
	// deliveries.
	Delivery int
}

// Subscription is an active Subscribe.
type Subscription interface {
	// Unsubscribe stops deliveries. A call of fn already running may
	// finish after Unsubscribe returns. It is idempotent.
	Unsubscribe() error
}

// Defaults shared by the implementations; a zero Options field means the
// default.
const (
	// DefaultMaxPayload is the largest payload accepted: 1 MiB, which is
	// also NATS's default max_payload.
	DefaultMaxPayload = 1 << 20
	// DefaultMaxDeliver is how many times a queue message is delivered
	// before it becomes a dead letter.
	DefaultMaxDeliver = 5
	// DefaultAckWait is how long a consumer has to acknowledge a queue
	// message before it is redelivered.
	DefaultAckWait = 30 * time.Second
)

// DefaultBackoff is the redelivery delay after the first, second and
// later failures of a queue message.
var DefaultBackoff = []time.Duration{time.Second, 5 * time.Second, 30 * time.Second}

// DeadLetterPrefix is the first token of dead-letter subjects.
const DeadLetterPrefix = "deadletter"

// DeadLetterSubject returns the fan-out subject on which messages of queue
// that exhausted MaxDeliver are published: "deadletter.<queue>". Subscribe
// to "deadletter.>" to see every queue's dead letters.
func DeadLetterSubject(queue string) string { return DeadLetterPrefix + "." + queue }

// Backoff returns the redelivery delay after failed delivery number
// attempt (1-based): backoff[attempt-1], or the last element when attempt
// is past the end, or zero when backoff is empty.
func Backoff(backoff []time.Duration, attempt int) time.Duration {
	if len(backoff) == 0 {
		return 0
	}
	if attempt < 1 {
		attempt = 1
	}
	if attempt > len(backoff) {
		return backoff[len(backoff)-1]
	}
	return backoff[attempt-1]
}
