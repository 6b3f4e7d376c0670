// Package bustest is the conformance suite every bus.Bus implementation
// runs, in the manner of tailscale's tstest/chonktest. It checks the
// guarantees documented in package bus: fan-out to every matching
// subscriber, per-publisher ordering, at-least-once queue delivery to one
// member of each group, redelivery, dead letters, Close, and input
// validation.
//
// The suite waits on channels with deadlines; it never sleeps. Because a
// consumer group only receives messages enqueued after it exists, the
// suite starts each group by enqueuing probe messages until one comes
// back, and hides the probes from the handlers under test.
package bustest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wardproject/ward/internal/bus"
)

// Settings the bus returned by newBus must have: MaxDeliver, the default
// MaxPayload (bus.DefaultMaxPayload), a Backoff of a few milliseconds at
// most, and an AckWait of several seconds (so that no message times out
// during a test). Consumers must not prefetch more than 10 messages.
const (
	MaxDeliver = 3
	MaxPayload = bus.DefaultMaxPayload
)

// Timeout bounds every wait in the suite.
const Timeout = 10 * time.Second

// Run runs the conformance suite. newBus returns a fresh, empty bus with
// the settings above; the suite closes it (Close must be idempotent, so
// newBus may also register a cleanup that closes it).
func Run(t *testing.T, newBus func(t *testing.T) bus.Bus) {
	tests := []struct {
		name string
		fn   func(t *testing.T, b bus.Bus)
	}{
		{"FanOut", testFanOut},
		{"Ordering", testOrdering},
		{"Unsubscribe", testUnsubscribe},
		{"QueueOncePerGroup", testQueueOncePerGroup},
		{"Redelivery", testRedelivery},
		{"DeadLetter", testDeadLetter},
		{"GroupSharesWork", testGroupSharesWork},
		{"GroupsEachGetAll", testGroupsEachGetAll},
		{"DeclaredGroupKeeps", testDeclaredGroupKeeps},
		{"CloseUnblocksConsume", testCloseUnblocksConsume},
		{"CancelStopsConsume", testCancelStopsConsume},
		{"InvalidNames", testInvalidNames},
		{"PayloadLimit", testPayloadLimit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBus(t)
			t.Cleanup(func() {
				if err := b.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tt.fn(t, b)
		})
	}
}

// recv waits for one value from ch.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(Timeout):
		t.Fatalf("timed out after %v waiting for %s", Timeout, what)
		panic("unreachable")
	}
}

func subscribe(t *testing.T, b bus.Bus, pattern string, n int) <-chan bus.Message {
	t.Helper()
	ch := make(chan bus.Message, n)
	sub, err := b.Subscribe(pattern, func(m bus.Message) { ch <- m })
	if err != nil {
		t.Fatalf("Subscribe(%q): %v", pattern, err)
	}
	t.Cleanup(func() { sub.Unsubscribe() })
	return ch
}

func publish(t *testing.T, b bus.Bus, subject string, data string) {
	t.Helper()
	if err := b.Publish(context.Background(), subject, []byte(data)); err != nil {
		t.Fatalf("Publish(%q): %v", subject, err)
	}
}

func enqueue(t *testing.T, b bus.Bus, queue string, data string) {
	t.Helper()
	if err := b.Enqueue(context.Background(), queue, []byte(data)); err != nil {
		t.Fatalf("Enqueue(%q): %v", queue, err)
	}
}

var probe = []byte("\x00bustest-probe")

// consume starts n Consume calls in group and returns once the group
// receives messages. They are stopped, and their results checked, at
// cleanup.
func consume(t *testing.T, b bus.Bus, queue, group string, n int, fn func(context.Context, bus.Message) error) {
	t.Helper()
	ready := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			errs <- b.Consume(ctx, queue, group, func(ctx context.Context, m bus.Message) error {
				if bytes.HasPrefix(m.Data, probe) {
					select {
					case ready <- struct{}{}:
					default:
					}
					return nil
				}
				return fn(ctx, m)
			})
		})
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil && !errors.Is(err, bus.ErrClosed) {
				t.Errorf("Consume(%q, %q) = %v, want nil or ErrClosed", queue, group, err)
			}
		}
	})
	deadline := time.After(Timeout)
	for {
		enqueue(t, b, queue, string(probe))
		select {
		case <-ready:
			return
		case err := <-errs:
			t.Fatalf("Consume(%q, %q) returned early: %v", queue, group, err)
		case <-deadline:
			t.Fatalf("group %q of queue %q received no probe within %v", group, queue, Timeout)
		case <-time.After(100 * time.Millisecond):
			// No probe yet: the group may not exist yet. Send another.
		}
	}
}

func testFanOut(t *testing.T, b bus.Bus) {
	const n = 10
	exact := []<-chan bus.Message{
		subscribe(t, b, "cmd.quarantine", n),
		subscribe(t, b, "cmd.quarantine", n),
		subscribe(t, b, "cmd.*", n),
		subscribe(t, b, "cmd.>", n),
		subscribe(t, b, "*.quarantine", n),
	}
	other := subscribe(t, b, "other.>", n)
	for i := range n {
		publish(t, b, "cmd.quarantine", fmt.Sprint(i))
	}
	for si, ch := range exact {
		for i := range n {
			m := recv(t, ch, fmt.Sprintf("message %d on subscriber %d", i, si))
			if m.Subject != "cmd.quarantine" || string(m.Data) != fmt.Sprint(i) || m.Delivery != 1 {
				t.Errorf("subscriber %d got %q %q delivery %d, want %q %q delivery 1", si, m.Subject, m.Data, m.Delivery, "cmd.quarantine", fmt.Sprint(i))
			}
		}
	}
	// Had "other.>" matched, its messages would precede this one.
	publish(t, b, "other.end", "end")
	if m := recv(t, other, "other.end"); m.Subject != "other.end" {
		t.Errorf("subscriber of other.> got %q, want only other.end", m.Subject)
	}
}

func testOrdering(t *testing.T, b bus.Bus) {
	// Guaranteed: messages from one publisher reach each subscription in
	// publish order (when none is dropped).
	const n = 500
	ch := subscribe(t, b, "order.>", n)
	for i := range n {
		publish(t, b, fmt.Sprintf("order.%d", i%3), fmt.Sprint(i))
	}
	for i := range n {
		if m := recv(t, ch, fmt.Sprintf("message %d", i)); string(m.Data) != fmt.Sprint(i) {
			t.Fatalf("message %d: got %q, want in publish order", i, m.Data)
		}
	}
}

func testUnsubscribe(t *testing.T, b bus.Bus) {
	gone := make(chan bus.Message, 10)
	sub, err := b.Subscribe("u.x", func(m bus.Message) { gone <- m })
	if err != nil {
		t.Fatal(err)
	}
	kept := subscribe(t, b, "u.x", 10)
	publish(t, b, "u.x", "1")
	recv(t, gone, "message before Unsubscribe")
	recv(t, kept, "message before Unsubscribe")
	if err := sub.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	if err := sub.Unsubscribe(); err != nil {
		t.Fatalf("second Unsubscribe: %v", err)
	}
	publish(t, b, "u.x", "2")
	recv(t, kept, "message after Unsubscribe")
	select {
	case m := <-gone:
		t.Errorf("unsubscribed handler got %q", m.Data)
	default:
	}
}

// collector records queue deliveries.
type collector struct {
	mu   sync.Mutex
	seen map[string][]int // data -> deliveries
	ch   chan bus.Message
}

func newCollector(n int) *collector {
	return &collector{seen: make(map[string][]int), ch: make(chan bus.Message, n)}
}

func (c *collector) handle(_ context.Context, m bus.Message) error {
	c.mu.Lock()
	c.seen[string(m.Data)] = append(c.seen[string(m.Data)], m.Delivery)
	c.mu.Unlock()
	c.ch <- m
	return nil
}

// waitFor receives messages until one carrying data arrives.
func (c *collector) waitFor(t *testing.T, data string) {
	t.Helper()
	for {
		if m := recv(t, c.ch, "queue message "+data); string(m.Data) == data {
			return
		}
	}
}

// check verifies that each of n messages was delivered exactly once.
func (c *collector) check(t *testing.T, who string, n int) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range n {
		if d := c.seen[fmt.Sprint(i)]; len(d) != 1 || d[0] != 1 {
			t.Errorf("%s: message %d deliveries %v, want [1]", who, i, d)
		}
	}
}

func testQueueOncePerGroup(t *testing.T, b bus.Bus) {
	const n = 100
	c := newCollector(n + 1)
	consume(t, b, "obs.once", "detect", 1, c.handle)
	for i := range n {
		enqueue(t, b, "obs.once", fmt.Sprint(i))
	}
	enqueue(t, b, "obs.once", "end") // one consumer: it comes after the rest
	c.waitFor(t, "end")
	c.check(t, "group detect", n)
	if m := c.seen["end"]; len(m) != 1 {
		t.Errorf("end marker deliveries %v", m)
	}
}

func testRedelivery(t *testing.T, b bus.Bus) {
	got := make(chan bus.Message, 10)
	consume(t, b, "obs.retry", "detect", 1, func(_ context.Context, m bus.Message) error {
		got <- m
		switch {
		case m.Delivery == 1 && string(m.Data) == "fail":
			return errors.New("transient")
		case m.Delivery == 1 && string(m.Data) == "panic":
			panic("handler bug")
		}
		return nil
	})
	for _, data := range []string{"fail", "panic"} {
		enqueue(t, b, "obs.retry", data)
		for want := 1; want <= 2; want++ {
			m := recv(t, got, fmt.Sprintf("delivery %d of %q", want, data))
			if string(m.Data) != data || m.Delivery != want || m.Subject != "obs.retry" {
				t.Fatalf("got %q delivery %d subject %q, want %q delivery %d subject obs.retry", m.Data, m.Delivery, m.Subject, data, want)
			}
		}
	}
}

func testDeadLetter(t *testing.T, b bus.Bus) {
	dead := subscribe(t, b, bus.DeadLetterPrefix+".>", 10)
	got := make(chan bus.Message, 10)
	consume(t, b, "obs.poison", "detect", 1, func(_ context.Context, m bus.Message) error {
		got <- m
		if string(m.Data) == "poison" {
			return errors.New("cannot parse")
		}
		return nil
	})
	enqueue(t, b, "obs.poison", "poison")
	for want := 1; want <= MaxDeliver; want++ {
		if m := recv(t, got, fmt.Sprintf("delivery %d", want)); m.Delivery != want {
			t.Fatalf("delivery %d: Message.Delivery = %d", want, m.Delivery)
		}
	}
	m := recv(t, dead, "dead letter")
	if m.Subject != bus.DeadLetterSubject("obs.poison") || string(m.Data) != "poison" || m.Delivery != MaxDeliver {
		t.Errorf("dead letter %q %q delivery %d, want %q %q delivery %d", m.Subject, m.Data, m.Delivery, bus.DeadLetterSubject("obs.poison"), "poison", MaxDeliver)
	}
	// No delivery after the last: a later message is the next one seen.
	enqueue(t, b, "obs.poison", "ok")
	if m := recv(t, got, "next message"); string(m.Data) != "ok" {
		t.Errorf("after dead letter got %q delivery %d, want %q", m.Data, m.Delivery, "ok")
	}
}

func testGroupSharesWork(t *testing.T, b bus.Bus) {
	const n = 50
	var (
		mu      sync.Mutex
		seen    = map[string]int{}
		holding = make(chan struct{}) // closed when a second consumer is busy too
		busy    = 0
		once    sync.Once
		done    = make(chan struct{}, n)
	)
	consume(t, b, "obs.shared", "detect", 2, func(ctx context.Context, m bus.Message) error {
		mu.Lock()
		seen[string(m.Data)]++
		busy++
		if busy == 2 {
			once.Do(func() { close(holding) })
		}
		mu.Unlock()
		// Hold the message until both consumers hold one: one consumer
		// alone cannot get past here.
		select {
		case <-holding:
		case <-ctx.Done():
			return ctx.Err()
		}
		mu.Lock()
		busy--
		mu.Unlock()
		done <- struct{}{}
		return nil
	})
	for i := range n {
		enqueue(t, b, "obs.shared", fmt.Sprint(i))
	}
	for i := range n {
		recv(t, done, fmt.Sprintf("completion %d", i))
	}
	mu.Lock()
	defer mu.Unlock()
	for i := range n {
		if seen[fmt.Sprint(i)] != 1 {
			t.Errorf("message %d delivered %d times, want 1", i, seen[fmt.Sprint(i)])
		}
	}
}

func testGroupsEachGetAll(t *testing.T, b bus.Bus) {
	const n = 20
	c1, c2 := newCollector(n+1), newCollector(n+1)
	consume(t, b, "obs.multi", "detect", 1, c1.handle)
	consume(t, b, "obs.multi", "archive", 1, c2.handle)
	for i := range n {
		enqueue(t, b, "obs.multi", fmt.Sprint(i))
	}
	enqueue(t, b, "obs.multi", "end")
	c1.waitFor(t, "end")
	c2.waitFor(t, "end")
	c1.check(t, "group detect", n)
	c2.check(t, "group archive", n)
}

// testDeclaredGroupKeeps: a message enqueued while its queue has no group
// is dropped; once a group is declared, messages wait for its first
// Consume call.
func testDeclaredGroupKeeps(t *testing.T, b bus.Bus) {
	const n = 5
	ctx := context.Background()
	enqueue(t, b, "obs.declared", "lost")
	if err := b.DeclareGroup(ctx, "obs.declared", "detect"); err != nil {
		t.Fatalf("DeclareGroup: %v", err)
	}
	if err := b.DeclareGroup(ctx, "obs.declared", "detect"); err != nil {
		t.Fatalf("DeclareGroup again: %v", err)
	}
	for i := range n {
		enqueue(t, b, "obs.declared", fmt.Sprint(i))
	}
	enqueue(t, b, "obs.declared", "end")
	c := newCollector(n + 2)
	consume(t, b, "obs.declared", "detect", 1, c.handle)
	c.waitFor(t, "end")
	c.check(t, "declared group", n)
	c.mu.Lock()
	defer c.mu.Unlock()
	if d := c.seen["lost"]; len(d) != 0 {
		t.Errorf("message enqueued before any group delivered %v", d)
	}
}

func testCloseUnblocksConsume(t *testing.T, b bus.Bus) {
	started := make(chan struct{})
	returned := make(chan error, 1)
	go func() {
		returned <- b.Consume(context.Background(), "obs.close", "detect", func(ctx context.Context, m bus.Message) error {
			select {
			case started <- struct{}{}:
			default:
			}
			return nil
		})
	}()
	deadline := time.After(Timeout)
wait:
	for {
		enqueue(t, b, "obs.close", "x")
		select {
		case <-started:
			break wait
		case err := <-returned:
			t.Fatalf("Consume returned early: %v", err)
		case <-deadline:
			t.Fatal("consumer never started")
		case <-time.After(100 * time.Millisecond):
		}
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := recv(t, returned, "Consume to return after Close"); !errors.Is(err, bus.ErrClosed) {
		t.Errorf("Consume after Close = %v, want ErrClosed", err)
	}
	ctx := context.Background()
	if err := b.Publish(ctx, "a.b", nil); !errors.Is(err, bus.ErrClosed) {
		t.Errorf("Publish after Close = %v, want ErrClosed", err)
	}
	if err := b.Enqueue(ctx, "a.b", nil); !errors.Is(err, bus.ErrClosed) {
		t.Errorf("Enqueue after Close = %v, want ErrClosed", err)
	}
	if _, err := b.Subscribe("a.b", func(bus.Message) {}); !errors.Is(err, bus.ErrClosed) {
		t.Errorf("Subscribe after Close = %v, want ErrClosed", err)
	}
	if err := b.Consume(ctx, "a.b", "g", nil); !errors.Is(err, bus.ErrClosed) {
		t.Errorf("Consume after Close = %v, want ErrClosed", err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func testCancelStopsConsume(t *testing.T, b bus.Bus) {
	ctx, cancel := context.WithCancel(context.Background())
	returned := make(chan error, 1)
	go func() {
		returned <- b.Consume(ctx, "obs.cancel", "detect", func(context.Context, bus.Message) error { return nil })
	}()
	cancel()
	if err := recv(t, returned, "Consume to return after cancel"); err != nil {
		t.Errorf("Consume after cancel = %v, want nil", err)
	}
}

func testInvalidNames(t *testing.T, b bus.Bus) {
	ctx := context.Background()
	badSubjects := []string{"", ".", "a.", ".a", "a..b", "a b", "a\tb", "a.*", "a.>", ">", "a*", "a.b>", "a\x00b", string(make([]byte, bus.MaxSubjectLen+1))}
	for _, s := range badSubjects {
		if err := b.Publish(ctx, s, []byte("x")); !errors.Is(err, bus.ErrInvalidSubject) {
			t.Errorf("Publish(%q) = %v, want ErrInvalidSubject", s, err)
		}
		if err := b.Enqueue(ctx, s, []byte("x")); !errors.Is(err, bus.ErrInvalidSubject) {
			t.Errorf("Enqueue(%q) = %v, want ErrInvalidSubject", s, err)
		}
		if err := b.Consume(ctx, s, "g", nil); !errors.Is(err, bus.ErrInvalidSubject) {
			t.Errorf("Consume(%q) = %v, want ErrInvalidSubject", s, err)
		}
		if err := b.DeclareGroup(ctx, s, "g"); !errors.Is(err, bus.ErrInvalidSubject) {
			t.Errorf("DeclareGroup(%q) = %v, want ErrInvalidSubject", s, err)
		}
	}
	badPatterns := []string{"", "a..b", "a.>.b", "a*", "*a", ">>", "a b", "a.", string(make([]byte, bus.MaxSubjectLen+1))}
	for _, p := range badPatterns {
		if _, err := b.Subscribe(p, func(bus.Message) {}); !errors.Is(err, bus.ErrInvalidSubject) {
			t.Errorf("Subscribe(%q) = %v, want ErrInvalidSubject", p, err)
		}
	}
	for _, p := range []string{"a", "a.b", "a.*", "*", ">", "a.*.c.>", "ward-1.x_y"} {
		sub, err := b.Subscribe(p, func(bus.Message) {})
		if err != nil {
			t.Errorf("Subscribe(%q) = %v, want nil", p, err)
			continue
		}
		sub.Unsubscribe()
	}
	for _, g := range []string{"", "a.b", "a b", "a*", "é", string(make([]byte, bus.MaxGroupLen+1))} {
		if err := b.DeclareGroup(ctx, "q", g); !errors.Is(err, bus.ErrInvalidGroup) {
			t.Errorf("DeclareGroup(group %q) = %v, want ErrInvalidGroup", g, err)
		}
		if err := b.Consume(ctx, "q", g, nil); !errors.Is(err, bus.ErrInvalidGroup) {
			t.Errorf("Consume(group %q) = %v, want ErrInvalidGroup", g, err)
		}
	}
}

func testPayloadLimit(t *testing.T, b bus.Bus) {
	ctx := context.Background()
	big := make([]byte, MaxPayload+1)
	if err := b.Publish(ctx, "big.x", big); !errors.Is(err, bus.ErrPayloadTooLarge) {
		t.Errorf("Publish(%d bytes) = %v, want ErrPayloadTooLarge", len(big), err)
	}
	if err := b.Enqueue(ctx, "big.q", big); !errors.Is(err, bus.ErrPayloadTooLarge) {
		t.Errorf("Enqueue(%d bytes) = %v, want ErrPayloadTooLarge", len(big), err)
	}
	// The limit itself is accepted and delivered intact.
	ch := subscribe(t, b, "big.x", 1)
	max := bytes.Repeat([]byte{'w'}, MaxPayload)
	if err := b.Publish(ctx, "big.x", max); err != nil {
		t.Fatalf("Publish(%d bytes) = %v, want nil", len(max), err)
	}
	if m := recv(t, ch, "largest message"); !bytes.Equal(m.Data, max) {
		t.Errorf("largest message: got %d bytes, want %d intact", len(m.Data), len(max))
	}
	c := newCollector(2)
	consume(t, b, "big.q", "detect", 1, c.handle)
	if err := b.Enqueue(ctx, "big.q", max); err != nil {
		t.Fatalf("Enqueue(%d bytes) = %v, want nil", len(max), err)
	}
	if m := recv(t, c.ch, "largest queue message"); !bytes.Equal(m.Data, max) {
		t.Errorf("largest queue message: got %d bytes, want %d intact", len(m.Data), len(max))
	}
}
