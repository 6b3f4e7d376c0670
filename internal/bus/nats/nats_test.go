package nats

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/wardproject/ward/internal/bus"
	"github.com/wardproject/ward/internal/bus/bustest"
	"github.com/wardproject/ward/internal/wardtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newBus connects to the test server in a fresh namespace whose stream is
// deleted at cleanup.
func newBus(t testing.TB, opts Options) *Bus {
	t.Helper()
	url := wardtest.NATS(t)
	opts.URL = url
	opts.Namespace = "test_" + rand.Text()[:12]
	b, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		b.Close()
		wardtest.DeleteNATSStream(t, url, b.stream)
	})
	return b
}

func TestConformance(t *testing.T) {
	bustest.Run(t, func(t *testing.T) bus.Bus {
		return newBus(t, Options{
			MaxDeliver: bustest.MaxDeliver,
			Backoff:    []time.Duration{5 * time.Millisecond},
			AckWait:    10 * time.Second,
			Prefetch:   4,
			Metrics:    prometheus.NewPedanticRegistry(),
		})
	})
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{"no-url", Options{}},
		{"bad-namespace", Options{URL: "nats://127.0.0.1:4222", Namespace: "a.b"}},
		{"negative", Options{URL: "nats://127.0.0.1:4222", AckWait: -1}},
		{"unreachable", Options{URL: "nats://127.0.0.1:1", ConnectTimeout: time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if b, err := New(tt.opts); err == nil {
				b.Close()
				t.Fatal("New succeeded")
			}
		})
	}
}

func TestMaxPayloadAboveServer(t *testing.T) {
	url := wardtest.NATS(t)
	b, err := New(Options{URL: url, MaxPayload: 1 << 30})
	if err == nil {
		b.Close()
		t.Fatal("New accepted a MaxPayload above the server's")
	}
}

func TestConsumerName(t *testing.T) {
	a, b := consumerName("a.b", "g"), consumerName("a_b", "g")
	if a == b {
		t.Errorf("queues a.b and a_b share consumer name %s", a)
	}
	if err := bus.ValidateGroup(a); err != nil {
		t.Errorf("consumer name %s: %v", a, err)
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
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		b.Fatalf("received %d of %d", n, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

func BenchmarkEnqueueConsume(b *testing.B) {
	for _, producers := range []int{1, 16} {
		b.Run(fmt.Sprintf("producers=%d", producers), func(b *testing.B) { benchEnqueueConsume(b, producers) })
	}
}

func benchEnqueueConsume(b *testing.B, producers int) {
	bs := newBus(b, Options{Prefetch: 256})
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan struct{}, 1024)
	ready := make(chan struct{}, 1)
	done := make(chan error)
	go func() {
		done <- bs.Consume(ctx, "bench.q", "g", func(_ context.Context, m bus.Message) error {
			if len(m.Data) == 0 {
				select {
				case ready <- struct{}{}:
				default:
				}
				return nil
			}
			got <- struct{}{}
			return nil
		})
	}()
	defer func() { cancel(); <-done }()
	for {
		if err := bs.Enqueue(ctx, "bench.q", nil); err != nil {
			b.Fatal(err)
		}
		select {
		case <-ready:
		case <-time.After(100 * time.Millisecond):
			continue
		}
		break
	}
	data := make([]byte, 128)
	b.ResetTimer()
	// Enqueue waits for JetStream's acknowledgement, so one producer is
	// bound by the round trip; gateways enqueue from many connections.
	errs := make(chan error, producers)
	for p := range producers {
		go func() {
			for i := p; i < b.N; i += producers {
				if err := bs.Enqueue(ctx, "bench.q", data); err != nil {
					errs <- fmt.Errorf("enqueue %d: %w", i, err)
					return
				}
			}
		}()
	}
	for i := 0; i < b.N; i++ {
		select {
		case <-got:
		case err := <-errs:
			b.Fatal(err)
		case <-time.After(30 * time.Second):
			b.Fatalf("received %d of %d", i, b.N)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// A full queue stream refuses new work with bus.ErrQueueFull.
func TestQueueFull(t *testing.T) {
	b := newBus(t, Options{QueueMaxMsgs: 3, Prefetch: 1})
	ctx, cancel := context.WithCancel(context.Background())
	hold := make(chan struct{})
	got := make(chan struct{}, 10)
	done := make(chan error)
	go func() {
		done <- b.Consume(ctx, "q", "g", func(ctx context.Context, m bus.Message) error {
			got <- struct{}{}
			select {
			case <-hold:
			case <-ctx.Done():
			}
			return nil
		})
	}()
	defer func() { close(hold); cancel(); <-done }()
	for { // until the group exists and holds a message
		if err := b.Enqueue(ctx, "q", []byte("x")); err != nil {
			t.Fatal(err)
		}
		select {
		case <-got:
		case <-time.After(100 * time.Millisecond):
			continue
		}
		break
	}
	for i := 0; ; i++ {
		err := b.Enqueue(ctx, "q", []byte("x"))
		if errors.Is(err, bus.ErrQueueFull) {
			break
		}
		if err != nil || i > 10 {
			t.Fatalf("Enqueue %d = %v, want ErrQueueFull within 3 messages", i, err)
		}
	}
}
