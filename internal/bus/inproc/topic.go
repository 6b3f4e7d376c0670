package inproc

import (
	"context"
	"sync"

	"github.com/wardproject/ward/internal/bus"
)

type subscription struct {
	b       *Bus
	pattern string
	ch      chan bus.Message
	fn      func(bus.Message)
	stop    chan struct{}
	once    sync.Once
}

// Publish implements bus.Bus. It copies data, so the caller may reuse it.
func (b *Bus) Publish(ctx context.Context, subject string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if b.isClosed() {
		return b.m.Reject(bus.ErrClosed)
	}
	if err := bus.ValidateSubject(subject); err != nil {
		return b.m.Reject(err)
	}
	if err := bus.CheckPayload(data, b.opts.MaxPayload); err != nil {
		return b.m.Reject(err)
	}
	b.publish(bus.Message{Subject: subject, Data: append([]byte(nil), data...), Delivery: 1})
	return nil
}

// publish hands m to every matching subscription without blocking.
func (b *Bus) publish(m bus.Message) {
	b.m.Published.WithLabelValues("topic").Inc()
	b.subsMu.RLock()
	defer b.subsMu.RUnlock()
	for s := range b.subs {
		if !bus.Match(s.pattern, m.Subject) {
			continue
		}
		select {
		case s.ch <- m:
		default:
			b.m.Dropped.WithLabelValues("subscriber_full").Inc()
		}
	}
}

// Subscribe implements bus.Bus. Each subscription has its own goroutine
// and a queue of Options.SubscriberQueue messages.
func (b *Bus) Subscribe(pattern string, fn func(bus.Message)) (bus.Subscription, error) {
	if err := bus.ValidatePattern(pattern); err != nil {
		return nil, b.m.Reject(err)
	}
	s := &subscription{
		b:       b,
		pattern: pattern,
		ch:      make(chan bus.Message, b.opts.SubscriberQueue),
		fn:      fn,
		stop:    make(chan struct{}),
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, b.m.Reject(bus.ErrClosed)
	}
	b.wg.Add(1)
	b.mu.Unlock()
	b.subsMu.Lock()
	b.subs[s] = struct{}{}
	b.subsMu.Unlock()
	go s.run()
	return s, nil
}

func (s *subscription) run() {
	defer s.b.wg.Done()
	for {
		select {
		case <-s.stop:
			return
		case <-s.b.ctx.Done():
			return
		case m := <-s.ch:
			s.b.m.Delivered.WithLabelValues("topic").Inc()
			if err := call(func() error { s.fn(m); return nil }); err != nil {
				s.b.log.Error("subscriber failed", "topic", m.Subject, "err", err)
			}
		}
	}
}

// Unsubscribe implements bus.Subscription. Messages still queued for the
// subscription are discarded.
func (s *subscription) Unsubscribe() error {
	s.once.Do(func() {
		s.b.subsMu.Lock()
		delete(s.b.subs, s)
		s.b.subsMu.Unlock()
		close(s.stop)
	})
	return nil
}
