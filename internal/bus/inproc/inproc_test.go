package inproc

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/wardproject/ward/internal/bus"
	"github.com/wardproject/ward/internal/bus/bustest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newBus(t testing.TB, opts Options) *Bus {
	t.Helper()
	b, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// waitGroup waits until Consume has created group of queue. It polls, as
// there is no event to wait on; the loop is short as Consume was started.
func waitGroup(b *Bus, queue, group string) {
	for {
		b.mu.Lock()
		exists := b.queues[queue][group] != nil
		b.mu.Unlock()
		if exists {
			return
		}
		runtime.Gosched()
	}
}

func TestConformance(t *testing.T) {
	bustest.Run(t, func(t *testing.T) bus.Bus {
		return newBus(t, Options{
			MaxDeliver: bustest.MaxDeliver,
			Backoff:    []time.Duration{0},
			Metrics:    prometheus.NewPedanticRegistry(),
		})
	})
}

func TestNewRejectsNegative(t *testing.T) {
	for _, o := range []Options{{MaxPayload: -1}, {QueueLength: -1}, {Backoff: []time.Duration{-1}}} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) = nil error", o)
		}
	}
}

// A full subscriber queue drops for that subscriber only, and counts.
func TestSlowSubscriberDrops(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	b := newBus(t, Options{SubscriberQueue: 2, Metrics: reg})
	release := make(chan struct{})
	slow := make(chan bus.Message, 10)
	if _, err := b.Subscribe("cmd.x", func(m bus.Message) { slow <- m; <-release }); err != nil {
		t.Fatal(err)
	}
	fast := make(chan bus.Message, 10)
	if _, err := b.Subscribe("cmd.x", func(m bus.Message) { fast <- m }); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := b.Publish(ctx, "cmd.x", []byte("0")); err != nil {
		t.Fatal(err)
	}
	<-slow // the slow handler now blocks holding message 0
	<-fast
	for i := 1; i <= 4; i++ {
		if err := b.Publish(ctx, "cmd.x", fmt.Append(nil, i)); err != nil {
			t.Fatalf("Publish must not fail or block on a slow subscriber: %v", err)
		}
		if m := <-fast; string(m.Data) != fmt.Sprint(i) {
			t.Errorf("fast subscriber got %q, want %d", m.Data, i)
		}
	}
	// Messages 1 and 2 fill the slow queue; 3 and 4 are dropped for it.
	if got := testutil.ToFloat64(b.m.Dropped.WithLabelValues("subscriber_full")); got != 2 {
		t.Errorf("dropped = %v, want 2", got)
	}
	close(release)
	for i := 1; i <= 2; i++ {
		if m := <-slow; string(m.Data) != fmt.Sprint(i) {
			t.Errorf("slow subscriber got %q, want %d", m.Data, i)
		}
	}
}

func TestQueueFullAndNoGroup(t *testing.T) {
	b := newBus(t, Options{QueueLength: 2})
	ctx := context.Background()
	if err := b.Enqueue(ctx, "q", []byte("nobody")); err != nil {
		t.Fatalf("Enqueue without group: %v", err)
	}
	if got := testutil.ToFloat64(b.m.Dropped.WithLabelValues("no_group")); got != 1 {
		t.Errorf("dropped no_group = %v, want 1", got)
	}
	hold := make(chan struct{})
	got := make(chan bus.Message, 3)
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() {
		done <- b.Consume(cctx, "q", "g", func(_ context.Context, m bus.Message) error { got <- m; <-hold; return nil })
	}()
	waitGroup(b, "q", "g") // Enqueue drops until the group exists
	if err := b.Enqueue(ctx, "q", []byte("1")); err != nil {
		t.Fatal(err)
	}
	<-got // in flight: counts towards QueueLength
	for {
		err := b.Enqueue(ctx, "q", []byte("2"))
		if errors.Is(err, bus.ErrQueueFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	close(hold)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Consume = %v", err)
	}
}

// Redelivery follows Options.Backoff, in fake time.
func TestBackoffSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, err := New(Options{MaxDeliver: 4, Backoff: []time.Duration{time.Second, 10 * time.Second}})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		type delivery struct {
			n  int
			at time.Duration
		}
		start := time.Now()
		got := make(chan delivery, 10)
		go b.Consume(ctx, "q", "g", func(_ context.Context, m bus.Message) error {
			got <- delivery{m.Delivery, time.Since(start)}
			return errors.New("fail")
		})
		dead := make(chan bus.Message, 1)
		if _, err := b.Subscribe(bus.DeadLetterSubject("q"), func(m bus.Message) { dead <- m }); err != nil {
			t.Fatal(err)
		}
		synctest.Wait() // Consume has created the group
		if err := b.Enqueue(ctx, "q", []byte("x")); err != nil {
			t.Fatal(err)
		}
		want := []delivery{{1, 0}, {2, time.Second}, {3, 11 * time.Second}, {4, 21 * time.Second}}
		for _, w := range want {
			if d := <-got; d != w {
				t.Errorf("got delivery %+v, want %+v", d, w)
			}
		}
		if m := <-dead; m.Delivery != 4 || string(m.Data) != "x" {
			t.Errorf("dead letter %+v", m)
		}
		if n := testutil.ToFloat64(b.m.DeadLetters); n != 1 {
			t.Errorf("dead letters = %v, want 1", n)
		}
		if n := testutil.ToFloat64(b.m.Redelivered.WithLabelValues("error")); n != 3 {
			t.Errorf("redelivered = %v, want 3", n)
		}
	})
}

// The handler's context ends at AckWait, and a failure after it counts as
// a timeout.
func TestAckWaitTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, err := New(Options{AckWait: time.Minute, Backoff: []time.Duration{0}})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		got := make(chan int, 2)
		go b.Consume(ctx, "q", "g", func(ctx context.Context, m bus.Message) error {
			if m.Delivery == 1 {
				<-ctx.Done()
				return ctx.Err()
			}
			got <- m.Delivery
			return nil
		})
		synctest.Wait()
		if err := b.Enqueue(ctx, "q", []byte("x")); err != nil {
			t.Fatal(err)
		}
		if d := <-got; d != 2 {
			t.Errorf("delivery %d, want 2", d)
		}
		if n := testutil.ToFloat64(b.m.Redelivered.WithLabelValues("timeout")); n != 1 {
			t.Errorf("redelivered timeout = %v, want 1", n)
		}
	})
}

// Close stops pending redelivery timers.
func TestCloseStopsTimers(t *testing.T) {
	b := newBus(t, Options{Backoff: []time.Duration{time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	failed := make(chan struct{})
	done := make(chan error)
	go func() {
		done <- b.Consume(ctx, "q", "g", func(context.Context, bus.Message) error { close(failed); return errors.New("x") })
	}()
	waitGroup(b, "q", "g")
	b.Enqueue(ctx, "q", []byte("x"))
	<-failed
	b.Close()
	if err := <-done; !errors.Is(err, bus.ErrClosed) {
		t.Errorf("Consume = %v", err)
	}
	if n := len(b.timers); n != 0 {
		t.Errorf("%d timers left", n)
	}
}

func BenchmarkPublishSubscribe(b *testing.B) {
	bs := newBus(b, Options{SubscriberQueue: 1 << 20})
	done := make(chan struct{})
	n := 0
	if _, err := bs.Subscribe("bench.x", func(bus.Message) {
		n++
		if n == b.N {
			close(done)
		}
	}); err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 128)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := bs.Publish(ctx, "bench.x", data); err != nil {
			b.Fatal(err)
		}
		if i%1024 == 0 && testutil.ToFloat64(bs.m.Dropped.WithLabelValues("subscriber_full")) > 0 {
			b.Fatal("dropped: enlarge SubscriberQueue")
		}
	}
	<-done
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

func BenchmarkEnqueueConsume(b *testing.B) {
	bs := newBus(b, Options{QueueLength: 1 << 16})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan struct{}, 1<<16)
	ready := make(chan struct{})
	go bs.Consume(ctx, "bench.q", "g", func(_ context.Context, m bus.Message) error {
		if m.Data == nil {
			close(ready)
			return nil
		}
		got <- struct{}{}
		return nil
	})
	waitGroup(bs, "bench.q", "g")
	bs.Enqueue(ctx, "bench.q", nil)
	<-ready
	data := make([]byte, 128)
	b.ResetTimer()
	errs := make(chan error, 1)
	go func() {
		for i := 0; i < b.N; i++ {
			for {
				err := bs.Enqueue(ctx, "bench.q", data)
				if err == nil {
					break
				}
				if !errors.Is(err, bus.ErrQueueFull) {
					errs <- err
					return
				}
				runtime.Gosched()
			}
		}
	}()
	for i := 0; i < b.N; i++ {
		select {
		case <-got:
		case err := <-errs:
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
