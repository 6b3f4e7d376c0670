package nats

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	natsgo "github.com/nats-io/nats.go"

	"github.com/wardproject/ward/internal/bus"
)

// deliveriesHeader carries Message.Delivery on dead letters.
const deliveriesHeader = "Ward-Deliveries"

// Publish implements bus.Bus. It returns once the message is in the
// connection's buffer; nats.go flushes it soon after.
func (b *Bus) Publish(ctx context.Context, subject string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if b.ctx.Err() != nil {
		return b.m.Reject(bus.ErrClosed)
	}
	if err := bus.ValidateSubject(subject); err != nil {
		return b.m.Reject(err)
	}
	if err := bus.CheckPayload(data, b.opts.MaxPayload); err != nil {
		return b.m.Reject(err)
	}
	if err := b.nc.Publish(b.topics+subject, data); err != nil {
		return b.m.Reject(fmt.Errorf("publish %s: %w", subject, err))
	}
	b.m.Published.WithLabelValues("topic").Inc()
	return nil
}

type subscription struct {
	b    *Bus
	sub  *natsgo.Subscription
	ch   chan bus.Message
	fn   func(bus.Message)
	stop chan struct{}
	once sync.Once
}

// Subscribe implements bus.Bus. It returns once the server has registered
// the subscription, so messages published afterwards reach it.
func (b *Bus) Subscribe(pattern string, fn func(bus.Message)) (bus.Subscription, error) {
	if err := bus.ValidatePattern(pattern); err != nil {
		return nil, b.m.Reject(err)
	}
	if err := b.register(); err != nil {
		return nil, b.m.Reject(err)
	}
	s := &subscription{
		b:    b,
		ch:   make(chan bus.Message, b.opts.SubscriberQueue),
		fn:   fn,
		stop: make(chan struct{}),
	}
	var err error
	s.sub, err = b.nc.Subscribe(b.topics+pattern, s.receive)
	if err == nil {
		err = b.nc.FlushTimeout(b.opts.ConnectTimeout)
	}
	if err != nil {
		if s.sub != nil {
			s.sub.Unsubscribe()
		}
		b.wg.Done()
		return nil, b.m.Reject(fmt.Errorf("subscribe %s: %w", pattern, err))
	}
	go s.run()
	return s, nil
}

// receive runs on nats.go's delivery goroutine: it only queues.
func (s *subscription) receive(msg *natsgo.Msg) {
	m := bus.Message{Subject: msg.Subject[len(s.b.topics):], Data: msg.Data, Delivery: 1}
	if v := msg.Header.Get(deliveriesHeader); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			m.Delivery = n
		}
	}
	select {
	case s.ch <- m:
	default:
		s.b.m.Dropped.WithLabelValues("subscriber_full").Inc()
	}
}

func (s *subscription) run() {
	defer s.b.wg.Done()
	defer s.sub.Unsubscribe()
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

// Unsubscribe implements bus.Subscription.
func (s *subscription) Unsubscribe() error {
	s.once.Do(func() { close(s.stop) })
	return nil
}
