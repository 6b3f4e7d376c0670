// Package bus is Ward's message bus contract: fan-out topics for commands
// and notifications that every node must see, and work queues that spread
// device observations over detector workers. It defines the Bus
// interface, subject rules, errors and the shared ward_bus_* metrics; the
// implementation is [github.com/wardproject/ward/internal/bus/nats] (NATS
// JetStream, for the nodes of a cluster; a single node has no bus). It
// passes the conformance suite in
// [github.com/wardproject/ward/internal/bus/bustest], which any other
// implementation must pass too. (An in-process implementation existed
// until issue 13 and was removed: no production path used it.)
//
// The package only moves bytes: encoding, and what a message means, belong
// to its users. It is not a general broker: there is no request/reply, no
// persistence of topics and no replay. tailscale's util/eventbus inspired
// the shape, but it is typed and in-process only; Ward needs the same
// contract across nodes, so it carries []byte.
//
// # Usage
//
//	// every gateway node
//	sub, err := b.Subscribe("cmd.quarantine", func(m bus.Message) {
//		gw.Quarantine(string(m.Data)) // a hint: the store is the truth
//	})
//	// respond, on any node
//	err = b.Publish(ctx, "cmd.quarantine", []byte(deviceID))
//
//	// gateway: hand observations to the detectors
//	err = b.Enqueue(ctx, "obs.connect", payload)
//	// detector worker, on any node; run several for parallelism
//	err = b.Consume(ctx, "obs.connect", "detect", func(ctx context.Context, m bus.Message) error {
//		return det.Observe(ctx, m.Data) // nil acknowledges; an error retries
//	})
//
// # Subjects
//
// Subjects and queue names are dot-separated tokens, such as
// "cmd.quarantine" or "obs.connect": no empty token, no whitespace or
// control characters, at most MaxSubjectLen bytes. Publish, Enqueue and
// Consume refuse the wildcard characters "*" and ">"; Subscribe patterns
// may use "*" for one token and a final ">" for one or more. Group names
// are a single token of letters, digits, "-" and "_". Payloads are at
// most MaxPayload bytes (default 1 MiB). Refusals wrap ErrInvalidSubject,
// ErrInvalidGroup or ErrPayloadTooLarge.
//
// # Fan-out: delivery and ordering
//
// Publish delivers to every subscription whose pattern matches, on every
// node connected to the same bus, at most once: a subscriber that is not
// subscribed at the time (or whose node is disconnected) misses the
// message. Users that need state, such as the quarantine list or the CRL,
// must load it from the store at start-up and after a reconnect, and
// treat messages as prompts to refresh.
//
// Ordering: messages published by one goroutine on one Bus reach each
// subscription in publish order, across subjects. Nothing is guaranteed
// between different publishers. Calls of one subscription's handler are
// sequential; different subscriptions run concurrently.
//
// # Slow subscribers
//
// Publish never blocks on a subscriber. Each subscription has a bounded
// queue (SubscriberQueue, default 1024); when it is full the message is
// dropped for that subscriber only and counted in
// ward_bus_dropped_total{reason="subscriber_full"}. A handler that blocks
// is a bug in the handler: it should hand long work to its own goroutine
// or use a work queue.
//
// # Work queues: delivery
//
// Each message enqueued on a queue is delivered to one member of every
// consumer group of that queue, at least once. A group exists from its
// first Consume; a message enqueued while a queue has no group may be
// discarded. Enqueue returns ErrQueueFull rather than drop when the queue
// is at capacity.
//
// The handler acknowledges by returning nil. An error or a panic sends
// the message back for redelivery after Backoff (1 s, 5 s, 30 s by
// default); so does a handler that does not finish within AckWait (30 s;
// its context ends then) or a consumer that stops or dies holding the
// message. After MaxDeliver deliveries (default 5) the message becomes a
// dead letter: it is published on DeadLetterSubject(queue) =
// "deadletter.<queue>" with Message.Delivery set to the number of
// deliveries, counted in ward_bus_dead_letters_total and logged; it is
// not delivered again. Handlers must therefore be idempotent.
//
// Queue messages have no ordering guarantee: redelivery and several
// members reorder them.
//
// # Shutdown
//
// Consume returns nil when its context ends and ErrClosed when the Bus is
// closed. Close stops everything the Bus started and waits for it,
// including running handlers, so a handler must not call Close.
//
// # Testing
//
// Implementations run bustest.Run. Users of the bus test against the real
// NATS server (wardtest.NATS, or wardtest.StartNATS for one a test may
// stop), each test in its own namespace; give the nats Bus a short Backoff
// so that redelivery is quick. Wait for deliveries on channels; never
// sleep.
package bus
