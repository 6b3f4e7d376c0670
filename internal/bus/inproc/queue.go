package inproc

import (
	"context"
	"errors"
	"time"

	"github.com/wardproject/ward/internal/bus"
)

// group is one consumer group of one queue.
type group struct {
	// ready holds messages waiting for a consumer. Its capacity is
	// Options.QueueLength and pending never exceeds it, so sends to ready
	// never block.
	ready chan *item
	// pending counts messages waiting, in flight or backing off; guarded
	// by Bus.mu.
	pending int
}

type item struct {
	data      []byte
	delivered int // deliveries so far
}

// Enqueue implements bus.Bus. It copies data, so the caller may reuse it.
func (b *Bus) Enqueue(ctx context.Context, queue string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := bus.ValidateSubject(queue); err != nil {
		return b.m.Reject(err)
	}
	if err := bus.CheckPayload(data, b.opts.MaxPayload); err != nil {
		return b.m.Reject(err)
	}
	data = append([]byte(nil), data...)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return b.m.Reject(bus.ErrClosed)
	}
	groups := b.queues[queue]
	if len(groups) == 0 {
		b.m.Dropped.WithLabelValues("no_group").Inc()
		return nil
	}
	for _, g := range groups {
		if g.pending >= cap(g.ready) {
			return b.m.Reject(bus.ErrQueueFull)
		}
	}
	for _, g := range groups {
		g.pending++
		g.ready <- &item{data: data}
	}
	b.m.Published.WithLabelValues("queue").Inc()
	return nil
}

// DeclareGroup implements bus.Bus.
func (b *Bus) DeclareGroup(ctx context.Context, queue, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := bus.ValidateSubject(queue); err != nil {
		return b.m.Reject(err)
	}
	if err := bus.ValidateGroup(name); err != nil {
		return b.m.Reject(err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return b.m.Reject(bus.ErrClosed)
	}
	b.groupLocked(queue, name)
	return nil
}

// groupLocked returns group name of queue, creating it. b.mu must be held.
func (b *Bus) groupLocked(queue, name string) *group {
	groups := b.queues[queue]
	if groups == nil {
		groups = make(map[string]*group)
		b.queues[queue] = groups
	}
	g := groups[name]
	if g == nil {
		g = &group{ready: make(chan *item, b.opts.QueueLength)}
		groups[name] = g
		b.log.Info("consumer group created", "queue", queue, "group", name)
	}
	return g
}

// Consume implements bus.Bus.
func (b *Bus) Consume(ctx context.Context, queue, name string, fn func(context.Context, bus.Message) error) error {
	if err := bus.ValidateSubject(queue); err != nil {
		return b.m.Reject(err)
	}
	if err := bus.ValidateGroup(name); err != nil {
		return b.m.Reject(err)
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return b.m.Reject(bus.ErrClosed)
	}
	g := b.groupLocked(queue, name)
	b.wg.Add(1)
	b.mu.Unlock()
	defer b.wg.Done()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(b.ctx, cancel)()
	for {
		select {
		case <-b.ctx.Done():
			return bus.ErrClosed
		case <-ctx.Done():
			return nil
		case it := <-g.ready:
			b.deliver(ctx, queue, name, g, it, fn)
		}
	}
}

// deliver runs fn on it, then acknowledges it, schedules its redelivery
// or dead-letters it.
func (b *Bus) deliver(ctx context.Context, queue, name string, g *group, it *item, fn func(context.Context, bus.Message) error) {
	it.delivered++
	m := bus.Message{Subject: queue, Data: it.data, Delivery: it.delivered}
	hctx, cancel := context.WithTimeout(ctx, b.opts.AckWait)
	b.m.Delivered.WithLabelValues("queue").Inc()
	err := call(func() error { return fn(hctx, m) })
	timedOut := errors.Is(hctx.Err(), context.DeadlineExceeded)
	cancel()

	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case err == nil:
		g.pending--
	case it.delivered >= b.opts.MaxDeliver:
		g.pending--
		b.m.DeadLetters.Inc()
		b.log.Warn("queue message dead-lettered", "queue", queue, "group", name, "deliveries", it.delivered, "err", err)
		b.publish(bus.Message{Subject: bus.DeadLetterSubject(queue), Data: it.data, Delivery: it.delivered})
	case b.closed:
		// Dropped with the rest of the bus.
	default:
		reason := "error"
		if timedOut {
			reason = "timeout"
		}
		b.m.Redelivered.WithLabelValues(reason).Inc()
		b.log.Debug("queue message redelivery", "queue", queue, "group", name, "deliveries", it.delivered, "err", err)
		d := bus.Backoff(b.opts.Backoff, it.delivered)
		if d == 0 {
			g.ready <- it
			return
		}
		var t *time.Timer
		t = time.AfterFunc(d, func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			if _, ok := b.timers[t]; ok {
				delete(b.timers, t)
				g.ready <- it
			}
		})
		b.timers[t] = struct{}{}
	}
}
