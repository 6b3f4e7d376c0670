package stream

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	natsbus "github.com/wardproject/ward/internal/bus/nats"
	"github.com/wardproject/ward/internal/wardtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const wait = 10 * time.Second

func newHub(t *testing.T, opts Options) *Hub {
	t.Helper()
	h, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

func ev(i int) Event {
	return Event{Type: Alert, Device: fmt.Sprintf("d-%d", i%3), Severity: "high", Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))}
}

func recv(t *testing.T, s *Subscription) Event {
	t.Helper()
	select {
	case e, ok := <-s.C:
		if !ok {
			t.Fatal("subscription ended")
		}
		return e
	case <-time.After(wait):
		t.Fatal("no event")
	}
	return Event{}
}

func data(es []Event) []string {
	out := []string{}
	for _, e := range es {
		out = append(out, string(e.Data))
	}
	return out
}

// TestSlowSubscriberDropped: a subscriber that takes nothing does not hold
// up Publish nor another subscriber; once its buffer is full it is dropped
// (C closed after the buffered events, Overflowed true) and counted.
func TestSlowSubscriberDropped(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	h := newHub(t, Options{Buffer: 4, Metrics: reg})
	ctx := context.Background()
	slow, err := h.Subscribe(ctx, Request{Principal: "a"})
	if err != nil {
		t.Fatal(err)
	}
	fast, err := h.Subscribe(ctx, Request{Principal: "b"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		h.Publish(ev(i)) // would block forever if a full buffer blocked
		if got := recv(t, fast); string(got.Data) != fmt.Sprintf(`{"n":%d}`, i) {
			t.Fatalf("fast subscriber got %s for event %d", got.Data, i)
		}
	}
	var got []Event
	for e := range slow.C {
		got = append(got, e)
	}
	if diff := cmp.Diff([]string{`{"n":0}`, `{"n":1}`, `{"n":2}`, `{"n":3}`}, data(got)); diff != "" {
		t.Errorf("slow subscriber's buffered events (-want +got):\n%s", diff)
	}
	if !slow.Overflowed() || fast.Overflowed() {
		t.Errorf("overflowed: slow %v, fast %v", slow.Overflowed(), fast.Overflowed())
	}
	if n := testutil.ToFloat64(h.m.dropped); n != 1 {
		t.Errorf("ward_stream_dropped_clients_total = %v, want 1", n)
	}
	if n := testutil.ToFloat64(h.m.clients); n != 1 {
		t.Errorf("ward_stream_clients = %v, want 1", n)
	}
	if n := testutil.ToFloat64(h.m.events.WithLabelValues("alert")); n != 100 {
		t.Errorf("ward_stream_events_total{type=alert} = %v, want 100", n)
	}
}

// TestReplay: Last-Event-ID resumes exactly after the named event, in
// order, through the filter; an unknown, foreign or too old ID resets.
func TestReplay(t *testing.T) {
	h := newHub(t, Options{Replay: 10})
	ctx := context.Background()
	all, _ := h.Subscribe(ctx, Request{})
	var ids []string
	for i := range 15 {
		h.Publish(ev(i))
		ids = append(ids, recv(t, all).ID)
	}
	tests := []struct {
		name   string
		last   string
		filter Filter
		want   []string
		reset  bool
	}{
		{name: "after the 12th", last: ids[11], want: []string{`{"n":12}`, `{"n":13}`, `{"n":14}`}},
		{name: "up to date", last: ids[14], want: nil},
		{name: "oldest kept", last: ids[4], want: data([]Event{ev(5), ev(6), ev(7), ev(8), ev(9), ev(10), ev(11), ev(12), ev(13), ev(14)})},
		{name: "filtered", last: ids[8], filter: Filter{Device: "d-0"}, want: []string{`{"n":9}`, `{"n":12}`}},
		{name: "evicted", last: ids[3], reset: true},
		{name: "other boot", last: "zzzzzz-3", reset: true},
		{name: "future", last: h.boot + "-99", reset: true},
		{name: "garbage", last: "not an id", reset: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := h.Subscribe(ctx, Request{LastEventID: tt.last, Filter: tt.filter})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.Reset != tt.reset {
				t.Errorf("reset = %v, want %v", s.Reset, tt.reset)
			}
			if tt.want == nil {
				tt.want = []string{}
			}
			if diff := cmp.Diff(tt.want, data(s.Replay)); diff != "" {
				t.Errorf("replay (-want +got):\n%s", diff)
			}
		})
	}
	// Replay and live events meet without a gap or a duplicate.
	s, _ := h.Subscribe(ctx, Request{LastEventID: ids[13]})
	h.Publish(ev(15))
	if got := append(data(s.Replay), string(recv(t, s).Data)); !cmp.Equal(got, []string{`{"n":14}`, `{"n":15}`}) {
		t.Errorf("replay then live = %v", got)
	}
}

// TestLimits: the per-principal and total limits refuse with ErrTooMany;
// a closed subscription frees its place.
func TestLimits(t *testing.T) {
	h := newHub(t, Options{MaxClients: 3, MaxPerPrincipal: 2})
	ctx := context.Background()
	a1, err := h.Subscribe(ctx, Request{Principal: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Subscribe(ctx, Request{Principal: "a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Subscribe(ctx, Request{Principal: "a"}); !errors.Is(err, ErrTooMany) {
		t.Fatalf("third stream of one principal: %v, want ErrTooMany", err)
	}
	if _, err := h.Subscribe(ctx, Request{Principal: "b"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Subscribe(ctx, Request{Principal: "c"}); !errors.Is(err, ErrTooMany) {
		t.Fatalf("fourth stream: %v, want ErrTooMany", err)
	}
	a1.Close()
	a1.Close() // idempotent
	if _, err := h.Subscribe(ctx, Request{Principal: "c"}); err != nil {
		t.Fatalf("after a close: %v", err)
	}
}

// TestEndings: a cancelled context, Disconnect of its principal and Close
// each end a subscription without an overflow; Close refuses new ones.
func TestEndings(t *testing.T) {
	h := newHub(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	byCtx, _ := h.Subscribe(ctx, Request{Principal: "x"})
	revoked, _ := h.Subscribe(context.Background(), Request{Principal: "token:t1"})
	other, _ := h.Subscribe(context.Background(), Request{Principal: "token:t2"})
	cancel()
	if n := h.Disconnect("token:t1"); n != 1 {
		t.Errorf("Disconnect ended %d streams, want 1", n)
	}
	for _, s := range []*Subscription{byCtx, revoked} {
		select {
		case _, ok := <-s.C:
			if ok {
				t.Error("event on an ended subscription")
			}
		case <-time.After(wait):
			t.Fatal("subscription not ended")
		}
		if s.Overflowed() {
			t.Error("ended subscription reports an overflow")
		}
	}
	h.Close()
	if _, ok := <-other.C; ok {
		t.Error("Close left a subscription open")
	}
	if _, err := h.Subscribe(context.Background(), Request{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Subscribe after Close: %v, want ErrClosed", err)
	}
	h.Publish(ev(1)) // no panic on closed channels
}

func TestParseFilter(t *testing.T) {
	tests := []struct {
		name    string
		query   string
		want    Filter
		wantErr bool
	}{
		{name: "empty", query: ""},
		{name: "all", query: "types=alert,device&types=event&device=d-1&severity=high,critical",
			want: Filter{Types: []Type{Alert, Device, DeviceEvent}, Device: "d-1", Severities: []string{"high", "critical"}}},
		{name: "duplicates", query: "types=alert,alert", want: Filter{Types: []Type{Alert}}},
		{name: "bad type", query: "types=alerts", wantErr: true},
		{name: "bad severity", query: "severity=urgent", wantErr: true},
		{name: "two devices", query: "device=a&device=b", wantErr: true},
		{name: "empty device", query: "device=", wantErr: true},
		{name: "control in device", query: "device=a%0Ab", wantErr: true},
		{name: "unknown parameter", query: "type=alert", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, _ := url.ParseQuery(tt.query)
			got, err := ParseFilter(q)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" && !tt.wantErr {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestFilterMatch(t *testing.T) {
	alertHigh := Event{Type: Alert, Device: "d1", Severity: "high"}
	dev := Event{Type: Device, Device: "d1"}
	tests := []struct {
		name string
		f    Filter
		e    Event
		want bool
	}{
		{"zero selects all", Filter{}, dev, true},
		{"type", Filter{Types: []Type{Alert}}, dev, false},
		{"device", Filter{Device: "d2"}, alertHigh, false},
		{"severity", Filter{Severities: []string{"low"}}, alertHigh, false},
		{"severity does not apply to devices", Filter{Severities: []string{"low"}}, dev, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f.Match(tt.e); got != tt.want {
				t.Errorf("Match = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestEncoder(t *testing.T) {
	var b bytes.Buffer
	enc := NewEncoder(&b)
	enc.Event("abc-1", Alert, []byte(`{"a":1}`))
	enc.Event("", Reset, []byte("x\ny\r\nz"))
	enc.Event("a\nb", Type("ev\rent"), nil)
	enc.Comment("heart\nbeat")
	want := "id: abc-1\nevent: alert\ndata: {\"a\":1}\n\n" +
		"event: reset\ndata: x\ndata: y\ndata: z\n\n" +
		"id: a b\nevent: ev ent\ndata: \n\n" +
		": heart beat\n\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestCluster: two hubs on one bus see each other's events once, and not
// their own twice; a repeated bus message is dropped by its origin ID.
func TestCluster(t *testing.T) {
	url := wardtest.NATS(t)
	ns := "test_" + rand.Text()[:12]
	t.Cleanup(func() { wardtest.DeleteNATSStream(t, url, ns+"_queues") })
	b, err := natsbus.New(natsbus.Options{URL: url, Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ha, hb := newHub(t, Options{Bus: b}), newHub(t, Options{Bus: b})
	done := make(chan struct{}, 2)
	for _, h := range []*Hub{ha, hb} {
		go func() { h.Run(ctx); done <- struct{}{} }()
	}
	defer func() { cancel(); <-done; <-done }()
	sa, _ := ha.Subscribe(ctx, Request{})
	sb, _ := hb.Subscribe(ctx, Request{})
	ha.Publish(ev(1))
	if e := recv(t, sa); string(e.Data) != `{"n":1}` {
		t.Fatalf("node A got %s", e.Data)
	}
	e := recv(t, sb)
	if string(e.Data) != `{"n":1}` || e.Type != Alert || e.Device != "d-1" || e.Severity != "high" {
		t.Fatalf("node B got %+v", e)
	}
	// The same bus message again (a redelivery) is not shown twice.
	again, _ := json.Marshal(busEvent{Origin: e.origin, Type: Alert, Data: json.RawMessage(`{"n":1}`)})
	b.Publish(ctx, busSubject, again)
	hb.Publish(ev(2)) // a marker after it, from node B
	if e := recv(t, sb); string(e.Data) != `{"n":2}` {
		t.Fatalf("node B got %s after the redelivery, want only the marker", e.Data)
	}
	if e := recv(t, sa); string(e.Data) != `{"n":2}` {
		t.Fatalf("node A got %s, want node B's event", e.Data)
	}
	select {
	case e := <-sa.C:
		t.Fatalf("node A got an extra event %s (its own echoed?)", e.Data)
	default:
	}
}
