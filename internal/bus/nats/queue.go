package nats

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wardproject/ward/internal/bus"
)

// Enqueue implements bus.Bus. It returns once JetStream has stored the
// message.
func (b *Bus) Enqueue(ctx context.Context, queue string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if b.ctx.Err() != nil {
		return b.m.Reject(bus.ErrClosed)
	}
	if err := bus.ValidateSubject(queue); err != nil {
		return b.m.Reject(err)
	}
	if err := bus.CheckPayload(data, b.opts.MaxPayload); err != nil {
		return b.m.Reject(err)
	}
	if _, err := b.js.Publish(ctx, b.queues+queue, data); err != nil {
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && apiErr.ErrorCode == jsStoreFailed {
			err = fmt.Errorf("%w: %w", bus.ErrQueueFull, err)
		}
		return b.m.Reject(fmt.Errorf("enqueue %s: %w", queue, err))
	}
	b.m.Published.WithLabelValues("queue").Inc()
	return nil
}

// jsStoreFailed is the JetStream error code for a message refused by a
// full DiscardNew stream ("maximum messages/bytes exceeded").
const jsStoreFailed jetstream.ErrorCode = 10077

// consumerName is the durable name of group on queue: readable, and made
// unique by a hash, since durable names cannot contain dots.
func consumerName(queue, group string) string {
	sum := sha256.Sum256([]byte(queue + "\x00" + group))
	return fmt.Sprintf("%s__%s__%x", group, strings.ReplaceAll(queue, ".", "_"), sum[:4])
}

// consumer creates (or finds) the durable consumer of group on queue.
func (b *Bus) consumer(ctx context.Context, queue, group string) (jetstream.Consumer, error) {
	name := consumerName(queue, group)
	cons, err := b.js.CreateOrUpdateConsumer(ctx, b.stream, jetstream.ConsumerConfig{
		Durable:       name,
		Description:   fmt.Sprintf("Ward queue %s, group %s", queue, group),
		FilterSubject: b.queues + queue,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       b.opts.AckWait,
		MaxDeliver:    -1, // enforced here, see the package doc
	})
	if err != nil {
		return nil, fmt.Errorf("create consumer %s on stream %s: %w", name, b.stream, err)
	}
	return cons, nil
}

// DeclareGroup implements bus.Bus: it creates the group's durable
// consumer, which makes the interest-retention stream keep the queue's
// messages for it.
func (b *Bus) DeclareGroup(ctx context.Context, queue, group string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if b.ctx.Err() != nil {
		return b.m.Reject(bus.ErrClosed)
	}
	if err := bus.ValidateSubject(queue); err != nil {
		return b.m.Reject(err)
	}
	if err := bus.ValidateGroup(group); err != nil {
		return b.m.Reject(err)
	}
	_, err := b.consumer(ctx, queue, group)
	return err
}

// Consume implements bus.Bus.
func (b *Bus) Consume(ctx context.Context, queue, group string, fn func(context.Context, bus.Message) error) error {
	if err := bus.ValidateSubject(queue); err != nil {
		return b.m.Reject(err)
	}
	if err := bus.ValidateGroup(group); err != nil {
		return b.m.Reject(err)
	}
	if err := b.register(); err != nil {
		return b.m.Reject(err)
	}
	defer b.wg.Done()
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(b.ctx, cancel)()
	// stopped turns err into Consume's result: ErrClosed or nil when the
	// bus or ctx ended, err otherwise.
	stopped := func(err error) error {
		switch {
		case b.ctx.Err() != nil:
			return bus.ErrClosed
		case parent.Err() != nil:
			return nil
		}
		return err
	}

	cons, err := b.consumer(ctx, queue, group)
	if err != nil {
		return stopped(err)
	}
	for {
		// One pull request at a time, each ending after pullExpiry: a
		// request the server forgot (seen with nats-server 2.9 under
		// load, where the Messages iterator then waited for ever with
		// messages pending) costs at most one expiry.
		fctx, fcancel := context.WithTimeout(ctx, pullExpiry)
		batch, err := cons.Fetch(b.opts.Prefetch, jetstream.FetchContext(fctx))
		if err != nil {
			fcancel()
			if ctx.Err() != nil {
				return stopped(nil)
			}
			b.log.Warn("queue pull failed", "queue", queue, "group", group, "err", err)
			select {
			case <-time.After(pullRetry):
			case <-ctx.Done():
				return stopped(nil)
			}
			continue
		}
		for msg := range batch.Messages() {
			if ctx.Err() != nil {
				msg.Nak() // prefetched but not handled: at once to another member
				continue
			}
			b.deliver(ctx, queue, group, msg, fn)
		}
		fcancel()
		if ctx.Err() != nil {
			return stopped(nil)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, natsgo.ErrTimeout) &&
			!errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, jetstream.ErrNoMessages) {
			b.log.Warn("queue pull failed", "queue", queue, "group", group, "err", err)
			select {
			case <-time.After(pullRetry):
			case <-ctx.Done():
				return stopped(nil)
			}
		}
	}
}

// pullExpiry bounds each pull request; pullRetry is the pause after a
// failed one.
const (
	pullExpiry = 5 * time.Second
	pullRetry  = 250 * time.Millisecond
)

// deliver runs fn on msg, then acknowledges it, naks it with backoff or
// dead-letters it.
func (b *Bus) deliver(ctx context.Context, queue, group string, msg jetstream.Msg, fn func(context.Context, bus.Message) error) {
	md, err := msg.Metadata()
	if err != nil {
		b.log.Warn("queue message without metadata", "queue", queue, "group", group, "err", err)
		msg.Term()
		return
	}
	n := int(md.NumDelivered)
	if n > b.opts.MaxDeliver {
		// The last delivery timed out: its consumer died or overran.
		b.deadLetter(queue, group, msg, n-1, errors.New("acknowledgement deadline passed on the last delivery"))
		return
	}
	m := bus.Message{Subject: queue, Data: msg.Data(), Delivery: n}
	hctx, cancel := context.WithTimeout(ctx, b.opts.AckWait)
	b.m.Delivered.WithLabelValues("queue").Inc()
	err = call(func() error { return fn(hctx, m) })
	timedOut := errors.Is(hctx.Err(), context.DeadlineExceeded)
	cancel()
	switch {
	case err == nil:
		if aerr := msg.Ack(); aerr != nil {
			b.log.Debug("queue ack failed; the message will be redelivered", "queue", queue, "group", group, "err", aerr)
		}
	case n >= b.opts.MaxDeliver:
		b.deadLetter(queue, group, msg, n, err)
	default:
		reason := "error"
		if timedOut {
			reason = "timeout"
		}
		b.m.Redelivered.WithLabelValues(reason).Inc()
		b.log.Debug("queue message redelivery", "queue", queue, "group", group, "deliveries", n, "err", err)
		var nerr error
		if d := bus.Backoff(b.opts.Backoff, n); d > 0 {
			nerr = msg.NakWithDelay(d)
		} else {
			nerr = msg.Nak()
		}
		if nerr != nil {
			b.log.Debug("queue nak failed; the message will be redelivered after AckWait", "queue", queue, "group", group, "err", nerr)
		}
	}
}

// deadLetter publishes msg on the queue's dead-letter subject, then
// terminates it. A crash in between leads to a second dead letter, never
// to a lost one.
func (b *Bus) deadLetter(queue, group string, msg jetstream.Msg, deliveries int, cause error) {
	subject := b.topics + bus.DeadLetterSubject(queue)
	out := &natsgo.Msg{Subject: subject, Data: msg.Data(), Header: natsgo.Header{}}
	out.Header.Set(deliveriesHeader, strconv.Itoa(deliveries))
	err := b.nc.PublishMsg(out)
	if errors.Is(err, natsgo.ErrMaxPayload) {
		// The header does not fit beside a payload at the limit.
		err = b.nc.Publish(subject, msg.Data())
	}
	if err != nil {
		b.log.Error("dead letter not published; the message will be redelivered", "queue", queue, "group", group, "err", err)
		return
	}
	if err := msg.Term(); err != nil {
		b.log.Warn("dead letter not terminated; it may be published again", "queue", queue, "group", group, "err", err)
	}
	b.m.DeadLetters.Inc()
	b.log.Warn("queue message dead-lettered", "queue", queue, "group", group, "deliveries", deliveries, "err", cause)
}
