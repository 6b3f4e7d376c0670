package notify_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/wardproject/ward/internal/alert"
	"github.com/wardproject/ward/internal/notify"
	"github.com/wardproject/ward/internal/wardtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// wait bounds every wait for an event in these tests.
const wait = 5 * time.Second

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)

// sample is an ordinary notification.
func sample() alert.Notification {
	return alert.Notification{
		Change: alert.Raised,
		Time:   t0,
		Alert: alert.Alert{
			ID:          "a-0001",
			Device:      "d-42",
			Rule:        "msg-rate",
			Source:      "detect",
			Severity:    alert.High,
			State:       alert.Open,
			Title:       "Message rate above fleet p99",
			Description: "d-42 published 812 messages in 1m; the fleet p99 is 300",
			Evidence: alert.Evidence{Metric: "msgs_out", Window: "1m", Comparison: ">", Value: 812, Threshold: 300,
				Statistic: "p99 of model acme-th1", WindowStart: t0.Add(-time.Minute), WindowEnd: t0},
			MITRE:     []string{"T0814", "T1498"},
			RaisedAt:  t0,
			UpdatedAt: t0,
			Count:     3,
		},
	}
}

// withID is sample with alert ID id.
func withID(id string) alert.Notification {
	n := sample()
	n.Alert.ID = id
	return n
}

// recvTimeout receives from ch or fails the test after wait.
func recvTimeout[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(wait):
		t.Fatalf("timed out waiting for %s", what)
	}
	var zero T
	return zero
}

// chanSink delivers into a channel; fail, when set, decides each attempt's
// result.
type chanSink struct {
	name string
	got  chan alert.Notification
	mu   sync.Mutex
	fail func(attempt int) error
	n    int
}

func newChanSink(name string) *chanSink {
	return &chanSink{name: name, got: make(chan alert.Notification, 100)}
}

func (s *chanSink) Name() string { return s.name }

func (s *chanSink) Send(_ context.Context, n alert.Notification) error {
	s.mu.Lock()
	s.n++
	attempt := s.n
	fail := s.fail
	s.mu.Unlock()
	if fail != nil {
		if err := fail(attempt); err != nil {
			return err
		}
	}
	s.got <- n
	return nil
}

// blockSink blocks every Send until ctx is done, announcing each one.
type blockSink struct {
	entered chan string
}

func (s *blockSink) Name() string { return "stuck" }

func (s *blockSink) Send(ctx context.Context, n alert.Notification) error {
	s.entered <- n.Alert.ID
	<-ctx.Done()
	return ctx.Err()
}

// deadLetter is one recorded dead letter.
type deadLetter struct {
	sink string
	id   string
	err  error
}

// chanDeadLetters records dead letters into a channel.
type chanDeadLetters chan deadLetter

func (c chanDeadLetters) DeadLetter(_ context.Context, sink string, n alert.Notification, err error) error {
	c <- deadLetter{sink: sink, id: n.Alert.ID, err: err}
	return nil
}

// sleeps records the delays the Dispatcher asks for, without waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) Sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
	return ctx.Err()
}

func (s *sleeps) got() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

// fixedBackoff waits attempt seconds before retry number attempt.
func fixedBackoff(attempt int) time.Duration { return time.Duration(attempt) * time.Second }

// run starts d.Run and returns a function that stops it and waits.
func run(t *testing.T, d *notify.Dispatcher) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- d.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := recvTimeout(t, errc, "Run to return"); err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func TestBlockedSinkDoesNotBlockNotify(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	stuck := &blockSink{entered: make(chan string, 10)}
	good := newChanSink("good")
	dl := make(chanDeadLetters, 20)
	d, err := notify.New(notify.Options{
		Routes: []notify.Route{
			{Sink: stuck, QueueSize: 2},
			{Sink: good},
		},
		DeadLetters:  dl,
		DrainTimeout: time.Millisecond,
		Metrics:      reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, d)

	d.Notify(withID("n0"))
	if got := recvTimeout(t, stuck.entered, "the stuck sink's first Send"); got != "n0" {
		t.Fatalf("stuck sink got %s first, want n0", got)
	}
	// n0 is in flight; n1 and n2 fill the queue; n3..n9 are dropped. Each
	// Notify returns at once (a blocking one would hang the test).
	for i := 1; i < 10; i++ {
		d.Notify(withID("n" + string(rune('0'+i))))
	}
	for i := 0; i < 10; i++ {
		n := recvTimeout(t, good.got, "delivery to the good sink")
		if want := "n" + string(rune('0'+i)); n.Alert.ID != want {
			t.Fatalf("good sink got %s, want %s", n.Alert.ID, want)
		}
	}
	if got := counter(t, reg, "ward_notify_dropped_total", "stuck"); got != 7 {
		t.Errorf("dropped{stuck} = %v, want 7", got)
	}
	if got := counter(t, reg, "ward_notify_dropped_total", "good"); got != 0 {
		t.Errorf("dropped{good} = %v, want 0", got)
	}

	// Shutdown: the in-flight n0 is cut at the drain deadline and it and
	// the queued n1, n2 are dead-lettered.
	stop()
	var ids []string
	for range 3 {
		l := recvTimeout(t, dl, "a dead letter")
		if l.sink != "stuck" || !errors.Is(l.err, notify.ErrShutdown) {
			t.Errorf("dead letter %+v, want sink stuck and ErrShutdown", l)
		}
		ids = append(ids, l.id)
	}
	if d := cmp.Diff([]string{"n0", "n1", "n2"}, ids); d != "" {
		t.Errorf("dead letters (-want +got):\n%s", d)
	}
	want := `
# HELP ward_notify_dead_letters_total Dead-letter records written for notifications a sink could not deliver.
# TYPE ward_notify_dead_letters_total counter
ward_notify_dead_letters_total{sink="good"} 0
ward_notify_dead_letters_total{sink="stuck"} 3
# HELP ward_notify_queue_length Notifications waiting in the sink's queue.
# TYPE ward_notify_queue_length gauge
ward_notify_queue_length{sink="good"} 0
ward_notify_queue_length{sink="stuck"} 0
# HELP ward_notify_sent_total Delivery attempts per sink, by result: ok, retried (another attempt follows) or failed (dead-lettered).
# TYPE ward_notify_sent_total counter
ward_notify_sent_total{result="failed",sink="good"} 0
ward_notify_sent_total{result="failed",sink="stuck"} 3
ward_notify_sent_total{result="ok",sink="good"} 10
ward_notify_sent_total{result="ok",sink="stuck"} 0
ward_notify_sent_total{result="retried",sink="good"} 0
ward_notify_sent_total{result="retried",sink="stuck"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"ward_notify_sent_total", "ward_notify_dead_letters_total", "ward_notify_queue_length"); err != nil {
		t.Error(err)
	}
}

// counter returns the value of counter name{sink} in reg.
func counter(t *testing.T, reg *prometheus.Registry, name, sink string) float64 {
	return wardtest.Counter(t, reg, name, "sink", sink)
}

func TestShutdownDrainsQueue(t *testing.T) {
	s := newChanSink("s")
	d, err := notify.New(notify.Options{Routes: []notify.Route{{Sink: s}}, DeadLetters: make(chanDeadLetters, 1)})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		d.Notify(withID(string(rune('a' + i))))
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel() // Run starts already stopping: it must still deliver the queue
	if err := d.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if len(s.got) != 5 {
		t.Fatalf("delivered %d of 5 queued notifications", len(s.got))
	}
	if err := d.Run(ctx); err == nil {
		t.Error("second Run succeeded")
	}
}

func TestFilter(t *testing.T) {
	tests := []struct {
		name   string
		filter notify.Filter
		n      alert.Notification
		want   bool
	}{
		{"zero passes all", notify.Filter{}, sample(), true},
		{"at min severity", notify.Filter{MinSeverity: alert.High}, sample(), true},
		{"below min severity", notify.Filter{MinSeverity: alert.Critical}, sample(), false},
		{"change listed", notify.Filter{Changes: []alert.Change{alert.Raised, alert.Clear}}, sample(), true},
		{"change not listed", notify.Filter{Changes: []alert.Change{alert.Clear}}, sample(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.filter.Match(tt.n); got != tt.want {
				t.Errorf("Match = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNotifyFilters(t *testing.T) {
	crit, all := newChanSink("crit"), newChanSink("all")
	d, err := notify.New(notify.Options{
		Routes: []notify.Route{
			{Sink: crit, Filter: notify.Filter{MinSeverity: alert.Critical}},
			{Sink: all},
		},
		DeadLetters: make(chanDeadLetters, 1),
	})
	if err != nil {
		t.Fatal(err)
	}
	run(t, d)
	high, critical := withID("high"), withID("critical")
	critical.Alert.Severity = alert.Critical
	d.Notify(high)
	d.Notify(critical)
	if got := recvTimeout(t, crit.got, "critical delivery"); got.Alert.ID != "critical" {
		t.Errorf("crit sink got %s, want only critical", got.Alert.ID)
	}
	for _, want := range []string{"high", "critical"} {
		if got := recvTimeout(t, all.got, "delivery"); got.Alert.ID != want {
			t.Errorf("all sink got %s, want %s", got.Alert.ID, want)
		}
	}
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name       string
		retries    int
		fail       func(attempt int) error
		delivered  bool
		wantSleeps []time.Duration
	}{
		{"recovers", 0, func(a int) error {
			if a <= 2 {
				return errors.New("connection refused")
			}
			return nil
		}, true, []time.Duration{1 * time.Second, 2 * time.Second}},
		{"permanent not retried", 0, func(int) error { return notify.Permanent(errors.New("refused")) }, false, nil},
		{"exhausted", 2, func(int) error { return errors.New("down") }, false, []time.Duration{1 * time.Second, 2 * time.Second}},
		{"no retries", -1, func(int) error { return errors.New("down") }, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newChanSink("s")
			s.fail = tt.fail
			dl := make(chanDeadLetters, 1)
			var sl sleeps
			d, err := notify.New(notify.Options{
				Routes:      []notify.Route{{Sink: s, Retries: tt.retries}},
				DeadLetters: dl, Backoff: fixedBackoff, Sleep: sl.Sleep,
			})
			if err != nil {
				t.Fatal(err)
			}
			stop := run(t, d)
			d.Notify(sample())
			if tt.delivered {
				recvTimeout(t, s.got, "delivery")
			} else {
				l := recvTimeout(t, dl, "dead letter")
				if l.sink != "s" || l.id != "a-0001" {
					t.Errorf("dead letter %+v", l)
				}
			}
			stop()
			if d := cmp.Diff(tt.wantSleeps, sl.got()); d != "" {
				t.Errorf("backoff delays (-want +got):\n%s", d)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	dl := make(chanDeadLetters)
	tests := []struct {
		name string
		opts notify.Options
		want string
	}{
		{"no sinks", notify.Options{DeadLetters: dl}, "no sink configured"},
		{"no dead letters", notify.Options{Routes: []notify.Route{{Sink: newChanSink("a")}}}, "dead_letter_dir: required"},
		{"duplicate", notify.Options{DeadLetters: dl, Routes: []notify.Route{{Sink: newChanSink("a")}, {Sink: newChanSink("a")}}},
			`dispatcher sink "a": name: duplicate sink name`},
		{"bad name", notify.Options{DeadLetters: dl, Routes: []notify.Route{{Sink: newChanSink("a b")}}}, `invalid name "a b"`},
		{"bad severity", notify.Options{DeadLetters: dl, Routes: []notify.Route{{Sink: newChanSink("a"), Filter: notify.Filter{MinSeverity: "urgent"}}}},
			`min_severity: unknown severity "urgent" (use low, medium, high or critical)`},
		{"bad change", notify.Options{DeadLetters: dl, Routes: []notify.Route{{Sink: newChanSink("a"), Filter: notify.Filter{Changes: []alert.Change{"opened"}}}}},
			`changes: unknown change "opened"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := notify.New(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New error = %v, want one containing %q", err, tt.want)
			}
			var ce *notify.ConfigError
			if !errors.As(err, &ce) {
				t.Errorf("error %T is not a *ConfigError", err)
			}
		})
	}
}

func TestNotifyCopiesNotification(t *testing.T) {
	s := newChanSink("s")
	d, err := notify.New(notify.Options{Routes: []notify.Route{{Sink: s}}, DeadLetters: make(chanDeadLetters, 1)})
	if err != nil {
		t.Fatal(err)
	}
	n := sample()
	d.Notify(n)
	n.Alert.MITRE[0] = "changed" // the caller reuses its slice
	run(t, d)
	if got := recvTimeout(t, s.got, "delivery"); got.Alert.MITRE[0] != "T0814" {
		t.Errorf("queued notification shares the caller's slice: %v", got.Alert.MITRE)
	}
}

func TestExponentialBackoff(t *testing.T) {
	b := notify.ExponentialBackoff(time.Second, 8*time.Second)
	for attempt, max := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 10: 8 * time.Second} {
		for range 20 {
			if d := b(attempt); d < max/2 || d >= max {
				t.Fatalf("backoff(%d) = %v, want in [%v, %v)", attempt, d, max/2, max)
			}
		}
	}
}
